/*
 * Exact first-fit heap: per-chunk bitmaps and a max-tree over the chunks.
 * The design, the block layout and the contracts are in mm/heap.h.
 *
 * Vocabulary: a block is named by its granule index g, its offset from the
 * arena start in 16-byte granules. Chunk c covers granules [64c, 64c + 64)
 * (1 KiB); map[2c] has bit i set when a free block starts at granule 64c + i,
 * map[2c + 1] when a live block does. level[0][c] is the size of the
 * largest free block starting in chunk c; level[l + 1][i] is the largest of
 * level[l][16i .. 16i + 15].
 */
#include "mm/heap.h"

#include "lib/panic.h"
#include "lib/string.h"

#if defined(__SSE2__)
#include <emmintrin.h> /* host builds: 4-wide compares for the tree; the kernel has no SSE */
#endif

typedef uint32_t gran_t; /* a block's offset from the arena start, in granules */

enum {
	HDR_USED = 1u, /* the block is allocated */
	HDR_FLAGS = HEAP_GRANULE - 1,
	FOOTER_BYTES = sizeof(uint32_t),
	CHUNK_GRANULES = 64, /* one 64-bit word of each bitmap per chunk */
	MAX_LEVELS = 8,
	HEAP_MAGIC = 0x48656170, /* "Heap" */
};
#define NIL ((gran_t)UINT32_MAX)

_Static_assert(HEAP_GRANULE == 16, "granule arithmetic assumes 16-byte granules");
_Static_assert(HEAP_CHUNK_BYTES == CHUNK_GRANULES * HEAP_GRANULE, "a chunk is one bitmap word");
_Static_assert(HEAP_MIN_BLOCK >= HEAP_HEADER_SIZE + FOOTER_BYTES,
	       "a minimal free block must hold its header and footer");
_Static_assert(HEAP_FANOUT == 16, "group_first() and group_max() handle 16 entries");
_Static_assert(HEAP_MAX_ARENA <= ((size_t)1 << 31) - HEAP_GRANULE,
	       "block sizes are compared as int32_t in the tree");

struct heap {
	uint32_t magic;
	gran_t granules;                /* arena length */
	uint8_t *arena;                 /* block 0; arena + HEAP_HEADER_SIZE is 16-aligned */
	uint64_t *map;                  /* per chunk: free starts, live starts */
	int32_t *level[MAX_LEVELS];     /* the max-tree; level[levels - 1] is one group */
	uint32_t level_len[MAX_LEVELS]; /* entries per level, a multiple of HEAP_FANOUT */
	uint32_t levels;
	uint32_t chunks;                /* chunks covering the arena */
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

/* The footer of the block that ends where g starts: that block's size. */
static inline uint32_t footer_before(const struct heap *h, gran_t g)
{
	return *(uint32_t *)(block_addr(h, g) - FOOTER_BYTES);
}

/* Writes a free block's header and footer. */
static inline void set_free_block(struct heap *h, gran_t g, uint32_t size)
{
	*header_word(h, g) = size;
	*(uint32_t *)(block_addr(h, g) + size - FOOTER_BYTES) = size;
}

/* ---- the bitmaps ---- */

static inline uint32_t chunk_of(gran_t g) { return g / CHUNK_GRANULES; }
static inline uint64_t bit_of(gran_t g) { return (uint64_t)1 << (g % CHUNK_GRANULES); }
static inline uint64_t *free_map(const struct heap *h, uint32_t c) { return &h->map[2 * c]; }
static inline uint64_t *live_map(const struct heap *h, uint32_t c) { return &h->map[2 * c + 1]; }

static inline gran_t lowest_in(uint32_t c, uint64_t bits)
{
	return c * CHUNK_GRANULES + (gran_t)__builtin_ctzll(bits);
}

static inline bool is_live(const struct heap *h, gran_t g)
{
	return *live_map(h, chunk_of(g)) & bit_of(g);
}

/* ---- the max-tree over chunks ---- */

/* The index of the first of 16 entries that is >= need, 16 when none is. */
static inline uint32_t group_first(const int32_t *v, int32_t need)
{
#if defined(__SSE2__)
	__m128i n = _mm_set1_epi32(need - 1);
	const __m128i *p = (const __m128i *)v;
	__m128i ab = _mm_packs_epi32(_mm_cmpgt_epi32(_mm_load_si128(p), n),
				     _mm_cmpgt_epi32(_mm_load_si128(p + 1), n));
	__m128i cd = _mm_packs_epi32(_mm_cmpgt_epi32(_mm_load_si128(p + 2), n),
				     _mm_cmpgt_epi32(_mm_load_si128(p + 3), n));
	uint32_t mask = (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(ab, cd));
	return (uint32_t)__builtin_ctz(mask | 1u << HEAP_FANOUT);
#else
	uint32_t k = 0;
	while (k < HEAP_FANOUT && v[k] < need)
		k++;
	return k;
#endif
}

#if defined(__SSE2__)
static inline __m128i max_epi32(__m128i a, __m128i b)
{
	__m128i a_greater = _mm_cmpgt_epi32(a, b);
	return _mm_or_si128(_mm_and_si128(a_greater, a), _mm_andnot_si128(a_greater, b));
}
#endif

/* The largest of 16 entries. */
static inline int32_t group_max(const int32_t *v)
{
#if defined(__SSE2__)
	const __m128i *p = (const __m128i *)v;
	__m128i m = max_epi32(max_epi32(_mm_load_si128(p), _mm_load_si128(p + 1)),
			      max_epi32(_mm_load_si128(p + 2), _mm_load_si128(p + 3)));
	m = max_epi32(m, _mm_shuffle_epi32(m, 0x4e)); /* swap the 64-bit halves */
	m = max_epi32(m, _mm_shuffle_epi32(m, 0xb1)); /* swap neighbours */
	return _mm_cvtsi128_si32(m);
#else
	int32_t m = 0;
	for (uint32_t k = 0; k < HEAP_FANOUT; k++)
		m = v[k] > m ? v[k] : m;
	return m;
#endif
}

static inline int32_t chunk_max(const struct heap *h, uint32_t c) { return h->level[0][c]; }

/*
 * Chunk c now holds a free block of v bytes: raise its maximum and its
 * ancestors' to at least v. The walk always goes to the top: stopping at the
 * first entry already >= v would save a store or two but cost a branch the
 * CPU mispredicts about every other time (measured ~3% of the whole run).
 */
static inline void raise_chunk_max(struct heap *h, uint32_t c, int32_t v)
{
	for (uint32_t l = 0, i = c; l < h->levels; l++, i /= HEAP_FANOUT) {
		int32_t *e = &h->level[l][i];
		*e = *e > v ? *e : v;
	}
}

/* Chunk c's largest free block shrank to v: lower it and every ancestor it was the max of. */
static void lower_chunk_max(struct heap *h, uint32_t c, int32_t v)
{
	int32_t old = h->level[0][c];
	uint32_t i = c;

	h->level[0][c] = v;
	for (uint32_t l = 1; l < h->levels; l++) {
		uint32_t parent = i / HEAP_FANOUT;
		int32_t cur = h->level[l][parent];
		if (cur != old)
			return; /* the parent's max lies elsewhere */
		int32_t nv = group_max(&h->level[l - 1][parent * HEAP_FANOUT]);
		if (nv == cur)
			return;
		h->level[l][parent] = nv;
		old = cur;
		i = parent;
	}
}

/* The largest free block among those marked in bits, a subset of chunk c's map. */
static inline int32_t largest_of(const struct heap *h, uint32_t c, uint64_t bits)
{
	int32_t m = 0;
	for (; bits; bits &= bits - 1) {
		int32_t s = (int32_t)block_size(h, lowest_in(c, bits));
		m = s > m ? s : m;
	}
	return m;
}

/*
 * A free block of old_size bytes in chunk c went away or shrank; the chunk's
 * map already says which free blocks start in it now. Lowers the chunk's
 * maximum if that block was it.
 */
static inline void chunk_lost(struct heap *h, uint32_t c, uint32_t old_size)
{
	if ((int32_t)old_size == chunk_max(h, c))
		lower_chunk_max(h, c, largest_of(h, c, *free_map(h, c)));
}

/* The leftmost chunk whose largest free block is >= need, or UINT32_MAX. */
static inline uint32_t find_first_chunk(const struct heap *h, int32_t need)
{
	uint32_t l = h->levels - 1;
	uint32_t i = group_first(h->level[l], need);
	if (i == HEAP_FANOUT)
		return UINT32_MAX;
	while (l > 0) {
		l--;
		i = i * HEAP_FANOUT + group_first(&h->level[l][i * HEAP_FANOUT], need);
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

/* Panics if the poison in [lo, hi), free memory about to be handed out as block g, changed. */
static void debug_check_poison(const struct heap *h, gran_t g, const uint8_t *lo, const uint8_t *hi)
{
	const uint8_t *bad = first_byte_not(lo, hi, HEAP_POISON_BYTE);
	if (bad)
		panic("heap: use after free: freed memory at %p (now block %p) was written to",
		      (const void *)bad, (const void *)payload(h, g));
}

static void debug_check_redzone(const struct heap *h, gran_t g)
{
	const uint8_t *p = payload(h, g);
	uint32_t requested = *requested_word(h, g);
	const uint8_t *end = block_addr(h, g) + block_size(h, g);
	const uint8_t *bad = requested >= (size_t)(end - p)
				     ? p - HEAP_HEADER_SIZE
				     : first_byte_not(p + requested, end, HEAP_REDZONE_BYTE);
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

/* A free block: where it starts and how large it is. */
struct fit {
	gran_t g;
	uint32_t size;
};

/* The lowest-addressed free block of at least need bytes ({NIL, 0} when none). */
static inline struct fit first_fit(const struct heap *h, uint32_t need)
{
	uint32_t c = find_first_chunk(h, (int32_t)need);
	if (c == UINT32_MAX)
		return (struct fit){ NIL, 0 };
	/* The tree promises a fit among the free blocks starting in c. */
	uint64_t bits = *free_map(h, c);
	if ((bits & (bits - 1)) == 0) /* the only one: its size is the chunk's maximum */
		return (struct fit){ lowest_in(c, bits), (uint32_t)chunk_max(h, c) };
	for (;; bits &= bits - 1) {
		gran_t g = lowest_in(c, bits);
		uint32_t size = block_size(h, g);
		if (size >= need)
			return (struct fit){ g, size };
	}
}

/*
 * Takes need bytes from the front of free block f: the remainder stays free
 * when it is at least HEAP_MIN_BLOCK, else the whole block is taken. Returns
 * the bytes taken. Touches no header but the new remainder's.
 */
static inline uint32_t carve_front(struct heap *h, struct fit f, uint32_t need)
{
	uint32_t c = chunk_of(f.g);

	*free_map(h, c) &= ~bit_of(f.g);
	if (f.size - need >= HEAP_MIN_BLOCK) {
		gran_t rest = f.g + need / HEAP_GRANULE;
		uint32_t rc = chunk_of(rest);
#if KHEAP_DEBUG
		debug_check_poison(h, f.g, payload(h, f.g), block_addr(h, rest));
#endif
		set_free_block(h, rest, f.size - need);
		*free_map(h, rc) |= bit_of(rest);
		if (rc != c)
			raise_chunk_max(h, rc, (int32_t)(f.size - need));
		chunk_lost(h, c, f.size);
		return need;
	}
#if KHEAP_DEBUG
	debug_check_poison(h, f.g, payload(h, f.g), block_addr(h, f.g) + f.size - FOOTER_BYTES);
#endif
	chunk_lost(h, c, f.size);
	h->free_blocks--;
	return f.size;
}

/* Marks block g (size bytes) allocated and returns its payload. */
static inline void *mark_used(struct heap *h, gran_t g, uint32_t size, size_t requested)
{
	*header_word(h, g) = size | HDR_USED;
	*live_map(h, chunk_of(g)) |= bit_of(g);
	h->used_blocks++;
	h->used_bytes += size;
#if KHEAP_DEBUG
	debug_mark_live(h, g, requested);
#else
	(void)requested;
#endif
	return payload(h, g);
}

/*
 * The free block that ends where block g starts, or NIL. Exact, though the
 * word before g is caller data when that block is used: the word is
 * believed as a footer only if a free block of exactly that size starts
 * where it points, and such a block necessarily ends at g.
 */
static inline gran_t free_block_before(const struct heap *h, gran_t g)
{
	if (g == 0)
		return NIL;
	uint32_t size = footer_before(h, g);
	gran_t start = g - size / HEAP_GRANULE;
	if (size % HEAP_GRANULE != 0 || size == 0 || size / HEAP_GRANULE > g ||
	    !(*free_map(h, chunk_of(start)) & bit_of(start)) || block_size(h, start) != size)
		return NIL;
	return start;
}

static inline bool is_free_start(const struct heap *h, gran_t g)
{
	return g < h->granules && (*free_map(h, chunk_of(g)) & bit_of(g));
}

/*
 * Returns live block g to free memory, merging it at once with free
 * neighbours on both sides. The block must have passed validation.
 */
static inline void release(struct heap *h, gran_t g)
{
	uint32_t size = block_size(h, g);
	gran_t end = g + size / HEAP_GRANULE;
	bool merge_next = is_free_start(h, end);
	uint32_t next_size = merge_next ? block_size(h, end) : 0;
	gran_t prev = free_block_before(h, g);
	gran_t start = prev == NIL ? g : prev;
	uint32_t total = (end - start) * HEAP_GRANULE + next_size;

	*live_map(h, chunk_of(g)) &= ~bit_of(g);
	h->used_blocks--;
	h->used_bytes -= size;
#if KHEAP_DEBUG
	/* Everything but the merged block's header and footer becomes poison. */
	uint8_t *lo = start == g ? block_addr(h, g) : block_addr(h, g) - FOOTER_BYTES;
	uint8_t *hi = merge_next ? payload(h, end) : block_addr(h, end);
	memset(lo, HEAP_POISON_BYTE, (size_t)(hi - lo));
#endif
	set_free_block(h, start, total);
	if (merge_next) {
		uint32_t nc = chunk_of(end);
		*free_map(h, nc) &= ~bit_of(end);
		h->free_blocks--;
		if (nc != chunk_of(start))
			chunk_lost(h, nc, next_size);
	}
	if (start == g) {
		*free_map(h, chunk_of(g)) |= bit_of(g);
		h->free_blocks++;
	}
	raise_chunk_max(h, chunk_of(start), (int32_t)total);
}

/* ---- validation of caller pointers ---- */

/* The live block holding granule g (which is not a live start), or NIL if g is in free memory. */
static gran_t live_block_containing(const struct heap *h, gran_t g)
{
	uint32_t c = chunk_of(g);
	uint64_t below = *live_map(h, c) & (bit_of(g) - 1);

	while (below == 0) {
		if (c == 0)
			return NIL;
		below = *live_map(h, --c);
	}
	gran_t u = c * CHUNK_GRANULES + 63 - (gran_t)__builtin_clzll(below);
	return block_end(h, u) > g ? u : NIL;
}

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
	gran_t g = (gran_t)((p - first) / HEAP_GRANULE);
	gran_t owner = live_block_containing(h, g);
	if (owner != NIL)
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
				     !is_live(h, g), 0))
		bad_pointer(h, ptr, by);
	return g;
}

/* ---- public API ---- */

struct heap *heap_init(void *base, size_t size)
{
	uintptr_t start = ALIGN_UP((uintptr_t)base, (uintptr_t)64);
	uintptr_t end = (uintptr_t)base + size;
	if (size == 0 || end < (uintptr_t)base || start + sizeof(struct heap) > end)
		return NULL;

	struct heap *h = (struct heap *)start;
	memset(h, 0, sizeof(*h));
	uintptr_t meta = ALIGN_UP(start + sizeof(struct heap), (uintptr_t)64);
	if (meta >= end)
		return NULL;
	/* Metadata is sized for the most granules the region could hold. */
	size_t max_gran = MIN((size_t)(end - meta), HEAP_MAX_ARENA) / HEAP_GRANULE;
	h->chunks = (uint32_t)((max_gran + CHUNK_GRANULES - 1) / CHUNK_GRANULES);
	if (h->chunks == 0)
		return NULL;
	h->map = (uint64_t *)meta;
	meta += (size_t)h->chunks * 2 * sizeof(uint64_t);
	for (uint32_t n = h->chunks;;) {
		if (h->levels == MAX_LEVELS)
			return NULL;
		uint32_t len = ALIGN_UP(n, HEAP_FANOUT);
		meta = ALIGN_UP(meta, (uintptr_t)64); /* one group per cache line */
		h->level[h->levels] = (int32_t *)meta;
		h->level_len[h->levels++] = len;
		meta += len * sizeof(int32_t);
		if (len == HEAP_FANOUT)
			break;
		n = len / HEAP_FANOUT;
	}
	/* The payload of block 0 must be 16-aligned. */
	uintptr_t arena = ALIGN_UP(meta + HEAP_HEADER_SIZE, HEAP_GRANULE) - HEAP_HEADER_SIZE;
	if (arena >= end || (end - arena) / HEAP_GRANULE * HEAP_GRANULE < HEAP_MIN_BLOCK)
		return NULL;

	memset((void *)(start + sizeof(struct heap)), 0, (size_t)(arena - start - sizeof(struct heap)));
	h->magic = HEAP_MAGIC;
	h->arena = (uint8_t *)arena;
	h->granules = (gran_t)(MIN((size_t)(end - arena), HEAP_MAX_ARENA) / HEAP_GRANULE);
	h->metadata_bytes = arena - (uintptr_t)base;

	uint32_t size0 = h->granules * HEAP_GRANULE;
#if KHEAP_DEBUG
	memset(h->arena, HEAP_POISON_BYTE, size0);
#endif
	set_free_block(h, 0, size0);
	*free_map(h, 0) = 1;
	h->free_blocks = 1;
	raise_chunk_max(h, 0, (int32_t)size0);
	return h;
}

void *heap_alloc(struct heap *h, size_t n)
{
	uint32_t need = block_size_for(n);
	if (need == 0)
		return NULL;
	struct fit f = first_fit(h, need);
	if (f.g == NIL)
		return NULL;
	return mark_used(h, f.g, carve_front(h, f, need), n);
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
 * Splits free block f into a free block of gap bytes and the free block
 * right after it, which it returns. The two touch until the caller carves
 * the second one's front.
 */
static struct fit split_free(struct heap *h, struct fit f, uint32_t gap)
{
	struct fit rest = { f.g + gap / HEAP_GRANULE, f.size - gap };
	uint32_t c = chunk_of(f.g), rc = chunk_of(rest.g);

	set_free_block(h, f.g, gap);
	set_free_block(h, rest.g, rest.size);
	*free_map(h, rc) |= bit_of(rest.g);
	h->free_blocks++;
	if (rc != c)
		raise_chunk_max(h, rc, (int32_t)rest.size);
	chunk_lost(h, c, f.size);
	return rest;
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
	struct fit f = first_fit(h, (uint32_t)padded);
	if (f.g == NIL)
		return NULL;

	uintptr_t p0 = (uintptr_t)payload(h, f.g);
	uint32_t gap = (uint32_t)(ALIGN_UP(p0, (uintptr_t)align) - p0);
	if (gap != 0 && gap < HEAP_MIN_BLOCK)
		gap += (uint32_t)align;
	if (gap != 0)
		f = split_free(h, f, gap); /* the gap stays a free block */
	return mark_used(h, f.g, carve_front(h, f, need), n);
}

/* Frees the tail of live block g beyond its first keep bytes, when that makes a block. */
static void shrink_in_place(struct heap *h, gran_t g, uint32_t keep)
{
	uint32_t size = block_size(h, g);
	if (size - keep < HEAP_MIN_BLOCK)
		return;
	gran_t tail = g + keep / HEAP_GRANULE;
	*header_word(h, g) = keep | HDR_USED;
	*header_word(h, tail) = (size - keep) | HDR_USED;
	*live_map(h, chunk_of(tail)) |= bit_of(tail);
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
	} else if (is_free_start(h, end) && size + block_size(h, end) >= need) {
		struct fit next = { end, block_size(h, end) };
		uint32_t taken = carve_front(h, next, need - size); /* grow into the next block */
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
		.largest_request = largest > 0 ? (size_t)largest - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN : 0,
		.used_blocks = h->used_blocks,
		.free_blocks = h->free_blocks,
		.header_bytes = HEAP_HEADER_SIZE,
	};
}

/* ---- checking and dumping ---- */

static size_t count_map_bits(const struct heap *h, size_t which)
{
	size_t n = 0;
	for (uint32_t c = 0; c < h->chunks; c++)
		n += (size_t)__builtin_popcountll(h->map[2 * c + which]);
	return n;
}

/* Every block in address order: sizes, flags, footers, bitmaps, counters, debug bytes. */
static void check_blocks(const struct heap *h)
{
	bool after_free = false;
	size_t used = 0, used_bytes = 0, nfree = 0;

	for (gran_t g = 0; g < h->granules;) {
		const void *at = payload(h, g);
		uint32_t word = *header_word(h, g);
		uint32_t size = word & ~(uint32_t)HDR_FLAGS;
		bool used_block = word & HDR_USED;
		bool free_bit = *free_map(h, chunk_of(g)) & bit_of(g);

		if (word & HDR_FLAGS & ~(uint32_t)HDR_USED)
			panic("heap_check: block %p has unknown header flags (0x%x)", at, word);
		if (size < HEAP_MIN_BLOCK || size / HEAP_GRANULE > h->granules - g)
			panic("heap_check: block %p has a bad size (%u bytes)", at, size);
		if (is_live(h, g) != used_block || free_bit == used_block)
			panic("heap_check: block %p is %s but the bitmaps disagree", at,
			      used_block ? "used" : "free");
		gran_t end = g + size / HEAP_GRANULE;
		if (end < h->granules && !is_live(h, end) && !(*free_map(h, chunk_of(end)) & bit_of(end)))
			panic("heap_check: block %p claims %u bytes, but no block starts where it ends (%p)",
			      at, size, (const void *)payload(h, end));
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
#if KHEAP_DEBUG
			const uint8_t *bad = first_byte_not(payload(h, g),
							    block_addr(h, g) + size - FOOTER_BYTES,
							    HEAP_POISON_BYTE);
			if (bad)
				panic("heap_check: free block %p was written to at %p (use after free)", at,
				      (const void *)bad);
#endif
			nfree++;
		}
		after_free = !used_block;
		g = end;
	}
	if (used != h->used_blocks || used_bytes != h->used_bytes || nfree != h->free_blocks)
		panic("heap_check: counters say %zu used (%zu bytes) and %zu free blocks, "
		      "the heap holds %zu (%zu bytes) and %zu",
		      h->used_blocks, h->used_bytes, h->free_blocks, used, used_bytes, nfree);
	if (count_map_bits(h, 0) != nfree || count_map_bits(h, 1) != used)
		panic("heap_check: the bitmaps mark %zu free and %zu live blocks, the heap holds %zu and %zu",
		      count_map_bits(h, 0), count_map_bits(h, 1), nfree, used);
}

/* Every chunk maximum against its (checked) bitmap, every tree level against the one below. */
static void check_tree(const struct heap *h)
{
	for (uint32_t c = 0; c < h->level_len[0]; c++) {
		int32_t largest = 0;
		for (uint64_t bits = c < h->chunks ? *free_map(h, c) : 0; bits; bits &= bits - 1)
			largest = MAX(largest, (int32_t)block_size(h, lowest_in(c, bits)));
		if (chunk_max(h, c) != largest)
			panic("heap_check: chunk %u (%p) records a largest free block of %d bytes, "
			      "it holds %d", c, (const void *)block_addr(h, c * CHUNK_GRANULES),
			      (int)chunk_max(h, c), (int)largest);
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
	check_tree(h);
}

void heap_walk(const struct heap *h, heap_block_fn fn, void *arg)
{
	for (gran_t g = 0; g < h->granules; g += block_size(h, g) / HEAP_GRANULE)
		fn(block_addr(h, g), block_size(h, g), block_used(h, g), arg);
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
