/*
 * Exact first-fit heap with a max-tree summary over 4 KiB chunks.
 * The design, the block layout and the contracts are in mm/heap.h.
 *
 * Vocabulary: a block is named by its granule index g (its offset from the
 * arena start in 16-byte granules). Its header word sits in the last 4 bytes
 * before its payload; a free block keeps next/prev links (granule indices,
 * NIL at the ends) at its payload and its size in its last 4 bytes.
 */
#include "mm/heap.h"

#include "lib/panic.h"
#include "lib/string.h"

typedef uint32_t gran_t; /* a block's offset from the arena start, in granules */

enum {
	HDR_USED = 1u,      /* the block is allocated */
	HDR_PREV_FREE = 2u, /* the block before it is free (its footer holds its size) */
	HDR_FLAGS = HEAP_GRANULE - 1,
	LINKS_BYTES = 2 * sizeof(gran_t),
	FOOTER_BYTES = sizeof(uint32_t),
	CHUNK_GRAN_SHIFT = HEAP_CHUNK_SHIFT - 4, /* log2 of granules per chunk */
	MAX_LEVELS = 8,
	HEAP_MAGIC = 0x48656170, /* "Heap" */
};
#define NIL ((gran_t)UINT32_MAX)
#define NO_CHUNK UINT32_MAX

_Static_assert(HEAP_GRANULE == 16, "granule arithmetic assumes 16-byte granules");
_Static_assert(HEAP_MIN_BLOCK >= HEAP_HEADER_SIZE + LINKS_BYTES + FOOTER_BYTES,
	       "a minimal free block must hold its header, links and footer");
_Static_assert((1u << CHUNK_GRAN_SHIFT) <= 256, "chunk_first stores offsets in a byte");
_Static_assert(HEAP_FANOUT <= 32, "group masks are 32-bit");
_Static_assert(HEAP_MAX_ARENA <= ((size_t)1 << 31) - HEAP_GRANULE,
	       "block sizes are compared as int32_t in the tree");

struct heap {
	uint32_t magic;
	gran_t granules;          /* arena length */
	uint8_t *arena;           /* first byte of block 0; arena + HEADER is 16-aligned */
	uint32_t *live_map;       /* bit g: a live (allocated) block starts at granule g */
	uint8_t *chunk_first;     /* per chunk: offset of its first free block (if any) */
	int32_t *level[MAX_LEVELS]; /* level[0][c]: largest free block starting in chunk c */
	uint32_t level_len[MAX_LEVELS]; /* entries per level, a multiple of HEAP_FANOUT */
	uint32_t levels;          /* level[levels - 1] is the root group */
	uint32_t chunks;          /* chunks covering the arena */
	gran_t free_head, free_tail; /* the address-ordered free list */
	size_t free_blocks, used_blocks, used_bytes;
	size_t metadata_bytes;
};

/* ---- block fields ---- */

static inline uint8_t *block_addr(const struct heap *h, gran_t g)
{
	return h->arena + (size_t)g * HEAP_GRANULE;
}

static inline uint32_t *header_word(const struct heap *h, gran_t g)
{
	return (uint32_t *)(block_addr(h, g) + HEAP_HEADER_SIZE - sizeof(uint32_t));
}

static inline uint32_t block_size(const struct heap *h, gran_t g)
{
	return *header_word(h, g) & ~(uint32_t)HDR_FLAGS;
}

static inline bool block_used(const struct heap *h, gran_t g)
{
	return *header_word(h, g) & HDR_USED;
}

static inline gran_t block_end(const struct heap *h, gran_t g)
{
	return g + block_size(h, g) / HEAP_GRANULE;
}

static inline uint8_t *payload(const struct heap *h, gran_t g)
{
	return block_addr(h, g) + HEAP_HEADER_SIZE;
}

static inline gran_t *links(const struct heap *h, gran_t g)
{
	return (gran_t *)payload(h, g); /* [0] next, [1] prev */
}

static inline gran_t next_free(const struct heap *h, gran_t g) { return links(h, g)[0]; }
static inline gran_t prev_free(const struct heap *h, gran_t g) { return links(h, g)[1]; }

/* The footer of the block that ends where g starts: that block's size. */
static inline uint32_t footer_before(const struct heap *h, gran_t g)
{
	return *(uint32_t *)(block_addr(h, g) - FOOTER_BYTES);
}

/* Writes a free block's header (with flags) and footer. */
static inline void set_free_block(struct heap *h, gran_t g, uint32_t size, uint32_t flags)
{
	*header_word(h, g) = size | flags;
	*(uint32_t *)(block_addr(h, g) + size - FOOTER_BYTES) = size;
}

static inline void set_prev_free_flag(struct heap *h, gran_t g, bool on)
{
	if (g >= h->granules)
		return;
	if (on)
		*header_word(h, g) |= HDR_PREV_FREE;
	else
		*header_word(h, g) &= ~(uint32_t)HDR_PREV_FREE;
}

/* ---- the live-block bitmap ---- */

static inline bool live_bit(const struct heap *h, gran_t g)
{
	return h->live_map[g / 32] >> (g % 32) & 1;
}

static inline void set_live_bit(struct heap *h, gran_t g) { h->live_map[g / 32] |= 1u << (g % 32); }
static inline void clear_live_bit(struct heap *h, gran_t g) { h->live_map[g / 32] &= ~(1u << (g % 32)); }

/* ---- the free list (address order) ---- */

/* Points pred's next and succ's prev (or the list ends) at g. */
static inline void link_between(struct heap *h, gran_t pred, gran_t succ, gran_t g)
{
	if (pred == NIL)
		h->free_head = g;
	else
		links(h, pred)[0] = g;
	if (succ == NIL)
		h->free_tail = g;
	else
		links(h, succ)[1] = g;
}

/* Takes the block between pred and succ off the list. */
static inline void unlink_free(struct heap *h, gran_t pred, gran_t succ)
{
	if (pred == NIL)
		h->free_head = succ;
	else
		links(h, pred)[0] = succ;
	if (succ == NIL)
		h->free_tail = pred;
	else
		links(h, succ)[1] = pred;
}

static inline void set_links(struct heap *h, gran_t g, gran_t next, gran_t prev)
{
	links(h, g)[0] = next;
	links(h, g)[1] = prev;
}

/* ---- chunks and the max-tree over them ---- */

static inline uint32_t chunk_of(gran_t g) { return g >> CHUNK_GRAN_SHIFT; }

static inline int32_t chunk_max(const struct heap *h, uint32_t c) { return h->level[0][c]; }

static inline gran_t chunk_first_block(const struct heap *h, uint32_t c)
{
	return ((gran_t)c << CHUNK_GRAN_SHIFT) | h->chunk_first[c];
}

static inline void set_chunk_first(struct heap *h, uint32_t c, gran_t g)
{
	h->chunk_first[c] = (uint8_t)(g & ((1u << CHUNK_GRAN_SHIFT) - 1));
}

/* Bit k set when v[k] >= need, over one group of HEAP_FANOUT entries. */
static inline uint32_t group_mask(const int32_t *v, int32_t need)
{
	uint32_t mask = 0;
	for (uint32_t k = 0; k < HEAP_FANOUT; k++)
		mask |= (uint32_t)(v[k] >= need) << k;
	return mask;
}

static inline int32_t group_max(const int32_t *v)
{
	int32_t m = 0;
	for (uint32_t k = 0; k < HEAP_FANOUT; k++)
		m = v[k] > m ? v[k] : m;
	return m;
}

/* Sets chunk c's largest free block to v and fixes the tree above it. */
static void set_chunk_max(struct heap *h, uint32_t c, int32_t v)
{
	int32_t old = h->level[0][c];
	uint32_t i = c;

	if (old == v)
		return;
	h->level[0][c] = v;
	for (uint32_t l = 1; l < h->levels; l++) {
		uint32_t parent = i / HEAP_FANOUT;
		int32_t cur = h->level[l][parent];
		int32_t nv;
		if (v > cur)
			nv = v; /* grew past the parent */
		else if (old == cur)
			nv = group_max(&h->level[l - 1][parent * HEAP_FANOUT]); /* the max shrank */
		else
			return; /* the parent's max lies elsewhere */
		if (nv == cur)
			return;
		h->level[l][parent] = nv;
		old = cur;
		v = nv;
		i = parent;
	}
}

static inline void raise_chunk_max(struct heap *h, uint32_t c, uint32_t size)
{
	if ((int32_t)size > chunk_max(h, c))
		set_chunk_max(h, c, (int32_t)size);
}

/* The largest free block starting in chunk c, walking its free blocks from g. */
static int32_t scan_chunk_max(const struct heap *h, uint32_t c, gran_t g)
{
	int32_t m = 0;
	for (; g != NIL && chunk_of(g) == c; g = next_free(h, g)) {
		int32_t s = (int32_t)block_size(h, g);
		m = s > m ? s : m;
	}
	return m;
}

/*
 * Free block g (of old size old_size, chunk c) stops being a free block of
 * chunk c; next is the free block after it on the list. Fixes c's first
 * block and maximum. The list must already be relinked around g.
 */
static void chunk_drop(struct heap *h, uint32_t c, gran_t g, gran_t next, uint32_t old_size)
{
	if (chunk_first_block(h, c) == g) {
		if (next == NIL || chunk_of(next) != c) {
			set_chunk_max(h, c, 0);
			return;
		}
		set_chunk_first(h, c, next);
	}
	if ((int32_t)old_size == chunk_max(h, c))
		set_chunk_max(h, c, scan_chunk_max(h, c, chunk_first_block(h, c)));
}

/* Free block g (size bytes) now starts in chunk c: record it as a candidate first. */
static void chunk_add(struct heap *h, uint32_t c, gran_t g, uint32_t size)
{
	if (chunk_max(h, c) == 0 || chunk_first_block(h, c) > g)
		set_chunk_first(h, c, g);
	raise_chunk_max(h, c, size);
}

/* The leftmost chunk whose largest free block is >= need, or NO_CHUNK. */
static inline uint32_t find_first_chunk(const struct heap *h, int32_t need)
{
	uint32_t l = h->levels - 1;
	uint32_t mask = group_mask(h->level[l], need);
	if (mask == 0)
		return NO_CHUNK;
	uint32_t i = (uint32_t)__builtin_ctz(mask);
	while (l > 0) {
		l--;
		i = i * HEAP_FANOUT + (uint32_t)__builtin_ctz(group_mask(&h->level[l][i * HEAP_FANOUT], need));
	}
	return i;
}

/* The leftmost chunk >= c holding any free block, or NO_CHUNK. */
static uint32_t find_nonempty_chunk_from(const struct heap *h, uint32_t c)
{
	uint32_t l = 0, i = c;

	for (;;) {
		if (i >= h->level_len[l])
			return NO_CHUNK;
		uint32_t base = i & ~(HEAP_FANOUT - 1);
		uint32_t mask = group_mask(&h->level[l][base], 1) & (~0u << (i - base));
		if (mask) {
			i = base + (uint32_t)__builtin_ctz(mask);
			break;
		}
		if (l == h->levels - 1)
			return NO_CHUNK;
		i = base / HEAP_FANOUT + 1;
		l++;
	}
	while (l > 0) {
		l--;
		i = i * HEAP_FANOUT + (uint32_t)__builtin_ctz(group_mask(&h->level[l][i * HEAP_FANOUT], 1));
	}
	return i;
}

/* ---- debug: red zones and poison ---- */

#if KHEAP_DEBUG
static inline uint32_t *requested_word(const struct heap *h, gran_t g)
{
	return (uint32_t *)block_addr(h, g);
}

/* The first byte in [lo, hi) that is not c, or NULL. */
static const uint8_t *first_byte_not(const uint8_t *lo, const uint8_t *hi, uint8_t c)
{
	for (; lo < hi; lo++) {
		if (*lo != c)
			return lo;
	}
	return NULL;
}

/* Panics if the poison in [lo, hi), free memory about to be handed out in block g, changed. */
static void debug_check_poison(const struct heap *h, gran_t g, const uint8_t *lo, const uint8_t *hi)
{
	const uint8_t *bad = first_byte_not(lo, hi, HEAP_POISON_BYTE);
	if (bad)
		panic("heap: use after free: freed memory at %p (block %p) was written to",
		      (const void *)bad, (const void *)payload(h, g));
}

static void debug_check_redzone(const struct heap *h, gran_t g)
{
	const uint8_t *p = payload(h, g);
	uint32_t requested = *requested_word(h, g);
	const uint8_t *end = block_addr(h, g) + block_size(h, g);
	const uint8_t *bad = p + requested > end ? p : first_byte_not(p + requested, end, HEAP_REDZONE_BYTE);
	if (bad)
		panic("heap: overflow past block %p (%u bytes requested): red zone changed at %p",
		      (const void *)p, requested, (const void *)bad);
}

/* Records the requested size of live block g and fills the rest of it with red zone. */
static void debug_mark_live(struct heap *h, gran_t g, size_t requested)
{
	*requested_word(h, g) = (uint32_t)requested;
	uint8_t *end = block_addr(h, g) + block_size(h, g);
	memset(payload(h, g) + requested, HEAP_REDZONE_BYTE, (size_t)(end - payload(h, g)) - requested);
}

/* The poisoned part of free block g: all but requested slot, header, links and footer. */
static void free_poison_range(const struct heap *h, gran_t g, uint8_t **lo, uint8_t **hi)
{
	*lo = payload(h, g) + LINKS_BYTES;
	*hi = block_addr(h, g) + block_size(h, g) - FOOTER_BYTES;
}
#endif

/* ---- the core operations ---- */

/* The block size for a request of n bytes, or 0 when n is 0 or too large. */
static inline uint32_t block_size_for(size_t n)
{
	if (n - 1 >= HEAP_MAX_ARENA) /* n == 0 wraps around */
		return 0;
	uint32_t size = ((uint32_t)n + HEAP_HEADER_SIZE + HEAP_REDZONE_MIN + HEAP_GRANULE - 1) &
			~(HEAP_GRANULE - 1);
	return size < HEAP_MIN_BLOCK ? HEAP_MIN_BLOCK : size;
}

/* The lowest-addressed free block of at least need bytes, or NIL. */
static inline gran_t first_fit(const struct heap *h, uint32_t need)
{
	uint32_t c = find_first_chunk(h, (int32_t)need);
	if (c == NO_CHUNK)
		return NIL;
	gran_t g = chunk_first_block(h, c);
	while (block_size(h, g) < need)
		g = next_free(h, g);
	return g;
}

/*
 * Takes need bytes from the front of free block g out of the free
 * structures: the remainder stays a free block in g's place on the list when
 * it is at least HEAP_MIN_BLOCK, else the whole block is taken. Returns the
 * bytes taken. Leaves g's header flags as they were (the caller marks it).
 */
static uint32_t carve_front(struct heap *h, gran_t g, uint32_t need)
{
	uint32_t size = block_size(h, g);
	uint32_t c = chunk_of(g);
	gran_t next = next_free(h, g), prev = prev_free(h, g);

#if KHEAP_DEBUG
	uint8_t *lo, *hi;
	free_poison_range(h, g, &lo, &hi);
	if (size - need >= HEAP_MIN_BLOCK)
		hi = block_addr(h, g) + need;
	debug_check_poison(h, g, lo, hi);
#endif
	if (size - need >= HEAP_MIN_BLOCK) {
		gran_t rest = g + need / HEAP_GRANULE;
		uint32_t rest_size = size - need;
		set_free_block(h, rest, rest_size, 0);
		set_links(h, rest, next, prev);
		link_between(h, prev, next, rest);
		uint32_t rc = chunk_of(rest);
		if (rc == c) {
			if (chunk_first_block(h, c) == g)
				set_chunk_first(h, c, rest);
			if ((int32_t)size == chunk_max(h, c))
				set_chunk_max(h, c, scan_chunk_max(h, c, chunk_first_block(h, c)));
		} else {
			/* g ran to the end of c, so it was c's last free block. */
			chunk_drop(h, c, g, rest, size);
			set_chunk_first(h, rc, rest); /* and nothing free starts in rc before rest */
			raise_chunk_max(h, rc, rest_size);
		}
		return need;
	}
	unlink_free(h, prev, next);
	set_prev_free_flag(h, block_end(h, g), false);
	chunk_drop(h, c, g, next, size);
	h->free_blocks--;
	return size;
}

/* Marks block g (size bytes, flags kept) allocated and returns its payload. */
static inline void *mark_used(struct heap *h, gran_t g, uint32_t size, size_t requested)
{
	*header_word(h, g) = size | HDR_USED | (*header_word(h, g) & HDR_PREV_FREE);
	set_live_bit(h, g);
	h->used_blocks++;
	h->used_bytes += size;
#if KHEAP_DEBUG
	debug_mark_live(h, g, requested);
#else
	(void)requested;
#endif
	return payload(h, g);
}

/* Puts free block g (size bytes, neighbours both used) on the list. */
static void insert_free(struct heap *h, gran_t g, uint32_t size)
{
	uint32_t c = chunk_of(g);
	gran_t pred, succ;

	if (chunk_max(h, c) != 0) {
		gran_t x = chunk_first_block(h, c);
		if (x > g) {
			succ = x;
			pred = prev_free(h, x);
		} else {
			while ((succ = next_free(h, x)) != NIL && succ < g)
				x = succ;
			pred = x;
		}
	} else {
		uint32_t sc = find_nonempty_chunk_from(h, c + 1);
		succ = sc == NO_CHUNK ? NIL : chunk_first_block(h, sc);
		pred = succ == NIL ? h->free_tail : prev_free(h, succ);
	}
	set_links(h, g, succ, pred);
	link_between(h, pred, succ, g);
	chunk_add(h, c, g, size);
	h->free_blocks++;
}

/*
 * Returns live block g to free memory, merging it with free neighbours on
 * both sides at once. The block must have passed validation.
 */
static void release(struct heap *h, gran_t g)
{
	uint32_t word = *header_word(h, g);
	uint32_t size = word & ~(uint32_t)HDR_FLAGS;
	gran_t end = g + size / HEAP_GRANULE;
	bool merge_next = end < h->granules && !block_used(h, end);
	bool merge_prev = word & HDR_PREV_FREE;
	gran_t prev = merge_prev ? g - footer_before(h, g) / HEAP_GRANULE : NIL;
	uint32_t next_size = merge_next ? block_size(h, end) : 0;
	gran_t next_next = merge_next ? next_free(h, end) : NIL;
	gran_t next_prev = merge_next ? prev_free(h, end) : NIL;

	clear_live_bit(h, g);
	h->used_blocks--;
	h->used_bytes -= size;
#if KHEAP_DEBUG
	/* Poison what stops being header, links or footer; the fields are rewritten below. */
	uint8_t *lo = merge_prev ? block_addr(h, g) - FOOTER_BYTES : block_addr(h, g);
	uint8_t *hi = merge_next ? payload(h, end) + LINKS_BYTES : block_addr(h, end);
	memset(lo, HEAP_POISON_BYTE, (size_t)(hi - lo));
#endif

	if (merge_prev) {
		uint32_t total = block_size(h, prev) + size + next_size;
		set_free_block(h, prev, total, 0);
		if (merge_next) {
			unlink_free(h, prev, next_next); /* prev was next's predecessor */
			if (chunk_of(end) != chunk_of(prev))
				chunk_drop(h, chunk_of(end), end, next_next, next_size);
			h->free_blocks--;
		} else {
			set_prev_free_flag(h, end, true);
		}
		raise_chunk_max(h, chunk_of(prev), total);
	} else if (merge_next) {
		uint32_t total = size + next_size;
		set_free_block(h, g, total, 0);
		set_links(h, g, next_next, next_prev);
		link_between(h, next_prev, next_next, g);
		uint32_t c = chunk_of(g), nc = chunk_of(end);
		if (nc != c)
			chunk_drop(h, nc, end, next_next, next_size);
		chunk_add(h, c, g, total); /* g now comes first where next did */
	} else {
		set_free_block(h, g, size, 0);
		set_prev_free_flag(h, end, true);
		insert_free(h, g, size);
	}
}

/* ---- validation of caller pointers ---- */

/* Where granule g lies: inside a live block (returns its start) or in free memory (NIL). */
static gran_t live_block_containing(const struct heap *h, gran_t g)
{
	for (gran_t u = g; u-- > 0;) {
		if (live_bit(h, u))
			return block_end(h, u) > g ? u : NIL;
	}
	return NIL;
}

/* Who hands a pointer in, for the panic messages. */
enum caller { BY_FREE, BY_REALLOC, BY_QUERY };
static const char *const caller_name[] = {
	[BY_FREE] = "kfree", [BY_REALLOC] = "krealloc", [BY_QUERY] = "heap_usable_size",
};

/* The live block whose payload is ptr; panics naming ptr otherwise. */
static gran_t live_block_of(const struct heap *h, const void *ptr, enum caller by)
{
	const char *who = caller_name[by];
	uintptr_t p = (uintptr_t)ptr, first = (uintptr_t)payload(h, 0);
	uintptr_t limit = (uintptr_t)block_addr(h, h->granules);

	if (p < first || p >= limit)
		panic("%s: %p is not a heap pointer", who, ptr);
	if ((p - first) % HEAP_GRANULE != 0)
		panic("%s: %p is misaligned: no heap block starts there", who, ptr);
	gran_t g = (gran_t)((p - first) / HEAP_GRANULE);
	if (live_bit(h, g))
		return g;
	gran_t owner = live_block_containing(h, g);
	if (owner != NIL)
		panic("%s: %p points inside the block at %p", who, ptr, (const void *)payload(h, owner));
	if (by == BY_FREE)
		panic("double free of %p", ptr);
	panic("%s: %p was already freed", who, ptr);
}

/* ---- public API ---- */

struct heap *heap_init(void *base, size_t size)
{
	uintptr_t start = ALIGN_UP((uintptr_t)base, (uintptr_t)_Alignof(struct heap));
	uintptr_t end = (uintptr_t)base + size;
	if (size == 0 || end < (uintptr_t)base || start + sizeof(struct heap) > end)
		return NULL;

	struct heap *h = (struct heap *)start;
	memset(h, 0, sizeof(*h));
	uintptr_t meta = start + sizeof(struct heap);
	size_t max_gran = MIN((size_t)(end - meta), HEAP_MAX_ARENA) / HEAP_GRANULE;

	/* Metadata is sized for the most granules the region could hold. */
	h->chunks = (uint32_t)((max_gran + (1u << CHUNK_GRAN_SHIFT) - 1) >> CHUNK_GRAN_SHIFT);
	if (h->chunks == 0)
		return NULL;
	meta = ALIGN_UP(meta, sizeof(uint32_t));
	h->live_map = (uint32_t *)meta;
	meta += ALIGN_UP(max_gran, 32) / 8;
	uint32_t n = h->chunks;
	for (;;) {
		if (h->levels == MAX_LEVELS)
			return NULL;
		uint32_t len = ALIGN_UP(n, HEAP_FANOUT);
		h->level[h->levels] = (int32_t *)meta;
		h->level_len[h->levels++] = len;
		meta += len * sizeof(int32_t);
		if (len == HEAP_FANOUT)
			break;
		n = len / HEAP_FANOUT;
	}
	h->chunk_first = (uint8_t *)meta;
	meta += h->chunks;
	/* The payload of block 0 must be 16-aligned. */
	uintptr_t arena = ALIGN_UP(meta + HEAP_HEADER_SIZE, HEAP_GRANULE) - HEAP_HEADER_SIZE;
	if (arena >= end || (end - arena) / HEAP_GRANULE * HEAP_GRANULE < HEAP_MIN_BLOCK)
		return NULL;

	h->magic = HEAP_MAGIC;
	h->arena = (uint8_t *)arena;
	h->granules = (gran_t)(MIN((size_t)(end - arena), HEAP_MAX_ARENA) / HEAP_GRANULE);
	h->metadata_bytes = arena - (uintptr_t)base;
	memset((void *)(start + sizeof(struct heap)), 0, (size_t)(arena - start - sizeof(struct heap)));
	h->free_head = h->free_tail = NIL;

	uint32_t size0 = h->granules * HEAP_GRANULE;
#if KHEAP_DEBUG
	memset(h->arena, HEAP_POISON_BYTE, size0);
#endif
	set_free_block(h, 0, size0, 0);
	insert_free(h, 0, size0);
	return h;
}

void *heap_alloc(struct heap *h, size_t n)
{
	uint32_t need = block_size_for(n);
	if (need == 0)
		return NULL;
	gran_t g = first_fit(h, need);
	if (g == NIL)
		return NULL;
	return mark_used(h, g, carve_front(h, g, need), n);
}

void *heap_calloc(struct heap *h, size_t num, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(num, size, &total))
		return NULL;
	void *p = heap_alloc(h, total);
	if (p)
		memset(p, 0, total);
	return p;
}

void *heap_alloc_aligned(struct heap *h, size_t n, size_t align)
{
	if (!IS_POWER_OF_TWO(align))
		return NULL;
	if (align <= HEAP_GRANULE)
		return heap_alloc(h, n);
	uint32_t need = block_size_for(n);
	if (need == 0 || align > HEAP_MAX_ARENA)
		return NULL;
	size_t padded = (size_t)need + align + HEAP_MIN_BLOCK - HEAP_GRANULE;
	if (padded > HEAP_MAX_ARENA)
		return NULL;
	gran_t g = first_fit(h, (uint32_t)padded);
	if (g == NIL)
		return NULL;

	uintptr_t p0 = (uintptr_t)payload(h, g);
	uint32_t gap = (uint32_t)(ALIGN_UP(p0, (uintptr_t)align) - p0);
	if (gap != 0 && gap < HEAP_MIN_BLOCK)
		gap += (uint32_t)align;
	if (gap != 0) {
		/* Keep [g, g + gap) as a free block and carve from a new one right after it. */
		uint32_t size = block_size(h, g);
		gran_t rest = g + gap / HEAP_GRANULE;
		set_free_block(h, g, gap, 0);
		set_free_block(h, rest, size - gap, HDR_PREV_FREE);
		gran_t next = next_free(h, g);
		set_links(h, rest, next, g);
		link_between(h, g, next, rest);
		h->free_blocks++;
		uint32_t c = chunk_of(g), rc = chunk_of(rest);
		if (rc != c) /* g ran past c, so nothing free starts in rc before rest */
			set_chunk_first(h, rc, rest);
		raise_chunk_max(h, rc, size - gap);
		if ((int32_t)size == chunk_max(h, c))
			set_chunk_max(h, c, scan_chunk_max(h, c, chunk_first_block(h, c)));
		g = rest;
	}
	return mark_used(h, g, carve_front(h, g, need), n);
}

/* Frees the tail of live block g beyond its first keep bytes, as a block of its own. */
static void shrink_in_place(struct heap *h, gran_t g, uint32_t keep)
{
	uint32_t size = block_size(h, g);
	if (size - keep < HEAP_MIN_BLOCK)
		return;
	gran_t tail = g + keep / HEAP_GRANULE;
	*header_word(h, g) = keep | (*header_word(h, g) & HDR_FLAGS);
	*header_word(h, tail) = (size - keep) | HDR_USED;
	set_live_bit(h, tail);
	h->used_blocks++;
	release(h, tail);
}

void *heap_realloc(struct heap *h, void *ptr, size_t n)
{
	if (!ptr)
		return heap_alloc(h, n);
	gran_t g = live_block_of(h, ptr, BY_REALLOC);
#if KHEAP_DEBUG
	debug_check_redzone(h, g);
#endif
	if (n == 0) {
		release(h, g);
		return NULL;
	}
	uint32_t need = block_size_for(n);
	if (need == 0)
		return NULL;

	uint32_t size = block_size(h, g);
	gran_t end = block_end(h, g);
	if (need <= size) {
		shrink_in_place(h, g, need);
	} else if (end < h->granules && !block_used(h, end) && size + block_size(h, end) >= need) {
		uint32_t taken = carve_front(h, end, need - size);
		*header_word(h, g) += taken;
		h->used_bytes += taken;
	} else {
		size_t old = heap_usable_size(h, ptr);
		void *q = heap_alloc(h, n);
		if (!q)
			return NULL;
		memcpy(q, ptr, MIN(old, n));
		release(h, g);
		return q;
	}
#if KHEAP_DEBUG
	debug_mark_live(h, g, n);
#endif
	return ptr;
}

void heap_free(struct heap *h, void *ptr)
{
	if (!ptr)
		return;
	gran_t g = live_block_of(h, ptr, BY_FREE);
#if KHEAP_DEBUG
	debug_check_redzone(h, g);
#endif
	release(h, g);
}

size_t heap_usable_size(struct heap *h, void *ptr)
{
	gran_t g = live_block_of(h, ptr, BY_QUERY);
#if KHEAP_DEBUG
	return *requested_word(h, g);
#else
	return block_size(h, g) - HEAP_HEADER_SIZE;
#endif
}

void heap_stats(const struct heap *h, struct heap_stats *out)
{
	int32_t largest = group_max(h->level[h->levels - 1]);
	size_t arena_bytes = (size_t)h->granules * HEAP_GRANULE;

	*out = (struct heap_stats){
		.arena = h->arena,
		.arena_bytes = arena_bytes,
		.metadata_bytes = h->metadata_bytes,
		.used_bytes = h->used_bytes,
		.free_bytes = arena_bytes - h->used_bytes,
		.largest_free = (size_t)largest,
		.largest_request = largest >= (int32_t)HEAP_MIN_BLOCK
					   ? (size_t)largest - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN
					   : 0,
		.used_blocks = h->used_blocks,
		.free_blocks = h->free_blocks,
		.header_bytes = HEAP_HEADER_SIZE,
	};
}

/* ---- checking and dumping ---- */

static size_t popcount_map(const struct heap *h)
{
	size_t n = 0;
	for (size_t i = 0; i < ALIGN_UP((size_t)h->granules, 32) / 32; i++)
		n += (size_t)__builtin_popcount(h->live_map[i]);
	return n;
}

/* Every block in address order: sizes, flags, footers, bitmap, free list, debug bytes. */
static void check_blocks(const struct heap *h)
{
	gran_t g = 0, expect_free = h->free_head, last_free = NIL;
	bool after_free = false;
	size_t used = 0, used_bytes = 0, nfree = 0;

	while (g < h->granules) {
		const void *at = payload(h, g);
		uint32_t word = *header_word(h, g);
		uint32_t size = word & ~(uint32_t)HDR_FLAGS;
		bool used_block = word & HDR_USED;

		if (word & HDR_FLAGS & ~(uint32_t)(HDR_USED | HDR_PREV_FREE))
			panic("heap_check: block %p has unknown header flags (0x%x)", at, word);
		if (size < HEAP_MIN_BLOCK || size / HEAP_GRANULE > h->granules - g)
			panic("heap_check: block %p has a bad size (%u bytes)", at, size);
		if (!!(word & HDR_PREV_FREE) != after_free)
			panic("heap_check: block %p says the block before it is %s, it is %s", at,
			      word & HDR_PREV_FREE ? "free" : "used", after_free ? "free" : "used");
		if (live_bit(h, g) != used_block)
			panic("heap_check: block %p is %s but the live bitmap says %s", at,
			      used_block ? "used" : "free", used_block ? "free" : "live");
		if (used_block) {
			used++;
			used_bytes += size;
#if KHEAP_DEBUG
			debug_check_redzone(h, g);
#endif
		} else {
			if (after_free)
				panic("heap_check: free block %p follows a free block (unmerged)", at);
			if (*(uint32_t *)(block_addr(h, g) + size - FOOTER_BYTES) != size)
				panic("heap_check: free block %p has a footer that disagrees with its size", at);
			if (g != expect_free)
				panic("heap_check: free block %p is not next on the free list", at);
			if (prev_free(h, g) != last_free)
				panic("heap_check: free block %p has a wrong back link", at);
#if KHEAP_DEBUG
			uint8_t *lo, *hi;
			free_poison_range(h, g, &lo, &hi);
			const uint8_t *bad = first_byte_not(lo, hi, HEAP_POISON_BYTE);
			if (bad)
				panic("heap_check: free block %p was written to at %p (use after free)", at,
				      (const void *)bad);
#endif
			last_free = g;
			expect_free = next_free(h, g);
			nfree++;
		}
		after_free = !used_block;
		g += size / HEAP_GRANULE;
	}
	if (expect_free != NIL || h->free_tail != last_free)
		panic("heap_check: the free list does not end at the last free block");
	if (used != h->used_blocks || used_bytes != h->used_bytes || nfree != h->free_blocks)
		panic("heap_check: counters say %zu used (%zu bytes) and %zu free blocks, "
		      "the heap holds %zu (%zu bytes) and %zu",
		      h->used_blocks, h->used_bytes, h->free_blocks, used, used_bytes, nfree);
	if (popcount_map(h) != used)
		panic("heap_check: the live bitmap marks %zu blocks, %zu are live", popcount_map(h), used);
}

/* The chunk table and every level of the tree, against the (checked) free list. */
static void check_summary(const struct heap *h)
{
	gran_t f = h->free_head;

	for (uint32_t c = 0; c < h->level_len[0]; c++) {
		int32_t largest = 0;
		gran_t first = f;
		for (; f != NIL && chunk_of(f) == c; f = next_free(h, f))
			largest = MAX(largest, (int32_t)block_size(h, f));
		if (chunk_max(h, c) != largest)
			panic("heap_check: chunk %u (%p) records a largest free block of %d bytes, "
			      "it holds %d", c, (const void *)block_addr(h, (gran_t)c << CHUNK_GRAN_SHIFT),
			      (int)chunk_max(h, c), (int)largest);
		if (largest && chunk_first_block(h, c) != first)
			panic("heap_check: chunk %u records its first free block at %p, it is %p", c,
			      (const void *)payload(h, chunk_first_block(h, c)), (const void *)payload(h, first));
	}
	for (uint32_t l = 1; l < h->levels; l++) {
		for (uint32_t i = 0; i < h->level_len[l]; i++) {
			int32_t expect = i * HEAP_FANOUT < h->level_len[l - 1]
						 ? group_max(&h->level[l - 1][i * HEAP_FANOUT]) : 0;
			if (h->level[l][i] != expect)
				panic("heap_check: tree level %u entry %u is %d, its children's max is %d",
				      l, i, (int)h->level[l][i], (int)expect);
		}
	}
}

void heap_check(const struct heap *h)
{
	if (h->magic != HEAP_MAGIC)
		panic("heap_check: %p is not a heap (bad magic 0x%x)", (const void *)h, h->magic);
	check_blocks(h);
	check_summary(h);
}

void heap_dump(const struct heap *h)
{
	struct heap_stats st;

	heap_stats(h, &st);
	kprintf("heap %p: arena [%p-%p) %zu bytes, metadata %zu bytes\n", (const void *)h,
		st.arena, (const void *)block_addr(h, h->granules), st.arena_bytes, st.metadata_bytes);
	for (gran_t g = 0; g < h->granules; g += block_size(h, g) / HEAP_GRANULE)
		kprintf("  %p %10u %s\n", (const void *)payload(h, g), block_size(h, g),
			block_used(h, g) ? "used" : "free");
	kprintf("heap %p: %zu used blocks (%zu bytes), %zu free blocks (%zu bytes), "
		"largest free %zu bytes\n", (const void *)h, st.used_blocks, st.used_bytes,
		st.free_blocks, st.free_bytes, st.largest_free);
}
