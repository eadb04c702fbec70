/*
 * Exact first-fit heap whose block boundaries live only in its metadata:
 * per-chunk bitmaps of free and live block starts, a summary over them, and
 * a max-tree over the chunks' largest free blocks. The design, the layout
 * and the contracts are in mm/heap.h and mm/heap_internal.h.
 *
 * Vocabulary: a block is named by its granule g (its offset from the arena
 * in 16-byte granules), sizes are in granules unless a name says bytes. A
 * "mark" is a set bit in either map: a block start, or the sentinel at
 * h->granules that bounds the last block.
 */
#include "mm/heap_internal.h"

#include "lib/panic.h"
#include "lib/string.h"

/*
 * Host builds search the tree with SSE2; the kernel (no vector registers)
 * uses machine words. tests/host/test_heap.c builds this file a second time
 * with __SSE2__ hidden and runs both in lockstep.
 */
#if defined(__SSE2__)
#define HEAP_VECTOR 1
#include <emmintrin.h>
#else
#define HEAP_VECTOR 0
#endif

typedef uint32_t gran_t; /* a granule index, or a size in granules */

enum {
	HEAP_MAGIC = 0x48656170, /* "Heap" */
	MIN_GRANULES = HEAP_MIN_BLOCK / HEAP_GRANULE,
	/*
	 * The sentinel at h->granules must fit the maps sized for HEAP_MAX_ARENA,
	 * so an arena holds one granule less than that.
	 */
	MAX_GRANULES = (uint32_t)(HEAP_MAX_ARENA / HEAP_GRANULE) - 1,
};
#define NIL ((gran_t)UINT32_MAX)
/* For the few helpers the hot paths must not call: a call there costs more than the helper. */
#define HOT_INLINE inline __attribute__((always_inline))
#define NO_CHUNK UINT32_MAX

_Static_assert(HEAP_GRANULE == 16, "granule arithmetic assumes 16-byte granules");
_Static_assert(HEAP_CHUNK_BYTES == HEAP_CHUNK_GRANULES * HEAP_GRANULE, "a chunk is one map word");
_Static_assert(HEAP_MIN_BLOCK % HEAP_GRANULE == 0 && MIN_GRANULES >= 1, "whole granules");
_Static_assert(HEAP_HEADER_SIZE % 8 == 0 && HEAP_HEADER_SIZE < HEAP_GRANULE,
	       "the payload must be 16-aligned in a block that starts 16-aligned minus the header");
_Static_assert(HEAP_LEAF_FANOUT % 16 == 0 && HEAP_LEAF_FANOUT <= 64 && HEAP_TREE_FANOUT % 16 == 0 &&
		       HEAP_TREE_FANOUT <= 64, "group searches build one 64-bit mask from 16-entry pieces");
_Static_assert(HEAP_MAX_ARENA <= ((size_t)1 << 30), "the layout's level counts assume 1 GiB");

/* ---- granules, chunks and marks ---- */

static inline uint32_t chunk_of(gran_t g) { return g >> HEAP_CHUNK_SHIFT; }
static inline gran_t chunk_base(uint32_t c) { return c << HEAP_CHUNK_SHIFT; }
/*
 * On i686 these 64-bit shifts and scans become short instruction pairs; a
 * table of masks and scans split by hand were slower there (small-1000
 * 45.7 -> 47.6 ns/op), so both targets share this code. Also measured on
 * i686 and rejected: 32-bit map and summary words (512-byte chunks, so 3
 * MiB needs a second level above the leaves), small-1000 / uniform-1000 /
 * small-4000 45.9 / 68.4 / 56.6 -> 44.5 / 66.9 / 55.9 ns/op, within the
 * noise for a second layout; with 128 leaves per group to keep one level,
 * 42.0 / 80.2 / 60.1 (a group's maximum costs twice as much).
 */
static inline uint64_t bit_of(uint32_t i) { return (uint64_t)1 << (i & 63); }
/* The bits of a word strictly above / below bit i. */
static inline uint64_t bits_above(uint32_t i) { return ~(uint64_t)0 << (i & 63) << 1; }
static inline uint64_t bits_below(uint32_t i) { return bit_of(i) - 1; }
/* All ones when b, else 0: selects without a branch the CPU could mispredict. */
static inline uint64_t mask_if(bool b) { return -(uint64_t)b; }
static inline uint32_t lowest(uint64_t w) { return (uint32_t)__builtin_ctzll(w); }
static inline uint32_t highest(uint64_t w) { return 63 - (uint32_t)__builtin_clzll(w); }

static inline uint8_t *block_addr(const struct heap *h, gran_t g)
{
	return h->arena + (size_t)g * HEAP_GRANULE;
}

static inline uint8_t *payload(const struct heap *h, gran_t g)
{
	return block_addr(h, g) + HEAP_HEADER_SIZE;
}

static inline uint64_t marks(const struct heap *h, uint32_t c)
{
	return h->map[c].free | h->map[c].live;
}

static inline bool is_free_start(const struct heap *h, gran_t g)
{
	return h->map[chunk_of(g)].free & bit_of(g);
}

static inline bool is_live_start(const struct heap *h, gran_t g)
{
	return h->map[chunk_of(g)].live & bit_of(g);
}

/* ---- the summary: which chunks hold a mark ---- */

/* Chunk c just gained a mark. */
static inline void summary_add(struct heap *h, uint32_t c)
{
	for (uint32_t l = 0; l < h->summary_levels; l++, c >>= HEAP_WORD_SHIFT) {
		uint64_t *w = &h->summary[l][c >> HEAP_WORD_SHIFT];
		if (*w & bit_of(c))
			return; /* the levels above already know */
		*w |= bit_of(c);
	}
}

/* Chunk c lost a mark: if it holds none now, the summary forgets it. */
static inline void summary_drop_if_empty(struct heap *h, uint32_t c)
{
	if (marks(h, c))
		return;
	for (uint32_t l = 0; l < h->summary_levels; l++, c >>= HEAP_WORD_SHIFT) {
		uint64_t *w = &h->summary[l][c >> HEAP_WORD_SHIFT];
		*w &= ~bit_of(c);
		if (*w)
			return;
	}
}

/*
 * The first chunk at or after c that holds a mark. One always does: the
 * sentinel's chunk is the last one (callers never pass a c beyond it).
 */
__attribute__((noinline))
static uint32_t next_marked_chunk_far(const struct heap *h, uint32_t c)
{
	uint32_t l = 0;
	uint64_t w;

	/* Up: the first level whose word at or after the position has a bit. */
	while ((w = h->summary[l][c >> HEAP_WORD_SHIFT] & ~bits_below(c)) == 0) {
		c = (c >> HEAP_WORD_SHIFT) + 1;
		l++;
	}
	c = (c & ~(uint32_t)63) + lowest(w);
	/* Down: the lowest set bit of each word below. */
	while (l-- > 0)
		c = (c << HEAP_WORD_SHIFT) + lowest(h->summary[l][c]);
	return c;
}

/* The last chunk at or before c that holds a mark. Chunk 0 always does (block 0). */
__attribute__((noinline))
static uint32_t prev_marked_chunk_far(const struct heap *h, uint32_t c)
{
	uint32_t l = 0;
	uint64_t w;

	while ((w = h->summary[l][c >> HEAP_WORD_SHIFT] & (bits_below(c) | bit_of(c))) == 0) {
		c = (c >> HEAP_WORD_SHIFT) - 1;
		l++;
	}
	c = (c & ~(uint32_t)63) + highest(w);
	while (l-- > 0)
		c = (c << HEAP_WORD_SHIFT) + highest(h->summary[l][c]);
	return c;
}

/* next_marked_chunk_far() with its first step inline: most blocks end within 64 chunks. */
static inline uint32_t next_marked_chunk(const struct heap *h, uint32_t c)
{
	uint64_t w = h->summary[0][c >> HEAP_WORD_SHIFT] & ~bits_below(c);
	if (__builtin_expect(w != 0, 1))
		return (c & ~(uint32_t)63) + lowest(w);
	return next_marked_chunk_far(h, c);
}

static inline uint32_t prev_marked_chunk(const struct heap *h, uint32_t c)
{
	uint64_t w = h->summary[0][c >> HEAP_WORD_SHIFT] & (bits_below(c) | bit_of(c));
	if (__builtin_expect(w != 0, 1))
		return (c & ~(uint32_t)63) + highest(w);
	return prev_marked_chunk_far(h, c);
}

/* The first mark after granule g (< h->granules): where the block at g ends. */
static inline gran_t next_mark(const struct heap *h, gran_t g)
{
	uint32_t c = chunk_of(g);
	uint64_t w = marks(h, c) & bits_above(g);
	if (w == 0) { /* the sentinel's chunk is the last: some chunk after c has a mark */
		c = next_marked_chunk(h, c + 1);
		w = marks(h, c);
	}
	return chunk_base(c) + lowest(w);
}

/* The last mark before granule g (> 0): where the block before g starts. */
static inline gran_t prev_mark(const struct heap *h, gran_t g)
{
	uint32_t c = chunk_of(g);
	uint64_t w = marks(h, c) & bits_below(g);
	if (w == 0) { /* chunk 0 holds block 0's mark: some chunk before c has one */
		c = prev_marked_chunk(h, c - 1);
		w = marks(h, c);
	}
	return chunk_base(c) + highest(w);
}

/* ---- the max-tree over chunks ---- */

/*
 * Leaves are 16 bits: a chunk's largest free block in granules, saturated at
 * LEAF_SAT (512 KiB). Only a block that runs out of its chunk can be that
 * large, and a chunk holds one such block at most (its last), so a
 * saturated leaf stands for that one block, whose exact size the maps give
 * (leaf_exact()). Such a block covers the rest of its group of leaves, so a
 * group holds one saturated leaf at most. The levels above hold exact 32-bit
 * maxima, so a search is exact: a level-1 entry >= need >= LEAF_SAT names a
 * group whose one saturated leaf is the fit.
 */
#define LEAF_SAT INT16_MAX
_Static_assert((size_t)HEAP_LEAF_FANOUT * HEAP_CHUNK_GRANULES < LEAF_SAT,
	       "a block of LEAF_SAT granules or more covers the rest of its leaf group: one per group");

static inline int16_t leaf_value(gran_t size)
{
	return size < LEAF_SAT ? (int16_t)size : LEAF_SAT;
}

/*
 * Group searches and maxima. With SSE2 (host builds) 8 leaves or 4 entries
 * are compared at once and a 16-bit mask per 16 entries comes out; the
 * kernel (no SSE) compares a machine word of them at once (below).
 */
#if HEAP_VECTOR
/* Bit k set when v[k] >= need, for 16 entries; n holds need - 1 in every lane. */
static inline uint32_t ge_mask16_i32(const int32_t *v, __m128i n)
{
	const __m128i *p = (const __m128i *)v;
	__m128i ab = _mm_packs_epi32(_mm_cmpgt_epi32(_mm_load_si128(p), n),
				     _mm_cmpgt_epi32(_mm_load_si128(p + 1), n));
	__m128i cd = _mm_packs_epi32(_mm_cmpgt_epi32(_mm_load_si128(p + 2), n),
				     _mm_cmpgt_epi32(_mm_load_si128(p + 3), n));
	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(ab, cd));
}

static inline uint32_t ge_mask16_i16(const int16_t *v, __m128i n)
{
	const __m128i *p = (const __m128i *)v;
	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(_mm_cmpgt_epi16(_mm_load_si128(p), n),
							   _mm_cmpgt_epi16(_mm_load_si128(p + 1), n)));
}

static inline __m128i max_epi32(__m128i a, __m128i b)
{
	__m128i a_greater = _mm_cmpgt_epi32(a, b);
	return _mm_or_si128(_mm_and_si128(a_greater, a), _mm_andnot_si128(a_greater, b));
}
#endif

#if !HEAP_VECTOR
/*
 * Without vector registers (the kernel) the groups are searched a machine
 * word at a time: 16-bit leaves or 32-bit entries side by side in an
 * unsigned long. Every value is below its lane's top bit, so setting that
 * bit and subtracting need in every lane cannot borrow across lanes, and
 * the top bit survives exactly where the value is >= need.
 */
typedef unsigned long lanes_t;
#define LANES_16 (sizeof(lanes_t) / 2)
#define LANES_32 (sizeof(lanes_t) / 4)
static const lanes_t lane16_one = (lanes_t)0x0001000100010001ull;
static const lanes_t lane16_top = (lanes_t)0x8000800080008000ull;
static const lanes_t lane32_one = (lanes_t)0x0000000100000001ull;
static const lanes_t lane32_top = (lanes_t)0x8000000080000000ull;

static inline lanes_t load_lanes(const void *p)
{
	lanes_t w;
	__builtin_memcpy(&w, p, sizeof(w)); /* one load, even under -fno-builtin */
	return w;
}

static inline uint32_t lowest_lane_bit(lanes_t m)
{
	return sizeof(lanes_t) == 8 ? lowest((uint64_t)m) : (uint32_t)__builtin_ctzl(m);
}

/* Top bit of each lane set where a >= b; lanes of `width` bits, values below the top bit. */
static inline lanes_t lanes_ge(lanes_t a, lanes_t b, lanes_t top)
{
	return ((a | top) - b) & top;
}

/* The lane-wise maximum of a and b. */
static inline lanes_t lanes_max(lanes_t a, lanes_t b, lanes_t top, unsigned width)
{
	lanes_t ge = lanes_ge(a, b, top);
	lanes_t pick_a = (ge - (ge >> (width - 1))) | ge; /* the whole lane where a >= b */
	return (a & pick_a) | (b & ~pick_a);
}

/*
 * The largest lane of words [0, n) at v (n a multiple of 4), in its lowest
 * lane: four chains run side by side (one would wait on every step), then
 * the word folds onto itself.
 */
static inline lanes_t max_of_lanes(const void *v, uint32_t n, lanes_t top, unsigned width)
{
	const uint8_t *p = v;
	lanes_t a = 0, b = 0, c = 0, d = 0;
	for (uint32_t k = 0; k < n; k += 4, p += 4 * sizeof(lanes_t)) {
		a = lanes_max(a, load_lanes(p), top, width);
		b = lanes_max(b, load_lanes(p + sizeof(lanes_t)), top, width);
		c = lanes_max(c, load_lanes(p + 2 * sizeof(lanes_t)), top, width);
		d = lanes_max(d, load_lanes(p + 3 * sizeof(lanes_t)), top, width);
	}
	lanes_t m = lanes_max(lanes_max(a, b, top, width), lanes_max(c, d, top, width), top, width);
	for (unsigned shift = sizeof(lanes_t) * 8 / 2; shift >= width; shift /= 2)
		m = lanes_max(m, m >> shift, top, width);
	return m;
}
#endif

/* The index of the first of HEAP_TREE_FANOUT entries that is >= need, or NO_CHUNK. */
static inline uint32_t tree_group_first(const int32_t *v, int32_t need)
{
#if HEAP_VECTOR
	__m128i n = _mm_set1_epi32(need - 1);
	uint64_t m = 0;
	for (uint32_t k = 0; k < HEAP_TREE_FANOUT; k += 16)
		m |= (uint64_t)ge_mask16_i32(v + k, n) << k;
	return m ? lowest(m) : NO_CHUNK;
#else
	lanes_t n = lane32_one * (uint32_t)need;
	for (uint32_t k = 0; k < HEAP_TREE_FANOUT; k += LANES_32) {
		lanes_t m = lanes_ge(load_lanes(v + k), n, lane32_top);
		if (m)
			return k + lowest_lane_bit(m) / 32;
	}
	return NO_CHUNK;
#endif
}

/* The same over HEAP_LEAF_FANOUT leaves, one of which is known to be >= need (<= LEAF_SAT). */
static inline uint32_t leaf_group_first(const int16_t *v, int16_t need)
{
#if HEAP_VECTOR
	__m128i n = _mm_set1_epi16((int16_t)(need - 1));
	uint64_t m = 0;
	for (uint32_t k = 0; k < HEAP_LEAF_FANOUT; k += 16)
		m |= (uint64_t)ge_mask16_i16(v + k, n) << k;
	return lowest(m);
#else
	lanes_t n = lane16_one * (uint16_t)need;
	uint32_t k = 0;
	lanes_t m;
	while ((m = lanes_ge(load_lanes(v + k), n, lane16_top)) == 0)
		k += LANES_16;
	return k + lowest_lane_bit(m) / 16;
#endif
}

/* The largest of HEAP_TREE_FANOUT entries. */
static inline int32_t tree_group_max(const int32_t *v)
{
#if HEAP_VECTOR
	const __m128i *p = (const __m128i *)v;
	__m128i m = _mm_load_si128(p);
	for (uint32_t k = 1; k < HEAP_TREE_FANOUT / 4; k++)
		m = max_epi32(m, _mm_load_si128(p + k));
	m = max_epi32(m, _mm_shuffle_epi32(m, 0x4e)); /* swap the 64-bit halves */
	m = max_epi32(m, _mm_shuffle_epi32(m, 0xb1)); /* swap neighbours */
	return _mm_cvtsi128_si32(m);
#else
	return (int32_t)(uint32_t)max_of_lanes(v, HEAP_TREE_FANOUT / LANES_32, lane32_top, 32);
#endif
}

/* The largest of HEAP_LEAF_FANOUT leaves. */
static inline int16_t leaf_group_max(const int16_t *v)
{
#if HEAP_VECTOR
	const __m128i *p = (const __m128i *)v;
	__m128i m = _mm_load_si128(p);
	for (uint32_t k = 1; k < HEAP_LEAF_FANOUT / 8; k++)
		m = _mm_max_epi16(m, _mm_load_si128(p + k));
	m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0x4e));   /* swap the 64-bit halves */
	m = _mm_max_epi16(m, _mm_shuffle_epi32(m, 0xb1));   /* swap 32-bit neighbours */
	m = _mm_max_epi16(m, _mm_shufflelo_epi16(m, 0xb1)); /* swap 16-bit neighbours */
	return (int16_t)_mm_cvtsi128_si32(m);
#else
	return (int16_t)(uint16_t)max_of_lanes(v, HEAP_LEAF_FANOUT / LANES_16, lane16_top, 16);
#endif
}

/* The exact size of the largest free block starting in chunk c, whose leaf is up to date. */
static inline gran_t leaf_exact(const struct heap *h, uint32_t c)
{
	gran_t v = (gran_t)h->leaves[c];
	if (__builtin_expect(v == LEAF_SAT, 0)) {
		gran_t g = chunk_base(c) + highest(h->map[c].free); /* the block running out of c */
		return next_mark(h, g) - g;
	}
	return v;
}

/* The exact largest free block starting in the chunks of leaf group j. */
static gran_t leaf_group_max_exact(const struct heap *h, uint32_t j)
{
	const int16_t *v = &h->leaves[j * HEAP_LEAF_FANOUT];
	gran_t m = (gran_t)leaf_group_max(v);
	if (__builtin_expect(m == LEAF_SAT, 0)) {
		for (uint32_t k = 0; k < HEAP_LEAF_FANOUT; k++) {
			if (v[k] == LEAF_SAT)
				m = MAX(m, leaf_exact(h, j * HEAP_LEAF_FANOUT + k));
		}
	}
	return m;
}

/*
 * Chunk c now holds a free block of v granules: raise its leaf and its
 * ancestors to at least v. The walk always goes to the top: stopping at the
 * first entry already >= v would cost a branch the CPU mispredicts about
 * every other time.
 */
static inline void raise_leaf(struct heap *h, uint32_t c, gran_t v)
{
	int16_t *lf = &h->leaves[c];
	int16_t lv = leaf_value(v);
	*lf = *lf > lv ? *lf : lv;
	uint32_t i = c / HEAP_LEAF_FANOUT;
	int32_t *e = &h->tree[1][i];
	*e = *e > (int32_t)v ? *e : (int32_t)v;
	/* Arenas up to 4 MiB have no more levels: the loop's test is always predicted. */
	for (uint32_t l = 2; l < h->tree_levels; l++) {
		i /= HEAP_TREE_FANOUT;
		e = &h->tree[l][i];
		*e = *e > (int32_t)v ? *e : (int32_t)v;
	}
}

/*
 * lower_leaf() once level 1 must change: recomputes it and the levels above
 * that depended on it. Out of line on purpose: inlined, 27.9 / 33.3 -> 28.9
 * / 33.9 ns/op on small-1000 / small-4000. Also rejected: first asking
 * whether another leaf of the group still holds cur (then nothing changes),
 * 29.3 / 37.5 -> 30.6 / 38.5 on small-1000 / uniform-1000: the max mostly
 * does change, and the test comes on top.
 */
__attribute__((noinline))
static void lower_groups(struct heap *h, uint32_t c, gran_t v)
{
	uint32_t i = c / HEAP_LEAF_FANOUT;
	int32_t cur = h->tree[1][i];
	/* A group holds one saturated leaf at most: if c's still is, it is the group's max. */
	int32_t nv = v >= LEAF_SAT ? (int32_t)v : (int32_t)leaf_group_max_exact(h, i);

	if (nv == cur)
		return;
	h->tree[1][i] = nv;
	for (uint32_t l = 2; l < h->tree_levels; l++) {
		uint32_t parent = i / HEAP_TREE_FANOUT;
		int32_t above = h->tree[l][parent];
		if (above != cur)
			return; /* the max of that group lies elsewhere */
		nv = tree_group_max(&h->tree[l - 1][parent * HEAP_TREE_FANOUT]);
		if (nv == above)
			return;
		h->tree[l][parent] = nv;
		cur = above;
		i = parent;
	}
}

/*
 * Chunk c's largest free block, old granules, is gone; its largest is now v.
 * Sets its leaf, and every ancestor that old was the max of.
 */
static inline void lower_leaf(struct heap *h, uint32_t c, gran_t v, gran_t old)
{
	h->leaves[c] = leaf_value(v);
	if (h->tree[1][c / HEAP_LEAF_FANOUT] == (int32_t)old)
		lower_groups(h, c, v);
}

/*
 * The size of free block g, which starts in chunk c and whose end lies past
 * the chunk, while c's leaf is up to date. A chunk holds at most one such
 * block (its last). Blocks that end inside the chunk are shorter than a
 * chunk, so a leaf of a chunk or more is this block's size; a smaller leaf
 * bounds it too, and then it ends in the next chunk, at that chunk's first
 * mark. Either way the summary is rarely needed.
 */
static inline gran_t crossing_free_size(const struct heap *h, uint32_t c, gran_t g)
{
	if (h->leaves[c] >= HEAP_CHUNK_GRANULES)
		return leaf_exact(h, c);
	return chunk_base(c + 1) + lowest(marks(h, c + 1)) - g;
}

/*
 * The size of the largest free block starting in chunk c, from the maps
 * (c's leaf may be stale); the free block at granule hint, if there is one,
 * is known to be hint_size granules long, which saves looking up its end.
 */
static gran_t chunk_largest(const struct heap *h, uint32_t c, gran_t hint, gran_t hint_size)
{
	uint64_t f = h->map[c].free, m = f | h->map[c].live;
	gran_t largest = 0;

	for (; f; f &= f - 1) {
		gran_t g = chunk_base(c) + lowest(f);
		uint64_t after = m & bits_above(g);
		gran_t size = after ? chunk_base(c) + lowest(after) - g
			      : g == hint ? hint_size : next_mark(h, g) - g;
		largest = size > largest ? size : largest;
	}
	return largest;
}

/*
 * A free block of old granules that started in chunk c went away or
 * shrank; the maps already show the chunk as it is now. Recomputes the
 * chunk's leaf if that block was its largest.
 */
static HOT_INLINE void chunk_lost(struct heap *h, uint32_t c, gran_t old, gran_t hint,
				   gran_t hint_size)
{
	if (leaf_value(old) == h->leaves[c])
		lower_leaf(h, c, chunk_largest(h, c, hint, hint_size), old);
}

/* The leftmost chunk whose largest free block is >= need granules, or NO_CHUNK. */
static HOT_INLINE uint32_t find_first_chunk(const struct heap *h, gran_t need)
{
	uint32_t l = h->tree_levels - 1;
	const int32_t *top = h->tree[l];
	uint32_t i = 0;

	/*
	 * First fit keeps the low addresses busy: most searches end under the
	 * first top entry. Testing that entry first, as a branch, lets the CPU
	 * predict the outcome and start on the next level before the test is
	 * done; the vector search would make the next load wait for its result.
	 */
	if (__builtin_expect(top[0] < (int32_t)need, 0)) {
		i = tree_group_first(top, (int32_t)need);
		if (i == NO_CHUNK)
			return NO_CHUNK;
	}
	while (--l > 0)
		i = i * HEAP_TREE_FANOUT + tree_group_first(&h->tree[l][i * HEAP_TREE_FANOUT], (int32_t)need);
	/*
	 * Level 1 is exact, so the group holds a block of need granules or more.
	 * For need >= LEAF_SAT that block is the group's one saturated leaf.
	 */
	return i * HEAP_LEAF_FANOUT + leaf_group_first(&h->leaves[i * HEAP_LEAF_FANOUT], leaf_value(need));
}

/* ---- debug: red zones and poison ---- */

#if KHEAP_DEBUG
/*
 * The debug header, the HEAP_HEADER_SIZE bytes before the payload: the
 * requested size and its complement. Only the red-zone check reads it;
 * block boundaries never come from it.
 */
static inline uint32_t *debug_header(const struct heap *h, gran_t g)
{
	return (uint32_t *)block_addr(h, g);
}

/*
 * The first byte in [lo, hi) that is not c, or NULL. Eight bytes at a time:
 * heap_check() reads every free byte, which a byte loop made the bulk of a
 * debug build's check (milliseconds per check of a heap of a few MiB
 * under ASan).
 */
static const uint8_t *first_byte_not(const uint8_t *lo, const uint8_t *hi, uint8_t c)
{
	const uint64_t pattern = 0x0101010101010101ull * c;

	for (; lo < hi && (uintptr_t)lo % 8 != 0; lo++) {
		if (*lo != c)
			return lo;
	}
	for (; hi - lo >= 8; lo += 8) {
		uint64_t w;
		__builtin_memcpy(&w, lo, sizeof(w)); /* one load, even under -fno-builtin */
		if (w != pattern)
			break; /* the byte loop below names it */
	}
	for (; lo < hi; lo++) {
		if (*lo != c)
			return lo;
	}
	return NULL;
}

/* Panics if free granules [g, end), about to be handed out as (part of) block owner, changed. */
static void debug_check_poison(const struct heap *h, gran_t owner, gran_t g, gran_t end)
{
	const uint8_t *bad = first_byte_not(block_addr(h, g), block_addr(h, end), HEAP_POISON_BYTE);
	if (bad)
		panic("heap: use after free: freed memory at %p (now block %p) was written to",
		      (const void *)bad, (const void *)payload(h, owner));
}

/* Panics if the header or the red zone of live block [g, end) changed. */
static void debug_check_redzone(const struct heap *h, gran_t g, gran_t end)
{
	const uint8_t *p = payload(h, g);
	const uint32_t *hdr = debug_header(h, g);
	uint32_t requested = hdr[0];
	const uint8_t *stop = block_addr(h, end);
	const uint8_t *bad = requested >= (size_t)(stop - p) || hdr[1] != ~requested
				     ? (const uint8_t *)hdr
				     : first_byte_not(p + requested, stop, HEAP_REDZONE_BYTE);
	if (bad)
		panic("heap: overflow past block %p (%u bytes requested): red zone changed at %p",
		      (const void *)p, requested, (const void *)bad);
}

/* Records the requested size of live block [g, end) and fills the rest of it with red zone. */
static void debug_mark_live(struct heap *h, gran_t g, gran_t end, size_t requested)
{
	uint32_t *hdr = debug_header(h, g);
	hdr[0] = (uint32_t)requested;
	hdr[1] = ~(uint32_t)requested;
	memset(payload(h, g) + requested, HEAP_REDZONE_BYTE,
	       (size_t)(block_addr(h, end) - payload(h, g)) - requested);
}

static void debug_poison(struct heap *h, gran_t g, gran_t end)
{
	memset(block_addr(h, g), HEAP_POISON_BYTE, (size_t)(end - g) * HEAP_GRANULE);
}
#endif

/* ---- the core operations ---- */

/* The block size in granules for a request of n bytes, or 0 when n is 0 or too large. */
static inline gran_t granules_for(size_t n)
{
	if (n - 1 >= HEAP_MAX_ARENA) /* n == 0 wraps around */
		return 0;
	gran_t g = (gran_t)((n + HEAP_HEADER_SIZE + HEAP_REDZONE_MIN + HEAP_GRANULE - 1) / HEAP_GRANULE);
	return g < MIN_GRANULES ? MIN_GRANULES : g;
}

/*
 * A free block: where it starts and how large it is; others is the largest
 * of the other free blocks starting in its chunk (what the chunk's leaf
 * becomes when this block goes), or OTHERS_UNKNOWN.
 */
struct fit {
	gran_t g;
	gran_t size;
	gran_t others;
};
#define OTHERS_UNKNOWN NIL

/*
 * The lowest-addressed free block of at least need granules ({NIL} when
 * none). The tree names the leftmost chunk holding one; one pass over that
 * chunk's free blocks, in address order and without branches on their
 * sizes, takes the first that fits and the largest of the others.
 * Measured and rejected (ns/op, best of 15, small-1000 / small-4000 /
 * uniform-1000, this code first): dropping the one-block shortcut, 28.0 /
 * 33.3 / 36.1 -> 28.1 / 33.6 / 37.3; sizing only the blocks that end in
 * the chunk in the loop and the last one after it, 28.0 / 33.6 -> 30.2 /
 * 35.1 (inline) or 30.5 / 35.2 (out of line).
 */
static HOT_INLINE struct fit first_fit(const struct heap *h, gran_t need)
{
	uint32_t c = find_first_chunk(h, need);
	if (c == NO_CHUNK)
		return (struct fit){ NIL, 0, 0 };
	uint64_t f = h->map[c].free;
	if ((f & (f - 1)) == 0) /* the only one: its size is the chunk's leaf */
		return (struct fit){ chunk_base(c) + lowest(f), leaf_exact(h, c), 0 };
	uint64_t m = f | h->map[c].live;
	struct fit fit = { NIL, 0, 0 };
	for (; f; f &= f - 1) {
		gran_t g = chunk_base(c) + lowest(f);
		uint64_t after = m & bits_above(g);
		gran_t size = after ? chunk_base(c) + lowest(after) - g : crossing_free_size(h, c, g);
		bool take = fit.g == NIL && size >= need;
		fit.others = take || size < fit.others ? fit.others : size;
		fit.size = take ? size : fit.size;
		fit.g = take ? g : fit.g;
	}
	return fit;
}

/*
 * Takes need granules from the front of free block f, in the maps: f's
 * free mark goes, a live mark takes its place when live_front (else the
 * block before absorbs the granules), and a remainder of at least
 * MIN_GRANULES stays a free block (else the whole block is taken). The
 * marks are final before any leaf is recomputed from them. Returns the
 * granules taken.
 */
static HOT_INLINE gran_t carve_front(struct heap *h, struct fit f, gran_t need, bool live_front,
				     gran_t owner)
{
	uint32_t c = chunk_of(f.g);
	/*
	 * Whether a remainder splits off, and whether it lands in another
	 * chunk, are coin flips on a random workload: both are computed
	 * without branches. Without a split, rest is f's end (a marked
	 * granule), and the updates below change nothing there.
	 */
	bool split = f.size - need >= MIN_GRANULES;
	gran_t rest = f.g + need, rest_size = split ? f.size - need : 0;
	uint32_t rc = chunk_of(rest);
	gran_t taken = split ? need : f.size;

	h->map[c].free &= ~bit_of(f.g);
	if (live_front)
		h->map[c].live |= bit_of(f.g);
	h->map[rc].free |= bit_of(rest) & mask_if(split);
	h->free_blocks -= !split;
	summary_add(h, rc);
	/* A no-op when rc == c (c's leaf is >= f.size > rest_size); c's leaf is settled below. */
	raise_leaf(h, rc, rest_size);
	if (!live_front)
		summary_drop_if_empty(h, c);
#if KHEAP_DEBUG
	debug_check_poison(h, owner, f.g, f.g + taken);
#else
	(void)owner;
#endif
	if (leaf_value(f.size) == h->leaves[c]) { /* f was c's largest */
		gran_t largest = f.others != OTHERS_UNKNOWN
					 ? MAX(f.others, rc == c ? rest_size : 0)
					 : chunk_largest(h, c, split && rc == c ? rest : NIL, rest_size);
		lower_leaf(h, c, largest, f.size);
	}
	return taken;
}

/* Counts [g, g + size), already marked live, as a used block and returns its payload. */
static inline void *count_used(struct heap *h, gran_t g, gran_t size, size_t requested)
{
	h->used_blocks++;
	h->used_granules += size;
#if KHEAP_DEBUG
	debug_mark_live(h, g, g + size, requested);
#else
	(void)requested;
#endif
	return payload(h, g);
}

/*
 * Returns live block [g, end) to free memory, merging it at once with free
 * neighbours on both sides. The block must have passed validation.
 */
static HOT_INLINE void release(struct heap *h, gran_t g, gran_t end)
{
	uint32_t c = chunk_of(g), ec = chunk_of(end);
	bool merge_next = is_free_start(h, end); /* the sentinel is live: never merged */
	gran_t stop = end;
	if (merge_next) {
		uint64_t after = marks(h, ec) & bits_above(end);
		stop = after ? chunk_base(ec) + lowest(after) : end + crossing_free_size(h, ec, end);
	}
	/* Block 0 has no predecessor: then prev is g itself, which is live. */
	gran_t prev = g > 0 ? prev_mark(h, g) : g;
	bool merge_prev = is_free_start(h, prev);
	gran_t start = merge_prev ? prev : g;

	/* g's mark goes live -> free, or away when the block before absorbs g. */
	h->map[c].live &= ~bit_of(g);
	h->map[c].free |= bit_of(g) & ~mask_if(merge_prev);
	h->map[ec].free &= ~(bit_of(end) & mask_if(merge_next));
	h->free_blocks += 1 - (size_t)merge_prev - (size_t)merge_next;
	h->used_blocks--;
	h->used_granules -= end - g;
#if KHEAP_DEBUG
	debug_poison(h, g, end);
#endif
	summary_drop_if_empty(h, c);
	if (merge_next && ec != chunk_of(start)) {
		summary_drop_if_empty(h, ec);
		chunk_lost(h, ec, stop - end, NIL, 0);
	}
	raise_leaf(h, chunk_of(start), stop - start);
}

/* ---- validation of caller pointers ---- */

/* Who hands a pointer in, for the panic messages. */
enum caller { BY_FREE, BY_REALLOC, BY_QUERY };
static const char *const caller_name[] = {
	[BY_FREE] = "kfree", [BY_REALLOC] = "krealloc", [BY_QUERY] = "heap_usable_size",
};

/* Panics with the reason ptr, handed to a heap function by `by`, is not a live block. */
__attribute__((cold, noinline, noreturn))
static void bad_pointer(const struct heap *h, const void *ptr, enum caller by)
{
	const char *who = caller_name[by];
	uintptr_t p = (uintptr_t)ptr, first = (uintptr_t)payload(h, 0);
	uintptr_t limit = (uintptr_t)block_addr(h, h->granules);

	if (p < first || p >= limit)
		panic("%s: %p is not a heap pointer", who, ptr);
	if ((p - first) % HEAP_GRANULE != 0)
		panic("%s: %p is misaligned: no heap block starts there", who, ptr);
	/* Not a live start: the block holding granule g starts at the last mark before it. */
	gran_t g = (gran_t)((p - first) / HEAP_GRANULE);
	gran_t owner = is_free_start(h, g) ? g : prev_mark(h, g);
	if (is_live_start(h, owner))
		panic("%s: %p points inside the block at %p", who, ptr, (const void *)payload(h, owner));
	if (by == BY_FREE)
		panic("double free of %p", ptr);
	panic("%s: %p was already freed", who, ptr);
}

/* The live block whose payload is ptr; panics naming ptr otherwise. */
static inline gran_t live_block_of(const struct heap *h, const void *ptr, enum caller by)
{
	uintptr_t off = (uintptr_t)ptr - (uintptr_t)payload(h, 0); /* wraps when below */
	gran_t g = (gran_t)(off / HEAP_GRANULE);
	if (__builtin_expect(off % HEAP_GRANULE != 0 || off >= (uintptr_t)h->granules * HEAP_GRANULE ||
				     !is_live_start(h, g), 0))
		bad_pointer(h, ptr, by);
	return g;
}

/* ---- building a heap ---- */

/*
 * Lays out the metadata for an arena of `granules` granules from meta on:
 * sets h's map, summary and tree pointers (when h is not NULL) and returns
 * the first byte past the metadata.
 */
static uintptr_t layout(struct heap *h, uintptr_t meta, uint32_t granules)
{
	uint32_t chunks = granules / HEAP_CHUNK_GRANULES + 1; /* + 1: the sentinel's granule */

	meta = ALIGN_UP(meta, (uintptr_t)64);
	if (h) {
		h->chunks = chunks;
		h->map = (struct heap_chunk_map *)meta;
	}
	meta += (size_t)chunks * sizeof(struct heap_chunk_map);
	uint32_t l = 0;
	for (uint32_t bits = chunks;; bits = (bits + 63) / 64, l++) {
		uint32_t words = (bits + 63) / 64;
		if (h) {
			h->summary[l] = (uint64_t *)meta;
			h->summary_words[l] = words;
			h->summary_levels = l + 1;
		}
		meta += words * sizeof(uint64_t);
		if (words == 1)
			break;
	}
	uint32_t n = ALIGN_UP(chunks, HEAP_LEAF_FANOUT);
	meta = ALIGN_UP(meta, (uintptr_t)64); /* a group of leaves never straddles a line */
	if (h) {
		h->leaves = (int16_t *)meta;
		h->tree_len[0] = n;
	}
	meta += n * sizeof(int16_t);
	for (l = 1;; l++) { /* at least one exact level, up to a single group */
		n = ALIGN_UP(n / (l == 1 ? HEAP_LEAF_FANOUT : HEAP_TREE_FANOUT), HEAP_TREE_FANOUT);
		meta = ALIGN_UP(meta, (uintptr_t)64); /* one group per cache line */
		if (h) {
			h->tree[l] = (int32_t *)meta;
			h->tree_len[l] = n;
			h->tree_levels = l + 1;
		}
		meta += n * sizeof(int32_t);
		if (n == HEAP_TREE_FANOUT)
			break;
	}
	return meta;
}

/* Where block 0 goes for metadata ending at meta: its payload must be 16-aligned. */
static inline uintptr_t arena_after(uintptr_t meta)
{
	return ALIGN_UP(meta + HEAP_HEADER_SIZE, (uintptr_t)HEAP_GRANULE) - HEAP_HEADER_SIZE;
}

/*
 * The granules an arena gets in a region ending at end after the metadata
 * for n granules, laid out from meta. 0 when that metadata, or block 0's
 * alignment after it, would run past the top of the address space: the
 * sum wraps to a low address, which must not pass for room.
 */
static inline uint32_t granules_after_metadata(uintptr_t meta, uint32_t n, uintptr_t end)
{
	uintptr_t meta_end = n == 0 ? meta : layout(NULL, meta, n);
	uintptr_t arena = arena_after(meta_end);
	if (meta_end < meta || arena < meta_end || arena >= end)
		return 0;
	return (uint32_t)MIN((end - arena) / HEAP_GRANULE, (uintptr_t)MAX_GRANULES);
}

/*
 * The most granules n whose metadata, laid out from meta, leaves room for
 * them before end: fits(n) is granules_after_metadata(n) >= n. The metadata
 * grows with n, so fits() holds up to the answer and fails above it, and a
 * binary search finds it: lo fits (the metadata for the bound without any
 * metadata leaves lo granules, and lo's own metadata is no larger), and
 * nothing above what lo's metadata leaves can fit. Earlier code stepped up
 * from lo to what n + 1's metadata left, which may not fit its own larger
 * metadata: the arena ran up to 448 bytes past the region (8 MiB, 16 MiB).
 */
static uint32_t arena_granules(uintptr_t meta, uintptr_t end)
{
	uint32_t lo = granules_after_metadata(meta, granules_after_metadata(meta, 0, end), end);
	uint32_t hi = granules_after_metadata(meta, lo, end);
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		if (granules_after_metadata(meta, mid, end) >= mid)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Where struct heap goes in a region starting at base: the metadata follows it. */
static inline uintptr_t heap_struct_at(const void *base)
{
	return ALIGN_UP((uintptr_t)base, (uintptr_t)64);
}

size_t heap_metadata_bytes_for(const void *base, uint32_t granules)
{
	uintptr_t meta = heap_struct_at(base) + sizeof(struct heap);
	return arena_after(layout(NULL, meta, granules)) - (uintptr_t)base;
}

struct heap *heap_init(void *base, size_t size)
{
	uintptr_t start = heap_struct_at(base);
	uintptr_t end = (uintptr_t)base + size;
	/* Each test also catches a sum that wrapped past the top of the address space. */
	if (size == 0 || end < (uintptr_t)base || start < (uintptr_t)base || start > end ||
	    end - start < sizeof(struct heap))
		return NULL;
	uintptr_t meta = start + sizeof(struct heap);

	uint32_t n = arena_granules(meta, end);
	if (n < MIN_GRANULES)
		return NULL;

	struct heap *h = (struct heap *)start;
	memset(h, 0, sizeof(*h));
	uintptr_t arena = arena_after(layout(h, meta, n));
	memset((void *)meta, 0, (size_t)(arena - meta));
	h->magic = HEAP_MAGIC;
	h->arena = (uint8_t *)arena;
	h->granules = n;
	h->metadata_bytes = arena - (uintptr_t)base;

#if KHEAP_DEBUG
	debug_poison(h, 0, n);
#endif
	h->map[0].free = 1; /* one free block, [0, n) */
	h->map[chunk_of(n)].live |= bit_of(n); /* the sentinel */
	summary_add(h, 0);
	summary_add(h, chunk_of(n));
	h->free_blocks = 1;
	raise_leaf(h, 0, n);
	return h;
}

/* ---- public API ---- */

void *heap_alloc(struct heap *h, size_t n)
{
	gran_t need = granules_for(n);
	if (need == 0)
		return NULL;
	struct fit f = first_fit(h, need);
	if (f.g == NIL)
		return NULL;
	return count_used(h, f.g, carve_front(h, f, need, true, f.g), n);
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

/*
 * Splits free block f into a free block of gap granules and the free block
 * right after it, which it returns. The two touch until the caller carves
 * the second one's front.
 */
static struct fit split_free(struct heap *h, struct fit f, gran_t gap)
{
	struct fit rest = { f.g + gap, f.size - gap, OTHERS_UNKNOWN };
	uint32_t c = chunk_of(f.g), rc = chunk_of(rest.g);

	h->map[rc].free |= bit_of(rest.g);
	h->free_blocks++;
	if (rc != c) {
		summary_add(h, rc);
		raise_leaf(h, rc, rest.size);
	}
	chunk_lost(h, c, f.size, rc == c ? rest.g : NIL, rest.size);
	return rest;
}

void *heap_alloc_aligned(struct heap *h, size_t n, size_t align)
{
	if (!IS_POWER_OF_TWO(align))
		return NULL;
	if (align <= HEAP_GRANULE)
		return heap_alloc(h, n);
	gran_t need = granules_for(n);
	if (need == 0 || align > HEAP_MAX_ARENA)
		return NULL;
	size_t padded = (size_t)need * HEAP_GRANULE + align + HEAP_MIN_BLOCK - HEAP_GRANULE;
	if (padded > HEAP_MAX_ARENA)
		return NULL;
	struct fit f = first_fit(h, (gran_t)(padded / HEAP_GRANULE));
	if (f.g == NIL)
		return NULL;

	uintptr_t p0 = (uintptr_t)payload(h, f.g);
	size_t gap = ALIGN_UP(p0, (uintptr_t)align) - p0;
	if (gap != 0 && gap < HEAP_MIN_BLOCK)
		gap += align;
	if (gap != 0)
		f = split_free(h, f, (gran_t)(gap / HEAP_GRANULE)); /* the gap stays a free block */
	return count_used(h, f.g, carve_front(h, f, need, true, f.g), n);
}

/* Frees the tail of live block [g, end) beyond its first keep granules, when that makes a block. */
static void shrink_in_place(struct heap *h, gran_t g, gran_t end, gran_t keep)
{
	if (end - g - keep < MIN_GRANULES)
		return;
	gran_t tail = g + keep;
	h->map[chunk_of(tail)].live |= bit_of(tail);
	summary_add(h, chunk_of(tail));
	h->used_blocks++;
	release(h, tail, end);
}

/* Grows live block g, ending at end, into the free block there; returns false if it cannot. */
static bool grow_in_place(struct heap *h, gran_t g, gran_t end, gran_t need)
{
	if (!is_free_start(h, end))
		return false;
	struct fit next = { end, next_mark(h, end) - end, OTHERS_UNKNOWN };
	if (end - g + next.size < need)
		return false;
	gran_t taken = carve_front(h, next, need - (end - g), false, g);
	h->used_granules += taken;
	return true;
}

void *heap_realloc(struct heap *h, void *ptr, size_t n)
{
	if (!ptr)
		return heap_alloc(h, n);
	gran_t g = live_block_of(h, ptr, BY_REALLOC);
	gran_t end = next_mark(h, g);
#if KHEAP_DEBUG
	debug_check_redzone(h, g, end);
#endif
	if (n == 0) {
		release(h, g, end);
		return NULL;
	}
	gran_t need = granules_for(n);
	if (need == 0)
		return NULL;

	if (need <= end - g) {
		shrink_in_place(h, g, end, need);
	} else if (!grow_in_place(h, g, end, need)) {
		size_t old = heap_usable_size(h, ptr);
		void *q = heap_alloc(h, n);
		if (!q)
			return NULL;
		memcpy(q, ptr, MIN(old, n));
		release(h, g, end);
		return q;
	}
#if KHEAP_DEBUG
	debug_mark_live(h, g, next_mark(h, g), n);
#endif
	return ptr;
}

/* release() for any block; the fast path below calls it for the rarer shapes. */
__attribute__((noinline))
static void release_slow(struct heap *h, gran_t g)
{
	release(h, g, next_mark(h, g));
}

/*
 * Frees live block g when it, its predecessor's start and (if free) its
 * successor all lie in g's chunk, from that chunk's two words alone: the
 * common case for small blocks. Returns false, having changed nothing, for
 * any other shape. Measured and rejected (as at first_fit): every free
 * through release() with the neighbouring chunks' words selected without a
 * branch, 28.1 / 33.4 / 36.3 -> 28.4 / 33.7 / 37.8; that selection in the
 * slow path only, 27.9 / 33.2 / 36.0 -> 28.1 / 33.5 / 38.4.
 */
static HOT_INLINE bool release_in_chunk(struct heap *h, gran_t g)
{
	uint32_t c = chunk_of(g), b = g & 63;
	struct heap_chunk_map *cm = &h->map[c];
	uint64_t f = cm->free, l = cm->live, m = f | l;
	uint64_t above = m & bits_above(b), below = m & bits_below(b);
	if (above == 0 || below == 0)
		return false;
	uint32_t e = lowest(above);  /* the block ends here */
	uint32_t p = highest(below); /* the block before starts here */
	bool merge_next = (f >> e) & 1, merge_prev = (f >> p) & 1;
	uint64_t after_next = m & bits_above(e);
	if (merge_next && after_next == 0)
		return false;
	uint32_t stop = merge_next ? lowest(after_next) : e;
	uint32_t start = merge_prev ? p : b;

#if KHEAP_DEBUG
	debug_check_redzone(h, g, chunk_base(c) + e);
	debug_poison(h, g, chunk_base(c) + e);
#endif
	cm->live = l & ~bit_of(b);
	cm->free = (f & ~(bit_of(e) & mask_if(merge_next))) | (bit_of(b) & ~mask_if(merge_prev));
	h->free_blocks += 1 - (size_t)merge_prev - (size_t)merge_next;
	h->used_blocks--;
	h->used_granules -= e - b;
	raise_leaf(h, c, stop - start); /* start's mark stays: the chunk never empties here */
	return true;
}

void heap_free(struct heap *h, void *ptr)
{
	if (!ptr)
		return;
	gran_t g = live_block_of(h, ptr, BY_FREE);
	if (release_in_chunk(h, g))
		return;
#if KHEAP_DEBUG
	debug_check_redzone(h, g, next_mark(h, g));
#endif
	release_slow(h, g);
}

size_t heap_usable_size(struct heap *h, void *ptr)
{
	gran_t g = live_block_of(h, ptr, BY_QUERY);
#if KHEAP_DEBUG
	/* The size comes from the header: a caller must never be handed a size an overflow wrote. */
	debug_check_redzone(h, g, next_mark(h, g));
	return debug_header(h, g)[0];
#else
	return (size_t)(next_mark(h, g) - g) * HEAP_GRANULE - HEAP_HEADER_SIZE;
#endif
}

void heap_stats(const struct heap *h, struct heap_stats *out)
{
	size_t largest = (size_t)tree_group_max(h->tree[h->tree_levels - 1]) * HEAP_GRANULE;
	size_t arena_bytes = (size_t)h->granules * HEAP_GRANULE;
	size_t used_bytes = h->used_granules * HEAP_GRANULE;

	*out = (struct heap_stats){
		.arena = h->arena,
		.arena_bytes = arena_bytes,
		.metadata_bytes = h->metadata_bytes,
		.used_bytes = used_bytes,
		.free_bytes = arena_bytes - used_bytes,
		.largest_free = largest,
		.largest_request = largest > 0 ? largest - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN : 0,
		.used_blocks = h->used_blocks,
		.free_blocks = h->free_blocks,
		.header_bytes = HEAP_HEADER_SIZE,
	};
}

/* ---- checking and dumping ---- */

/*
 * heap_check trusts none of the helpers above: it walks the marks chunk by
 * chunk in address order (no summary, no tree), derives every block from
 * them, and compares the summary, the leaves and the tree with what it
 * derived.
 */

/* The first mark at or after granule g, scanning the maps word by word; NIL if none. */
static gran_t scan_mark_from(const struct heap *h, gran_t g)
{
	uint32_t c = chunk_of(g);
	uint64_t m = marks(h, c) & ~bits_below(g);
	while (m == 0) {
		if (++c >= h->chunks)
			return NIL;
		m = marks(h, c);
	}
	return chunk_base(c) + lowest(m);
}

/* Per-chunk bits: both kinds of mark at once, and nothing past the sentinel. */
static void check_maps(const struct heap *h)
{
	gran_t n = h->granules;

	if (h->chunks != chunk_of(n) + 1)
		panic("heap_check: %u chunks for %u granules", h->chunks, n);
	for (uint32_t c = 0; c < h->chunks; c++) {
		uint64_t both = h->map[c].free & h->map[c].live;
		if (both)
			panic("heap_check: block %p is marked both free and live",
			      (const void *)payload(h, chunk_base(c) + lowest(both)));
	}
	uint32_t sc = chunk_of(n);
	if (!(h->map[sc].live & bit_of(n)) || (h->map[sc].free & bit_of(n)))
		panic("heap_check: the sentinel mark at the arena's end (%p) is missing",
		      (const void *)block_addr(h, n));
	if (marks(h, sc) & bits_above(n))
		panic("heap_check: marks past the arena's end (%p)", (const void *)block_addr(h, n));
	if (!(marks(h, 0) & 1))
		panic("heap_check: no block starts at the arena's start (%p)", (const void *)payload(h, 0));
}

/*
 * The leaves and level 1 of the tree against the free blocks the walk
 * found: the walk reports each chunk's exact largest free block in order.
 */
struct leaf_walk {
	uint32_t chunk;        /* the chunk being measured */
	gran_t largest;        /* its largest free block so far */
	gran_t group_largest;  /* the largest in its group of 16 so far */
};

/* Chunks before `upto` are measured: compare their leaves, and their groups' entries. */
static void settle_leaves(const struct heap *h, struct leaf_walk *w, uint32_t upto)
{
	for (; w->chunk < upto; w->chunk++, w->largest = 0) {
		uint32_t c = w->chunk;
		if (h->leaves[c] != leaf_value(w->largest))
			panic("heap_check: chunk %u (%p) records a largest free block of %zu bytes, "
			      "it holds %zu", c, (const void *)block_addr(h, chunk_base(c)),
			      (size_t)(gran_t)h->leaves[c] * HEAP_GRANULE, (size_t)w->largest * HEAP_GRANULE);
		w->group_largest = MAX(w->group_largest, w->largest);
		if (c % HEAP_LEAF_FANOUT == HEAP_LEAF_FANOUT - 1) {
			uint32_t j = c / HEAP_LEAF_FANOUT;
			if (h->tree[1][j] != (int32_t)w->group_largest)
				panic("heap_check: tree level 1 entry %u is %d, its chunks' largest free "
				      "block is %u granules", j, (int)h->tree[1][j], w->group_largest);
			w->group_largest = 0;
		}
	}
}

/* Every block in address order: counters, merging, debug bytes, the leaves and level 1. */
static void check_blocks(const struct heap *h)
{
	size_t used = 0, used_granules = 0, nfree = 0;
	bool after_free = false;
	struct leaf_walk lw = { 0, 0, 0 };

	for (gran_t g = 0, end; g < h->granules; g = end) {
		const void *at = payload(h, g);
		bool is_free = is_free_start(h, g);
		end = scan_mark_from(h, g + 1);
		if (end > h->granules) /* NIL included */
			panic("heap_check: block %p runs past the arena's end", at);
		if (is_free) {
			if (after_free)
				panic("heap_check: free block %p follows a free block (unmerged)", at);
			nfree++;
			settle_leaves(h, &lw, chunk_of(g));
			lw.largest = MAX(lw.largest, end - g);
#if KHEAP_DEBUG
			const uint8_t *bad = first_byte_not(block_addr(h, g), block_addr(h, end),
							    HEAP_POISON_BYTE);
			if (bad)
				panic("heap_check: free block %p was written to at %p (use after free)", at,
				      (const void *)bad);
#endif
		} else {
			used++;
			used_granules += end - g;
#if KHEAP_DEBUG
			debug_check_redzone(h, g, end);
#endif
		}
		after_free = is_free;
	}
	settle_leaves(h, &lw, h->tree_len[0]);
	if (used != h->used_blocks || used_granules != h->used_granules || nfree != h->free_blocks)
		panic("heap_check: counters say %zu used (%zu bytes) and %zu free blocks, "
		      "the heap holds %zu (%zu bytes) and %zu",
		      h->used_blocks, h->used_granules * HEAP_GRANULE, h->free_blocks, used,
		      used_granules * HEAP_GRANULE, nfree);
}

/* Every summary bit against the maps or the level below; nothing set past the end. */
static void check_summary(const struct heap *h)
{
	uint32_t bits = h->chunks;

	for (uint32_t l = 0; l < h->summary_levels; l++) {
		for (uint32_t i = 0; i < h->summary_words[l] * 64; i++) {
			bool expect = i < bits && (l == 0 ? marks(h, i) != 0 : h->summary[l - 1][i] != 0);
			bool have = h->summary[l][i / 64] & bit_of(i);
			if (have != expect && l == 0)
				panic("heap_check: the summary says chunk %u (%p) holds %s, it holds %s", i,
				      (const void *)block_addr(h, chunk_base(i)), have ? "marks" : "none",
				      expect ? "marks" : "none");
			if (have != expect)
				panic("heap_check: summary level %u bit %u is %d, word %u of the level below "
				      "is %s", l, i, have, i, expect ? "not zero" : "zero");
		}
		bits = h->summary_words[l];
	}
	if (h->summary_words[h->summary_levels - 1] != 1)
		panic("heap_check: the summary's top level is %u words", h->summary_words[h->summary_levels - 1]);
}

/*
 * Level 1's padding, and every level above against the one below
 * (check_blocks() did the leaves and level 1's entries over them).
 */
static void check_tree(const struct heap *h)
{
	if (h->tree_len[0] != ALIGN_UP(h->chunks, HEAP_LEAF_FANOUT) || h->tree_levels < 2)
		panic("heap_check: %u leaves and %u levels for %u chunks", h->tree_len[0], h->tree_levels,
		      h->chunks);
	for (uint32_t j = h->tree_len[0] / HEAP_LEAF_FANOUT; j < h->tree_len[1]; j++) {
		if (h->tree[1][j] != 0)
			panic("heap_check: tree level 1 entry %u is %d, past the last leaf it must be 0", j,
			      (int)h->tree[1][j]);
	}
	for (uint32_t l = 2; l < h->tree_levels; l++) {
		for (uint32_t i = 0; i < h->tree_len[l]; i++) {
			int32_t expect = i * HEAP_TREE_FANOUT < h->tree_len[l - 1]
						 ? tree_group_max(&h->tree[l - 1][i * HEAP_TREE_FANOUT]) : 0;
			if (h->tree[l][i] != expect)
				panic("heap_check: tree level %u entry %u is %d, its children's max is %d",
				      l, i, (int)h->tree[l][i], (int)expect);
		}
	}
	if (h->tree_len[h->tree_levels - 1] != HEAP_TREE_FANOUT)
		panic("heap_check: the tree's top level is %u entries", h->tree_len[h->tree_levels - 1]);
}

void heap_check(const struct heap *h)
{
	if (h->magic != HEAP_MAGIC)
		panic("heap_check: %p is not a heap (bad magic 0x%x)", (const void *)h, h->magic);
	check_maps(h);
	check_blocks(h);
	check_summary(h);
	check_tree(h);
}

void heap_walk(const struct heap *h, heap_block_fn fn, void *arg)
{
	/* Scans the maps, not the summary: a dump should work on a damaged heap too. */
	for (gran_t g = 0, end; g < h->granules; g = end) {
		end = scan_mark_from(h, g + 1);
		if (end == NIL)
			break;
		fn(block_addr(h, g), (size_t)(end - g) * HEAP_GRANULE, !is_free_start(h, g), arg);
	}
}

static void dump_block(void *start, size_t bytes, bool used, void *arg)
{
	const struct heap *h = arg;
	gran_t g = (gran_t)(((uint8_t *)start - block_addr(h, 0)) / HEAP_GRANULE);

	kprintf("  %p %10zu %s\n", (const void *)payload(h, g), bytes, used ? "used" : "free");
}

void heap_dump(const struct heap *h)
{
	struct heap_stats st;

	heap_stats(h, &st);
	kprintf("heap %p: arena [%p-%p) %zu bytes, metadata %zu bytes\n", (const void *)h,
		st.arena, (const void *)block_addr(h, h->granules), st.arena_bytes, st.metadata_bytes);
	heap_walk(h, dump_block, (void *)h);
	kprintf("heap %p: %zu used blocks (%zu bytes), %zu free blocks (%zu bytes), "
		"largest free %zu bytes\n", (const void *)h, st.used_blocks, st.used_bytes,
		st.free_blocks, st.free_bytes, st.largest_free);
}
