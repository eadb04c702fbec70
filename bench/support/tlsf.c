/*
 * Two-level segregated fit, for the benchmarks: see bench/support/tlsf.h.
 *
 * A block is named by the address of the word before its size word: that
 * word, prev_phys, belongs to the block before (its last payload word) and
 * is only meaningful while that block is free. So a used block costs one
 * size word, and a free one must hold two list links and the next block's
 * prev_phys in its payload.
 */
#include "bench/support/tlsf.h"

#include <string.h>

#include "lib/types.h"

#define WORD sizeof(size_t)
#define SL_LOG2 5u
#define SL_COUNT (1u << SL_LOG2)
/* log2 of the alignment (a word): 3 on x86-64, 2 on i686. */
#define ALIGN_LOG2 (WORD == 8 ? 3u : 2u)
/* Sizes below SMALL_LIMIT get one class per word; above, 32 classes per power of two. */
#define FL_SHIFT (SL_LOG2 + ALIGN_LOG2)
#define SMALL_LIMIT ((size_t)1 << FL_SHIFT)
#define FL_MAX 30u /* blocks below 1 GiB */
#define FL_COUNT (FL_MAX - FL_SHIFT + 1)

struct blk {
	struct blk *prev_phys;             /* the block before, while it is free */
	size_t size;                       /* payload bytes | BLK_FREE | BLK_PREV_FREE */
	struct blk *next_free, *prev_free; /* while free: the list of its class */
};

#define BLK_FREE ((size_t)1)
#define BLK_PREV_FREE ((size_t)2)
#define BLK_FLAGS (BLK_FREE | BLK_PREV_FREE)
#define PAYLOAD_OFFSET offsetof(struct blk, next_free)
/* A free block's payload holds its links and the next block's prev_phys. */
#define BLK_MIN (sizeof(struct blk) - sizeof(struct blk *))
#define BLK_MAX ((size_t)1 << FL_MAX)

struct tlsf {
	uint32_t fl_map;           /* bit f: some list of first level f is not empty */
	uint32_t sl_map[FL_COUNT]; /* bit s: lists[f][s] is not empty */
	struct blk *lists[FL_COUNT][SL_COUNT];
	struct blk *first;         /* the pool's first block */
	struct blk *sentinel;      /* the zero-sized used block that ends the pool */
};

static inline size_t blk_size(const struct blk *b) { return b->size & ~BLK_FLAGS; }
static inline bool blk_is_free(const struct blk *b) { return b->size & BLK_FREE; }
static inline void *blk_payload(struct blk *b) { return (char *)b + PAYLOAD_OFFSET; }
static inline struct blk *blk_of(void *p) { return (struct blk *)((char *)p - PAYLOAD_OFFSET); }

/* The block right after b: its size word follows b's payload. */
static inline struct blk *blk_next(const struct blk *b)
{
	return (struct blk *)((char *)b + PAYLOAD_OFFSET + blk_size(b) - WORD);
}

static inline unsigned last_bit(size_t x) { return (unsigned)(WORD * 8 - 1) - (unsigned)__builtin_clzl(x); }
static inline unsigned first_bit(uint32_t x) { return (unsigned)__builtin_ctz(x); }

/* The class holding free blocks of size bytes. */
static inline void class_of(size_t size, unsigned *fl, unsigned *sl)
{
	if (size < SMALL_LIMIT) {
		*fl = 0;
		*sl = (unsigned)(size >> ALIGN_LOG2);
		return;
	}
	unsigned f = last_bit(size);
	*sl = (unsigned)(size >> (f - SL_LOG2)) ^ SL_COUNT;
	*fl = f - (FL_SHIFT - 1);
}

/* The first class all of whose blocks hold size bytes: good fit, not best fit. */
static inline void class_for_request(size_t size, unsigned *fl, unsigned *sl)
{
	if (size >= SMALL_LIMIT)
		size += ((size_t)1 << (last_bit(size) - SL_LOG2)) - 1;
	class_of(size, fl, sl);
}

static void list_insert(struct tlsf *t, struct blk *b)
{
	unsigned fl, sl;
	class_of(blk_size(b), &fl, &sl);
	struct blk *head = t->lists[fl][sl];
	b->next_free = head;
	b->prev_free = NULL;
	if (head)
		head->prev_free = b;
	t->lists[fl][sl] = b;
	t->sl_map[fl] |= 1u << sl;
	t->fl_map |= 1u << fl;
}

static void list_remove_from(struct tlsf *t, struct blk *b, unsigned fl, unsigned sl)
{
	struct blk *prev = b->prev_free, *next = b->next_free;
	if (next)
		next->prev_free = prev;
	if (prev) {
		prev->next_free = next;
		return;
	}
	t->lists[fl][sl] = next;
	if (!next) {
		t->sl_map[fl] &= ~(1u << sl);
		if (!t->sl_map[fl])
			t->fl_map &= ~(1u << fl);
	}
}

static void list_remove(struct tlsf *t, struct blk *b)
{
	unsigned fl, sl;
	class_of(blk_size(b), &fl, &sl);
	list_remove_from(t, b, fl, sl);
}

struct tlsf *tlsf_init(void *base, size_t size)
{
	uintptr_t start = ALIGN_UP((uintptr_t)base, WORD);
	uintptr_t end = ALIGN_DOWN((uintptr_t)base + size, WORD);
	uintptr_t pool = start + sizeof(struct tlsf); /* a multiple of WORD */
	if (end < pool || end - pool < 2 * WORD + BLK_MIN || end - pool >= BLK_MAX)
		return NULL;

	struct tlsf *t = (struct tlsf *)start;
	memset(t, 0, sizeof(*t));
	/* The first block's size word opens the pool; its prev_phys is never read. */
	struct blk *b = (struct blk *)(pool - WORD);
	b->size = (end - pool - 2 * WORD) | BLK_FREE;
	struct blk *s = blk_next(b);
	s->size = BLK_PREV_FREE; /* size 0, used: merges never run past it */
	s->prev_phys = b;
	t->first = b;
	t->sentinel = s;
	list_insert(t, b);
	return t;
}

void *tlsf_alloc(struct tlsf *t, size_t n)
{
	if (n == 0 || n > BLK_MAX / 2)
		return NULL;
	size_t size = MAX(ALIGN_UP(n, WORD), BLK_MIN);

	unsigned fl, sl;
	class_for_request(size, &fl, &sl);
	if (fl >= FL_COUNT)
		return NULL;
	uint32_t sl_map = t->sl_map[fl] & (~0u << sl);
	if (!sl_map) {
		uint32_t fl_map = t->fl_map & (~0u << (fl + 1));
		if (!fl_map)
			return NULL;
		fl = first_bit(fl_map);
		sl_map = t->sl_map[fl];
	}
	sl = first_bit(sl_map);
	struct blk *b = t->lists[fl][sl];
	list_remove_from(t, b, fl, sl);

	size_t have = blk_size(b);
	if (have >= size + sizeof(struct blk)) { /* the rest makes a block of BLK_MIN or more */
		b->size = size | (b->size & BLK_PREV_FREE);
		struct blk *rest = blk_next(b);
		rest->size = (have - size - WORD) | BLK_FREE;
		blk_next(rest)->prev_phys = rest; /* its BLK_PREV_FREE is already set */
		list_insert(t, rest);
	} else {
		b->size &= ~BLK_FREE;
		blk_next(b)->size &= ~BLK_PREV_FREE;
	}
	return blk_payload(b);
}

void tlsf_free(struct tlsf *t, void *p)
{
	if (!p)
		return;
	struct blk *b = blk_of(p);
	b->size |= BLK_FREE;
	if (b->size & BLK_PREV_FREE) {
		struct blk *prev = b->prev_phys;
		list_remove(t, prev);
		prev->size += blk_size(b) + WORD;
		b = prev;
	}
	struct blk *next = blk_next(b);
	if (blk_is_free(next)) {
		list_remove(t, next);
		b->size += blk_size(next) + WORD;
		next = blk_next(b);
	}
	next->prev_phys = b;
	next->size |= BLK_PREV_FREE;
	list_insert(t, b);
}

/* Whether b is on the list of its class. */
static bool on_its_list(const struct tlsf *t, const struct blk *b)
{
	unsigned fl, sl;
	class_of(blk_size(b), &fl, &sl);
	for (const struct blk *x = t->lists[fl][sl]; x; x = x->next_free) {
		if (x == b)
			return true;
	}
	return false;
}

const char *tlsf_check(const struct tlsf *t, size_t *used_out)
{
	size_t free_blocks = 0, used = 0;
	bool prev_free = false;
	const struct blk *b = t->first;

	for (; b != t->sentinel; b = blk_next(b)) {
		if ((uintptr_t)b > (uintptr_t)t->sentinel)
			return "a block runs past the pool's end";
		if (blk_size(b) < BLK_MIN || blk_size(b) % WORD)
			return "a block's size is below the minimum or not a whole number of words";
		if (((b->size & BLK_PREV_FREE) != 0) != prev_free)
			return "a block's prev-free flag is wrong";
		if (prev_free && blk_is_free(b))
			return "two free blocks touch";
		if (blk_is_free(b)) {
			free_blocks++;
			if (blk_next(b)->prev_phys != b)
				return "a free block's successor does not point back at it";
			if (!on_its_list(t, b))
				return "a free block is not on the list of its class";
		} else {
			used++;
		}
		prev_free = blk_is_free(b);
	}
	if (blk_size(b) != 0 || blk_is_free(b) || ((b->size & BLK_PREV_FREE) != 0) != prev_free)
		return "the sentinel is damaged";

	size_t listed = 0;
	for (unsigned fl = 0; fl < FL_COUNT; fl++) {
		if (((t->fl_map >> fl) & 1) != (t->sl_map[fl] != 0))
			return "the first-level bitmap disagrees with the second";
		for (unsigned sl = 0; sl < SL_COUNT; sl++) {
			if (((t->sl_map[fl] >> sl) & 1) != (t->lists[fl][sl] != NULL))
				return "a second-level bit disagrees with its list";
			const struct blk *prev = NULL;
			for (const struct blk *x = t->lists[fl][sl]; x; prev = x, x = x->next_free) {
				unsigned f, s;
				class_of(blk_size(x), &f, &s);
				if (!blk_is_free(x) || f != fl || s != sl || x->prev_free != prev)
					return "a list holds a used block, a block of another class, or a bad link";
				if (++listed > free_blocks)
					return "the lists hold more blocks than the pool has free";
			}
		}
	}
	if (listed != free_blocks)
		return "a free block is on no list";
	if (used_out)
		*used_out = used;
	return NULL;
}
