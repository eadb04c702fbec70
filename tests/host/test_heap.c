/*
 * mm/heap.c: placement (exact first fit, split, merge), the API's contracts,
 * every row of the bad-input table, heap_check's eye for damage, and
 * a differential run against the linear reference model.
 * Built twice, both under ASan and UBSan: with KHEAP_DEBUG=1 (red zones and
 * poison on: the build the kernel boots) and KHEAP_DEBUG=0 (the release
 * build the benchmarks measure). The rows of the bad-input table that red
 * zones and poison answer are tested in the first; the second proves instead
 * what a release build promises there: the damage is not seen, but it never
 * reaches the allocator, which keeps no state where a caller can write.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "lib/kprintf.h"
#include "lib/xorshift.h"
#include "mm/heap.h"
#include "mm/heap_internal.h"
#include "tests/host/support/host_support.h"
#include "tests/model/heap_diff.h"

#define REGION_BYTES ((size_t)1 << 20)

static uint8_t region[REGION_BYTES] __attribute__((aligned(65536)));
static uint8_t region2[REGION_BYTES] __attribute__((aligned(65536)));
static char expected[256];

#define EXPECT_MSG(...) (ksnprintf(expected, sizeof(expected), __VA_ARGS__), expected)

/* The block a request of n bytes takes: the policy documented in mm/heap.h. */
static size_t block_bytes(size_t n)
{
	size_t b = (n + HEAP_HEADER_SIZE + HEAP_REDZONE_MIN + HEAP_GRANULE - 1) / HEAP_GRANULE * HEAP_GRANULE;
	return b < HEAP_MIN_BLOCK ? HEAP_MIN_BLOCK : b;
}

static struct heap *new_heap(size_t size)
{
	struct heap *h = heap_init(region, size);
	cr_assert(h != NULL);
	heap_check(h);
	return h;
}

/* A heap larger than region, over a buffer from the C library (*buf, which the caller frees). */
static struct heap *new_big_heap(size_t bytes, uint8_t **buf)
{
	*buf = aligned_alloc(64, bytes);
	cr_assert_not_null(*buf);
	struct heap *h = heap_init(*buf, bytes);
	cr_assert_not_null(h);
	return h;
}

static struct heap_stats stats_of(const struct heap *h)
{
	struct heap_stats st;
	heap_stats(h, &st);
	return st;
}

static void assert_same_stats(const struct heap_stats *a, const struct heap_stats *b)
{
	cr_assert(memcmp(a, b, sizeof(*a)) == 0, "heap statistics changed");
}

/* ---- building heaps ---- */

Test(heap_init, rejects_regions_too_small_for_metadata_and_a_block)
{
	cr_assert_null(heap_init(region, 0));
	cr_assert_null(heap_init(region, 64));
	cr_assert_null(heap_init(region, 200));
	size_t smallest = 0;
	for (size_t size = 64; size < 4096 && !smallest; size += 16) {
		if (heap_init(region, size))
			smallest = size;
	}
	cr_assert(smallest > 0);
	struct heap *h = heap_init(region, smallest);
	cr_assert_not_null(heap_alloc(h, 1));
	heap_check(h);
}

/* The least a heap needs, at any base alignment: its metadata and one minimal block, not a byte more. */
Test(heap_init, accepts_a_region_of_exactly_the_metadata_and_one_minimal_block)
{
	for (size_t shift = 0; shift < 64; shift += 9) {
		size_t smallest = heap_metadata_bytes_for(region + shift, 1) + HEAP_MIN_BLOCK;
		cr_assert_null(heap_init(region + shift, smallest - 1), "base %% 64 = %zu", shift);
		struct heap *h = heap_init(region + shift, smallest);
		cr_assert_not_null(h, "base %% 64 = %zu", shift);
		cr_assert_eq(stats_of(h).arena_bytes, HEAP_MIN_BLOCK);
		void *p = heap_alloc(h, HEAP_MIN_BLOCK - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN);
		cr_assert_not_null(p);
		cr_assert_null(heap_alloc(h, 1));
		heap_free(h, p);
		heap_check(h);
	}
}

Test(heap_init, accepts_any_base_alignment_and_stays_inside_the_region)
{
	for (size_t shift = 0; shift < 80; shift += 7) {
		size_t size = 100000 - shift;
		struct heap *h = heap_init(region + shift, size);
		cr_assert_not_null(h);
		struct heap_stats st = stats_of(h);
		uint8_t *arena = st.arena;
		cr_assert((uintptr_t)h >= (uintptr_t)(region + shift));
		cr_assert(arena >= region + shift + st.metadata_bytes - HEAP_GRANULE);
		cr_assert(arena + st.arena_bytes <= region + shift + size);
		cr_assert_eq(st.metadata_bytes + st.arena_bytes + HEAP_GRANULE > size, true,
			     "more than a granule of the region is unused");
		void *p = heap_alloc(h, 10);
		cr_assert((uintptr_t)p % HEAP_GRANULE == 0);
		heap_check(h);
	}
}

/*
 * Block 0 comes right after the metadata (whose last part is the tree's top
 * level): its payload is the first 16-aligned address with room for the
 * debug header before it, so less than a granule lies unused between them.
 */
Test(heap_init, block_0_follows_the_metadata_without_a_wasted_granule)
{
	for (size_t shift = 0; shift < 80; shift += 7) {
		struct heap *h = heap_init(region + shift, 100000 - shift);
		cr_assert_not_null(h);
		uint32_t top = h->tree_levels - 1;
		uint8_t *meta_end = (uint8_t *)(h->tree[top] + h->tree_len[top]);
		uint8_t *arena = stats_of(h).arena;
		cr_assert_eq((uintptr_t)(arena + HEAP_HEADER_SIZE) % HEAP_GRANULE, 0);
		cr_assert_geq(arena, meta_end);
		cr_assert_lt(arena - meta_end, HEAP_GRANULE, "base %% 64 = %zu: %td bytes unused before block 0",
			     shift, arena - meta_end);
	}
}

/*
 * For regions of every size from 4 KiB to 1 MiB (geometric steps, odd
 * sizes and bases among them): the arena ends inside the region, and it is
 * the largest that does: one more granule, with the metadata it would need,
 * would not fit. (heap_init once stepped to an arena its own metadata did
 * not leave room for, and ran up to 177 bytes past regions of this range;
 * the debug build's poison fill then wrote there, which ASan reports.)
 */
Test(heap_init, takes_the_largest_arena_that_fits_inside_the_region)
{
	size_t sizes = 0;
	for (size_t size = 4096; size <= REGION_BYTES - 64; size += size / 23 + 7, sizes++) {
		size_t shift = sizes % 61;
		uint8_t *base = region + shift;
		size = MIN(size, REGION_BYTES - shift);
		struct heap *h = heap_init(base, size);
		cr_assert_not_null(h, "heap_init(%zu bytes)", size);
		struct heap_stats st = stats_of(h);
		uint32_t n = (uint32_t)(st.arena_bytes / HEAP_GRANULE);
		cr_assert_eq(st.metadata_bytes, heap_metadata_bytes_for(base, n));
		cr_assert_eq(st.arena, base + st.metadata_bytes);
		cr_assert(st.metadata_bytes + st.arena_bytes <= size,
			  "%zu-byte region: the arena ends %zu bytes past it", size,
			  st.metadata_bytes + st.arena_bytes - size);
		cr_assert(heap_metadata_bytes_for(base, n + 1) + (size_t)(n + 1) * HEAP_GRANULE > size,
			  "%zu-byte region: room for %u granules, not only %u", size, n + 1, n);
		heap_check(h);
	}
	cr_assert_gt(sizes, 100);
}

/*
 * A region at the very top of the address space: rounding base up, or the
 * metadata laid out after it, can wrap past 2^N to a low address. Every
 * size here is too small for a heap anywhere (checked on a real buffer
 * with the same alignment), so the answer must be NULL, without a write:
 * the top of the address space is not mapped, and a write there crashes.
 * (heap_init once took the wrapped address for room: a 1 GiB arena at a
 * low address, and struct heap written at 0.)
 */
Test(heap_init, refuses_regions_at_the_top_of_the_address_space_that_cannot_hold_a_heap)
{
	size_t tried = 0;
	for (size_t size = 1; size <= 0x400; size += size < 80 ? 1 : 13) {
		for (uintptr_t gap = 0; gap < 3 * 64; gap += 37) { /* how far below the top the region ends */
			uintptr_t base = UINTPTR_MAX - gap - size;
			if (heap_init(region + base % 64, size) != NULL)
				continue; /* a heap fits a region like it: not a case for this test */
			cr_assert_null(heap_init((void *)base, size), "%zu bytes at %p", size, (void *)base);
			tried++;
		}
	}
	cr_assert_gt(tried, 100);
	cr_assert_null(heap_init((void *)(UINTPTR_MAX - 0xfff), 0x1000),
		       "a region ending past the top: base + size wraps to 0");
}

#if !KHEAP_DEBUG
/*
 * A region larger than HEAP_MAX_ARENA: the arena stops short of it, sentinel
 * included. Release build only: a debug heap_init() poisons the whole GiB.
 */
Test(heap_init, a_region_past_the_largest_arena_gets_the_largest_arena)
{
	size_t bytes = HEAP_MAX_ARENA + ((size_t)64 << 20);
	uint8_t *big;
	struct heap *h = new_big_heap(bytes, &big);
	struct heap_stats st = stats_of(h);
	cr_assert_leq(st.arena_bytes, HEAP_MAX_ARENA);
	cr_assert_gt(st.arena_bytes, HEAP_MAX_ARENA - HEAP_CHUNK_BYTES);
	free(big);
}
#endif

/*
 * The summary is as small as its bits allow (mm/heap_internal.h): level 0
 * has a bit per chunk, each level above a bit per word of the one below,
 * up to a single word. Chunk counts around and at multiples of 64 and of
 * 64 * 64, where a word count rounded up once too often would add a word
 * or a level, and one rounded down would leave the last chunk's bit out.
 */
Test(heap_init, the_summary_has_a_bit_per_chunk_and_per_word_below_and_no_more)
{
	static const uint32_t chunk_counts[] = { 63, 64, 65, 511, 512, 513, 4096, 4097, 8193 };
	for (size_t i = 0; i < sizeof(chunk_counts) / sizeof(chunk_counts[0]); i++) {
		uint32_t n = (chunk_counts[i] - 1) * HEAP_CHUNK_GRANULES + 7; /* chunks: n / 64 + 1 */
		size_t bytes = ALIGN_UP(heap_metadata_bytes_for(region, n) + (size_t)n * HEAP_GRANULE, 64);
		uint8_t *buf;
		struct heap *h = new_big_heap(bytes, &buf);
		cr_assert_eq(h->chunks, chunk_counts[i]);
		uint32_t bits = h->chunks;
		for (uint32_t l = 0; l < h->summary_levels; l++) {
			cr_assert_eq(h->summary_words[l], (bits + 63) / 64, "%u chunks: level %u", h->chunks, l);
			bits = h->summary_words[l];
		}
		cr_assert_eq(bits, 1, "%u chunks: the top level is one word", h->chunks);
		cr_assert(h->summary_levels == 1 || h->summary_words[h->summary_levels - 2] > 1,
			  "%u chunks: a level above a single word", h->chunks);
		heap_check(h);
		free(buf);
	}
}

Test(heap_init, a_fresh_heap_is_one_free_block)
{
	struct heap *h = new_heap(REGION_BYTES);
	struct heap_stats st = stats_of(h);
	cr_assert_eq(st.free_blocks, 1);
	cr_assert_eq(st.used_blocks, 0);
	cr_assert_eq(st.used_bytes, 0);
	cr_assert_eq(st.free_bytes, st.arena_bytes);
	cr_assert_eq(st.largest_free, st.arena_bytes);
	cr_assert_eq(st.header_bytes, HEAP_HEADER_SIZE);
	cr_assert(st.metadata_bytes < REGION_BYTES / 40, "metadata should stay near 2%%");
	/* largest_request is exact: it fits, one byte more does not. */
	cr_assert_null(heap_alloc(h, st.largest_request + 1));
	void *p = heap_alloc(h, st.largest_request);
	cr_assert_not_null(p);
	cr_assert_eq(stats_of(h).free_blocks, 0);
	heap_free(h, p);
	heap_check(h);
}

Test(heap_init, heaps_side_by_side_are_independent)
{
	struct heap *a = heap_init(region, 65536), *b = heap_init(region2, 65536);
	void *pa = heap_alloc(a, 100), *pb = heap_alloc(b, 100);
	cr_assert(pa && pb);
	cr_assert_eq((uint8_t *)pa - region, (uint8_t *)pb - region2);
	cr_assert(HOST_PANICS(heap_free(a, pb)));
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("kfree: %p is not a heap pointer", pb));
	heap_free(b, pb);
	heap_free(a, pa);
	heap_check(a);
	heap_check(b);
}

/* ---- allocation and placement ---- */

Test(heap_alloc, pointers_are_aligned_disjoint_and_usable)
{
	struct heap *h = new_heap(REGION_BYTES);
	static void *p[600];
	static size_t n[600];
	for (size_t i = 0; i < 600; i++) {
		n[i] = 1 + (i * 37) % 1500;
		p[i] = heap_alloc(h, n[i]);
		cr_assert_not_null(p[i]);
		cr_assert((uintptr_t)p[i] % HEAP_GRANULE == 0);
		cr_assert(heap_usable_size(h, p[i]) >= n[i]);
		memset(p[i], (int)i, n[i]);
	}
	heap_check(h);
	for (size_t i = 0; i < 600; i++) {
		for (size_t k = 0; k < n[i]; k++)
			cr_assert_eq(((uint8_t *)p[i])[k], (uint8_t)i);
		if (i % 3)
			heap_free(h, p[i]);
	}
	heap_check(h);
}

Test(heap_alloc, takes_the_lowest_addressed_block_that_fits)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100), *b = heap_alloc(h, 1000), *c = heap_alloc(h, 100);
	uint8_t *d = heap_alloc(h, 400), *e = heap_alloc(h, 100);
	cr_assert(a && b && c && d && e);
	heap_free(h, b);
	heap_free(h, d);
	/* 300 fits b's hole, d's hole and the top: the lowest wins, though d's fits better. */
	uint8_t *x = heap_alloc(h, 300);
	cr_assert_eq(x, b);
	/* 350 still fits what is left of b's hole, right after x. */
	uint8_t *y = heap_alloc(h, 350);
	cr_assert_eq(y, b + block_bytes(300));
	/* 390 no longer does: d's hole is the lowest that fits. */
	cr_assert_gt(block_bytes(390), block_bytes(1000) - block_bytes(300) - block_bytes(350));
	cr_assert_eq(heap_alloc(h, 390), d);
	/* And 500 fits no hole: it goes to the top, above e. */
	cr_assert_gt((uint8_t *)heap_alloc(h, 500), e);
	heap_check(h);
}

/* With no free memory left, the statistics say so: nothing free, and no request that would succeed. */
Test(heap_alloc, a_full_heap_reports_no_free_memory_and_no_possible_request)
{
	struct heap *h = new_heap(65536);
	void *all = heap_alloc(h, stats_of(h).largest_request);
	cr_assert_not_null(all);
	struct heap_stats st = stats_of(h);
	cr_assert_eq(st.free_blocks, 0);
	cr_assert_eq(st.free_bytes, 0);
	cr_assert_eq(st.largest_free, 0);
	cr_assert_eq(st.largest_request, 0);
	cr_assert_null(heap_alloc(h, 1));
	heap_free(h, all);
	heap_check(h);
}

Test(heap_alloc, splits_off_any_remainder_that_makes_a_block)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 200);
	void *guard = heap_alloc(h, 16);
	size_t hole = block_bytes(200);
	heap_free(h, a);
	cr_assert_eq(stats_of(h).free_blocks, 2); /* the hole and the top */

	/* An exact fit takes the whole hole. */
	void *b = heap_alloc(h, hole - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN);
	cr_assert_eq(b, a);
	cr_assert_eq(stats_of(h).free_blocks, 1);
	heap_free(h, b);

	/* One leaving HEAP_MIN_BLOCK bytes splits them off as a free block... */
	void *c = heap_alloc(h, hole - HEAP_MIN_BLOCK - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN);
	cr_assert_eq(c, a);
	cr_assert_eq(stats_of(h).free_blocks, 2);
	/* ...which the next small request, first fit, takes. */
	cr_assert_eq(heap_alloc(h, 1), a + hole - HEAP_MIN_BLOCK);
	heap_free(h, guard);
	heap_check(h);
}

Test(heap_free, merges_with_free_neighbours_on_both_sides_at_once)
{
	struct heap *h = new_heap(REGION_BYTES);
	void *lo = heap_alloc(h, 64), *a = heap_alloc(h, 100), *b = heap_alloc(h, 200);
	void *c = heap_alloc(h, 300), *hi = heap_alloc(h, 64);
	cr_assert(lo && a && b && c && hi);
	size_t span = (size_t)((uint8_t *)hi - (uint8_t *)a);
	heap_free(h, a);
	heap_free(h, c);
	cr_assert_eq(stats_of(h).free_blocks, 3); /* a, c and the top */
	heap_free(h, b);
	struct heap_stats st = stats_of(h);
	cr_assert_eq(st.free_blocks, 2, "a, b and c should have become one block");
	/* The merged block is exactly the span from a to hi: a request of that size goes there. */
	void *m = heap_alloc(h, span - HEAP_HEADER_SIZE - HEAP_REDZONE_MIN);
	cr_assert_eq(m, a);
	heap_check(h);
}

/*
 * A heap whose arena ends at its region's last byte, the region a buffer
 * from malloc (so ASan watches the bytes past it): allocating the last
 * block, whatever its size (so whatever its red zone in a debug build),
 * using it, checking and freeing it reads and writes nothing past the region.
 */
Test(heap_free, the_last_block_of_a_full_region_is_handled_inside_the_region)
{
	uint32_t n = 100;
	size_t size = heap_metadata_bytes_for(region, n) + (size_t)n * HEAP_GRANULE;
	void *buf = NULL;
	cr_assert_eq(posix_memalign(&buf, 64, size), 0, "same alignment as region: same metadata");
	struct heap *h = heap_init(buf, size);
	cr_assert_not_null(h);
	struct heap_stats st = stats_of(h);
	cr_assert_eq((uint8_t *)st.arena + st.arena_bytes, (uint8_t *)buf + size);
	cr_assert_not_null(heap_alloc(h, 100));
	for (size_t less = 0; less < HEAP_GRANULE; less++) {
		size_t want = stats_of(h).largest_request - less;
		uint8_t *p = heap_alloc(h, want);
		cr_assert_not_null(p, "%zu bytes", want);
		cr_assert_eq(p - HEAP_HEADER_SIZE + block_bytes(want), (uint8_t *)buf + size, "the last block");
		memset(p, 0x33, want);
		cr_assert_geq(heap_usable_size(h, p), want);
		heap_check(h);
		heap_free(h, p);
		heap_check(h);
	}
	free(buf);
}

Test(heap_free, freeing_everything_restores_the_fresh_heap)
{
	struct heap *h = new_heap(REGION_BYTES);
	struct heap_stats fresh = stats_of(h);
	static void *p[300];
	for (int i = 0; i < 300; i++)
		p[i] = heap_alloc(h, (size_t)(i * 13 % 700 + 1));
	for (int i = 0; i < 300; i += 2)
		heap_free(h, p[i]);
	for (int i = 1; i < 300; i += 2)
		heap_free(h, p[i]);
	struct heap_stats st = stats_of(h);
	assert_same_stats(&st, &fresh);
	heap_check(h);
}

Test(heap_calloc, returns_zeroed_memory_even_from_dirty_blocks)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *dirty = heap_alloc(h, 4000);
	memset(dirty, 0xab, 4000);
	heap_free(h, dirty);
	uint32_t *z = heap_calloc(h, 1000, sizeof(uint32_t));
	cr_assert_eq((void *)z, (void *)dirty);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(z[i], 0);
	cr_assert_null(heap_calloc(h, 0, 8));
	cr_assert_null(heap_calloc(h, 8, 0));
	heap_check(h);
}

/* ---- aligned allocation ---- */

Test(heap_alloc_aligned, every_power_of_two_from_16_to_64k)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 40); /* put the next free payload off any large alignment */
	for (size_t align = 16; align <= 65536; align *= 2) {
		for (size_t size = 1; size < 5000; size = size * 3 + 7) {
			uint8_t *p = heap_alloc_aligned(h, size, align);
			cr_assert_not_null(p, "align %zu size %zu", align, size);
			cr_assert((uintptr_t)p % align == 0, "align %zu: %p", align, (void *)p);
			memset(p, 0x5a, size);
			heap_check(h);
			heap_free(h, p);
		}
	}
	heap_check(h);
}

Test(heap_alloc_aligned, small_alignments_are_plain_first_fit)
{
	struct heap *h = new_heap(REGION_BYTES);
	void *a = heap_alloc(h, 100);
	heap_free(h, a);
	cr_assert_eq(heap_alloc_aligned(h, 100, 16), a);
	cr_assert_eq(heap_alloc_aligned(h, 50, 1), (uint8_t *)a + 112);
	heap_check(h);
}

Test(heap_alloc_aligned, the_gap_before_the_block_stays_free_for_others)
{
	struct heap *h = new_heap(REGION_BYTES);
	void *small = heap_alloc(h, 40);
	cr_assert_not_null(small);
	uint8_t *p = heap_alloc_aligned(h, 100, 4096);
	cr_assert((uintptr_t)p % 4096 == 0);
	cr_assert_eq(stats_of(h).free_blocks, 2); /* the gap and the top */
	void *q = heap_alloc(h, 64); /* first fit: into the gap, below p */
	cr_assert((uint8_t *)q < p);
	heap_check(h);
}

/* ---- realloc ---- */

Test(heap_realloc, null_allocates_and_zero_frees)
{
	struct heap *h = new_heap(REGION_BYTES);
	struct heap_stats fresh = stats_of(h);
	void *p = heap_realloc(h, NULL, 100);
	cr_assert_not_null(p);
	cr_assert_null(heap_realloc(h, p, 0));
	struct heap_stats st = stats_of(h);
	assert_same_stats(&st, &fresh);
}

Test(heap_realloc, shrinks_in_place_and_frees_the_tail)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *p = heap_alloc(h, 1000);
	void *guard = heap_alloc(h, 16);
	memset(p, 7, 1000);
	size_t free_before = stats_of(h).free_bytes;
	cr_assert_eq(heap_realloc(h, p, 100), p);
	cr_assert(stats_of(h).free_bytes >= free_before + 800);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(p[i], 7);
	cr_assert_eq(heap_alloc(h, 500), p + 112, "the tail is free memory again");
	heap_free(h, guard);
	heap_check(h);
}

Test(heap_realloc, grows_in_place_into_a_free_successor)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *p = heap_alloc(h, 100), *next = heap_alloc(h, 2000);
	heap_alloc(h, 16);
	memset(p, 3, 100);
	heap_free(h, next);
	cr_assert_eq(heap_realloc(h, p, 1500), p);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(p[i], 3);
	heap_check(h);
}

Test(heap_realloc, moves_when_it_must_and_keeps_the_contents)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *p = heap_alloc(h, 300);
	heap_alloc(h, 16); /* p cannot grow in place */
	for (int i = 0; i < 300; i++)
		p[i] = (uint8_t)i;
	uint8_t *q = heap_realloc(h, p, 5000);
	cr_assert(q && q != p);
	for (int i = 0; i < 300; i++)
		cr_assert_eq(q[i], (uint8_t)i);
	cr_assert(HOST_PANICS(heap_free(h, p)), "the old block was freed by the move");
	heap_check(h);
}

Test(heap_realloc, failure_leaves_the_block_untouched)
{
	struct heap *h = new_heap(65536);
	uint8_t *p = heap_alloc(h, 1000);
	memset(p, 9, 1000);
	struct heap_stats before = stats_of(h);
	cr_assert_null(heap_realloc(h, p, 1 << 20));
	cr_assert_null(heap_realloc(h, p, SIZE_MAX));
	struct heap_stats after = stats_of(h);
	assert_same_stats(&before, &after);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(p[i], 9);
	heap_free(h, p);
	heap_check(h);
}

Test(heap_realloc, rejects_bad_pointers_like_free)
{
	struct heap *h = new_heap(REGION_BYTES);
	int local;
	cr_assert(HOST_PANICS(heap_realloc(h, &local, 10)));
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("krealloc: %p is not a heap pointer", (void *)&local));
	void *p = heap_alloc(h, 100);
	heap_free(h, p);
	cr_assert(HOST_PANICS(heap_realloc(h, p, 10)));
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("krealloc: %p was already freed", p));
}

/* ---- the bad-input table, one test per row ---- */

Test(bad_input, kfree_null_does_nothing)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 10);
	struct heap_stats before = stats_of(h);
	heap_free(h, NULL);
	struct heap_stats after = stats_of(h);
	assert_same_stats(&before, &after);
	kheap_attach(region2, 65536);
	kfree(NULL);
	kheap_check();
}

Test(bad_input, kfree_of_a_pointer_outside_the_heap_panics)
{
	kheap_attach(region, REGION_BYTES);
	struct heap_stats st;
	kheap_stats(&st);
	int local;
	void *outside[] = { &local, region2 + 4096, (uint8_t *)st.arena + st.arena_bytes + 16,
			    (uint8_t *)kheap_instance() + 64, (void *)(uintptr_t)16 };
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
		cr_assert(HOST_PANICS(kfree(outside[i])));
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("kfree: %p is not a heap pointer", outside[i]));
	}
	kheap_check();
}

Test(bad_input, kfree_inside_a_block_panics_naming_the_address)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(200);
	memset(p, 0, 200);
	for (size_t off = 16; off < 200; off += 48) {
		cr_assert(HOST_PANICS(kfree(p + off)));
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("kfree: %p points inside the block at %p", (void *)(p + off), (void *)p));
	}
	kfree(p);
	kheap_check();
}

Test(bad_input, forged_headers_inside_a_block_do_not_fool_kfree)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(512);
	kmalloc(16);
	/* Every word looks like the header of a used 48-byte block. */
	for (size_t off = 0; off + 4 <= 512; off += 4)
		*(uint32_t *)(p + off) = 48 | 1;
	struct heap_stats before, after;
	kheap_stats(&before);
	for (size_t off = 16; off < 512; off += 16) {
		cr_assert(HOST_PANICS(kfree(p + off)), "offset %zu", off);
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("kfree: %p points inside the block at %p", (void *)(p + off), (void *)p));
	}
	kheap_stats(&after);
	assert_same_stats(&before, &after);
	kfree(p);
	kheap_check();
}

/*
 * Boundaries live only in the metadata: bytes a caller writes never pass
 * for one. In a boundary-tag heap the last word of u1 would be read as the
 * footer of u2's predecessor; here it changes nothing.
 */
Test(bad_input, caller_data_never_passes_for_a_block_boundary)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *f = heap_alloc(h, 100), *u1 = heap_alloc(h, 100), *u2 = heap_alloc(h, 100);
	heap_alloc(h, 16);
	heap_free(h, f); /* a free block two blocks before u2 */
	/* u1's last word "says" u2's predecessor is a free block starting where f does. */
	uint32_t *word = (uint32_t *)(u2 - HEAP_HEADER_SIZE - sizeof(uint32_t));
	uint32_t saved = *word;
	*word = (uint32_t)(u2 - f);
	size_t free_blocks = stats_of(h).free_blocks;
	heap_free(h, u2);
	cr_assert_eq(stats_of(h).free_blocks, free_blocks + 1, "u2 must stand alone, not merge across u1");
	*word = saved; /* repair u1's red zone */
	heap_check(h);
	heap_free(h, u1); /* now the three merge */
	cr_assert_eq(stats_of(h).free_blocks, free_blocks);
	heap_check(h);
}

Test(bad_input, kfree_of_a_misaligned_pointer_panics_naming_the_address)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(200);
	for (size_t off = 1; off < 16; off += 5) {
		cr_assert(HOST_PANICS(kfree(p + off)));
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("kfree: %p is misaligned: no heap block starts there",
					    (void *)(p + off)));
	}
	kfree(p);
	kheap_check();
}

Test(bad_input, double_free_panics)
{
	kheap_attach(region, REGION_BYTES);
	void *a = kmalloc(100), *b = kmalloc(100), *c = kmalloc(100);
	kmalloc(100);
	kfree(b);
	cr_assert(HOST_PANICS(kfree(b)), "a lone free block");
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("double free of %p", b));
	kfree(a);
	kfree(c); /* b is now in the middle of one merged free block */
	cr_assert(HOST_PANICS(kfree(b)), "a block merged into its neighbours");
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("double free of %p", b));
	cr_assert(HOST_PANICS(kfree(c)));
	cr_assert_str_eq(host_panic_message, EXPECT_MSG("double free of %p", c));
	kheap_check();
}

#if KHEAP_DEBUG
/* Writes the byte just past p's n requested ones: kfree must name the overflow. Then repairs and frees p. */
static void expect_overflow_caught_at_kfree(uint8_t *p, size_t n)
{
	p[n] = 'x';
	cr_assert(HOST_PANICS(kfree(p)), "size %zu", n);
	cr_assert_str_eq(host_panic_message,
			 EXPECT_MSG("heap: overflow past block %p (%zu bytes requested): "
				    "red zone changed at %p", (void *)p, n, (void *)(p + n)));
	p[n] = HEAP_REDZONE_BYTE; /* repair, then it frees cleanly */
	kfree(p);
}

Test(bad_input, one_byte_overflow_is_caught_at_kfree)
{
	kheap_attach(region, REGION_BYTES);
	for (size_t n = 1; n < 70; n += 3)
		expect_overflow_caught_at_kfree(kmalloc(n), n);
	kheap_check();
}

/* Not only the first: a write at any red-zone byte is caught and named, however aligned. */
Test(bad_input, a_write_at_any_red_zone_byte_is_caught_at_kfree)
{
	kheap_attach(region, REGION_BYTES);
	for (size_t n = 1; n <= 48; n++) {
		uint8_t *p = kmalloc(n);
		uint8_t *end = p - HEAP_HEADER_SIZE + block_bytes(n);
		for (uint8_t *at = p + n; at < end; at++) {
			*at ^= 0x01;
			cr_assert(HOST_PANICS(kfree(p)), "size %zu, red-zone byte %td", n, at - (p + n));
			cr_assert_str_eq(host_panic_message,
					 EXPECT_MSG("heap: overflow past block %p (%zu bytes requested): "
						    "red zone changed at %p", (void *)p, n, (void *)at));
			*at ^= 0x01;
		}
		kfree(p);
	}
	kheap_check();
}

Test(bad_input, an_overflow_is_caught_before_its_size_is_handed_out)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(16), *q = kmalloc(16);
	cr_assert_eq(q, p + block_bytes(16), "q's header follows p's block");
	memset(p, 'A', (size_t)(q - p)); /* over p's red zone and into q's header */
	cr_assert(HOST_PANICS(heap_usable_size(kheap_instance(), q)),
		  "heap_usable_size returned a size the overflow wrote");
	cr_assert_str_eq(host_panic_message,
			 EXPECT_MSG("heap: overflow past block %p (1094795585 bytes requested): "
				    "red zone changed at %p", (void *)q, (void *)(q - HEAP_HEADER_SIZE)));
}

Test(bad_input, one_byte_overflow_is_caught_by_kheap_check)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(30);
	kmalloc(30);
	p[30] = 0;
	cr_assert(HOST_PANICS(kheap_check()));
	cr_assert_str_eq(host_panic_message,
			 EXPECT_MSG("heap: overflow past block %p (30 bytes requested): "
				    "red zone changed at %p", (void *)p, (void *)(p + 30)));
}

/* Wherever the block lies: first in the arena, or between neighbours in its chunk. */
Test(bad_input, one_byte_overflow_is_caught_at_kfree_between_neighbours)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *before = kmalloc(16);
	for (size_t n = 1; n < 70; n += 3) {
		uint8_t *p = kmalloc(n), *after = kmalloc(16);
		expect_overflow_caught_at_kfree(p, n);
		kfree(after);
	}
	kfree(before);
	kheap_check();
}

/* krealloc checks the red zone too, whichever way it goes: shrink, grow, or free (size 0). */
Test(bad_input, one_byte_overflow_is_caught_at_krealloc)
{
	kheap_attach(region, REGION_BYTES);
	size_t sizes[] = { 10, 40, 100, 0 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = kmalloc(40);
		p[40] = 'x';
		cr_assert(HOST_PANICS(krealloc(p, sizes[i])), "krealloc to %zu", sizes[i]);
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("heap: overflow past block %p (40 bytes requested): "
					    "red zone changed at %p", (void *)p, (void *)(p + 40)));
		p[40] = HEAP_REDZONE_BYTE; /* repair, then it frees cleanly */
		kfree(p);
	}
	kheap_check();
}

#else
Test(bad_input, overflow_in_a_release_build_never_reaches_the_allocator)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *a = kmalloc(100), *b = kmalloc(200), *c = kmalloc(300);
	uint8_t *after = kmalloc(16);
	struct heap_stats before, now;
	kheap_stats(&before);
	/* From a's end over all of b and c, to the block after them: every byte. */
	memset(a + 100, 0xff, (size_t)(after - a) - 100);
	kheap_check();
	kheap_stats(&now);
	assert_same_stats(&before, &now);
	cr_assert_eq(heap_usable_size(kheap_instance(), b), block_bytes(200));
	kfree(b);
	kfree(a);
	kfree(c);
	kfree(after);
	kheap_check();
	kheap_stats(&now);
	cr_assert_eq(now.used_blocks, 0);
	cr_assert_eq(now.free_blocks, 1);
	cr_assert_eq(now.free_bytes, now.arena_bytes);
}
#endif

Test(bad_input, kmalloc_zero_returns_null_and_takes_nothing)
{
	kheap_attach(region, REGION_BYTES);
	struct heap_stats before, after;
	kheap_stats(&before);
	cr_assert_null(kmalloc(0));
	cr_assert_null(kcalloc(0, 0));
	cr_assert_null(kmalloc_aligned(0, 64));
	kheap_stats(&after);
	assert_same_stats(&before, &after);
}

Test(bad_input, sizes_that_overflow_return_null_and_leave_the_heap_untouched)
{
	kheap_attach(region, REGION_BYTES);
	kmalloc(100);
	struct heap_stats before, after;
	kheap_stats(&before);
	cr_assert_null(kcalloc(SIZE_MAX / 2, 4));
	cr_assert_null(kcalloc(4, SIZE_MAX / 2));
	cr_assert_null(kcalloc((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4)));
	cr_assert_null(kmalloc(SIZE_MAX));
	cr_assert_null(kmalloc(SIZE_MAX - HEAP_HEADER_SIZE));
	cr_assert_null(kmalloc(HEAP_MAX_ARENA + 1));
	cr_assert_null(kmalloc_aligned(SIZE_MAX - 100, 4096));
	cr_assert_null(kmalloc_aligned(100, (size_t)1 << (sizeof(size_t) * 8 - 1)));
	kheap_stats(&after);
	assert_same_stats(&before, &after);
	kheap_check();
}

Test(bad_input, exhaustion_returns_null_consistently_and_recovers)
{
	kheap_attach(region, 65536);
	static void *p[2000];
	size_t n = 0;
	while ((p[n] = kmalloc(100 + n % 50)) != NULL)
		n++;
	cr_assert(n > 100);
	kheap_check();
	for (int i = 0; i < 5; i++)
		cr_assert_null(kmalloc(100));
	kfree(p[n / 2]);
	cr_assert_eq(kmalloc(100), p[n / 2], "the freed block serves the next request");
	cr_assert_null(kmalloc(100));
	for (size_t i = 0; i < n; i++)
		kfree(p[i]);
	kheap_check();
	struct heap_stats st;
	kheap_stats(&st);
	cr_assert_eq(st.used_blocks, 0);
	cr_assert_not_null(kmalloc(st.largest_request));
}

Test(bad_input, aligned_allocation_with_a_non_power_of_two_alignment_returns_null)
{
	kheap_attach(region, REGION_BYTES);
	struct heap_stats before, after;
	kheap_stats(&before);
	size_t bad[] = { 0, 3, 24, 48, 100, 4095, 4097, 12288 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_null(kmalloc_aligned(64, bad[i]), "alignment %zu", bad[i]);
	kheap_stats(&after);
	assert_same_stats(&before, &after);
}

#if KHEAP_DEBUG
Test(bad_input, use_after_free_is_caught_when_the_block_is_handed_out_again)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(256);
	kmalloc(16);
	kfree(p);
	p[100] = 1; /* a dangling write */
	uint8_t *q;
	cr_assert(HOST_PANICS(q = kmalloc(256)));
	(void)q;
	cr_assert_str_eq(host_panic_message,
			 EXPECT_MSG("heap: use after free: freed memory at %p (now block %p) was written to",
				    (void *)(p + 100), (void *)p));
}

Test(bad_input, use_after_free_is_caught_by_kheap_check)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(256);
	kmalloc(16);
	kfree(p);
	p[255] = 0;
	cr_assert(HOST_PANICS(kheap_check()));
	cr_assert_str_eq(host_panic_message,
			 EXPECT_MSG("heap_check: free block %p was written to at %p (use after free)",
				    (void *)p, (void *)(p + 255)));
}

/*
 * Every byte of a free block is watched, whatever its place in the 8-byte
 * words the check compares at once, and the panic names that byte: the
 * header before the payload, the payload, the rounding after it.
 */
Test(bad_input, kheap_check_names_a_dangling_write_at_any_byte_of_a_free_block)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(256);
	kmalloc(16);
	kfree(p);
	uint8_t *start = p - HEAP_HEADER_SIZE, *end = start + block_bytes(256);
	for (uint8_t *at = start; at < end; at++) {
		*at ^= 0x01;
		cr_assert(HOST_PANICS(kheap_check()), "a write at block offset %td", at - start);
		cr_assert_str_eq(host_panic_message,
				 EXPECT_MSG("heap_check: free block %p was written to at %p (use after free)",
					    (void *)p, (void *)at));
		*at ^= 0x01;
	}
	kheap_check();
}

#else
/* Nor does a release build write free memory: what a dangling write leaves is still there. */
Test(bad_input, use_after_free_in_a_release_build_never_reaches_the_allocator)
{
	kheap_attach(region, REGION_BYTES);
	uint8_t *p = kmalloc(256);
	kmalloc(16);
	kfree(p);
	memset(p, 0x5a, 256); /* dangling writes over the whole freed block */
	for (int i = 0; i < 100; i++) /* traffic elsewhere, merging with p's neighbours */
		kfree(kmalloc(16 + (size_t)i * 40));
	kheap_check();
	uint8_t *q = kmalloc(256);
	cr_assert_eq(q, p, "first fit hands the same block out again");
	for (size_t i = 0; i < 256; i++)
		cr_assert_eq(q[i], 0x5a, "byte %zu of the freed block was changed", i);
	kfree(q);
	kheap_check();
}
#endif

/* ---- heap_check notices damage ---- */

/*
 * Blocks keep no state: every boundary lives in the metadata. These tests
 * damage the metadata the way a stray write or an allocator bug would (the
 * layout is in mm/heap_internal.h) and expect heap_check to name it.
 */

static uint32_t granule_of(const struct heap *h, const void *p)
{
	return (uint32_t)(((const uint8_t *)p - HEAP_HEADER_SIZE - h->arena) / HEAP_GRANULE);
}

static struct heap_chunk_map *chunk_map_of(struct heap *h, const void *p)
{
	return &h->map[granule_of(h, p) / HEAP_CHUNK_GRANULES];
}

static uint64_t mark_bit_of(const struct heap *h, const void *p)
{
	return (uint64_t)1 << (granule_of(h, p) % HEAP_CHUNK_GRANULES);
}

#define EXPECT_CHECK_PANIC(h, ...)                                                   \
	do {                                                                         \
		cr_assert(HOST_PANICS(heap_check(h)), "heap_check missed the damage"); \
		cr_assert_str_eq(host_panic_message, EXPECT_MSG(__VA_ARGS__));       \
	} while (0)

Test(heap_check, passes_a_healthy_heap_and_notices_a_lost_live_mark)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100), *b = heap_alloc(h, 100);
	heap_alloc(h, 100);
	heap_check(h);
	/*
	 * b's mark gone: a seems to run over b. In a debug build a's red zone
	 * check sees b's header first; without red zones the counters are one
	 * used block short.
	 */
	chunk_map_of(h, b)->live &= ~mark_bit_of(h, b);
#if KHEAP_DEBUG
	EXPECT_CHECK_PANIC(h, "heap: overflow past block %p (100 bytes requested): red zone changed at %p",
			   (void *)a, (void *)(b - HEAP_HEADER_SIZE));
#else
	(void)a;
	EXPECT_CHECK_PANIC(h, "heap_check: counters say 3 used (%zu bytes) and 1 free blocks, the heap "
			   "holds 2 (%zu bytes) and 1", 3 * block_bytes(100), 3 * block_bytes(100));
#endif
}

/* A pointer to anything but a heap (here one whose magic number was overwritten) is named as such. */
Test(heap_check, notices_a_heap_with_a_bad_magic_number)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	h->magic ^= 0x100;
	EXPECT_CHECK_PANIC(h, "heap_check: %p is not a heap (bad magic 0x%x)", (void *)h, h->magic);
}

/* The chunk count is checked against the arena's length before the maps are read. */
Test(heap_check, notices_a_wrong_chunk_count)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	h->chunks--;
	EXPECT_CHECK_PANIC(h, "heap_check: %u chunks for %u granules", h->chunks, h->granules);
}

Test(heap_check, notices_a_live_mark_inside_a_block)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 200);
	heap_alloc(h, 100);
	chunk_map_of(h, a + 64)->live |= mark_bit_of(h, a + 64);
	/* a's red zone check runs first: a now seems to end 64 bytes in, inside its payload. */
	cr_assert(HOST_PANICS(heap_check(h)));
	cr_assert(strstr(host_panic_message, "heap: overflow past block") == host_panic_message ||
			  strstr(host_panic_message, "heap_check: counters say") == host_panic_message,
		  "%s", host_panic_message);
}

Test(heap_check, notices_a_block_marked_both_free_and_live)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100);
	heap_alloc(h, 100);
	chunk_map_of(h, a)->free |= mark_bit_of(h, a);
	EXPECT_CHECK_PANIC(h, "heap_check: block %p is marked both free and live", (void *)a);
}

/* The message names the block wherever it is: here not the first of its chunk, nor in chunk 0. */
Test(heap_check, names_a_block_marked_both_free_and_live_past_chunk_0)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 2000);
	uint8_t *b = heap_alloc(h, 100);
	heap_alloc(h, 100);
	cr_assert_gt(granule_of(h, b) % HEAP_CHUNK_GRANULES, 0);
	cr_assert_gt(granule_of(h, b) / HEAP_CHUNK_GRANULES, 0);
	chunk_map_of(h, b)->free |= mark_bit_of(h, b);
	EXPECT_CHECK_PANIC(h, "heap_check: block %p is marked both free and live", (void *)b);
}

Test(heap_check, notices_two_free_blocks_side_by_side)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100), *b = heap_alloc(h, 100);
	heap_alloc(h, 100);
	heap_free(h, a);
	/* b turned free behind the heap's back: it should have merged with a. */
	chunk_map_of(h, b)->live &= ~mark_bit_of(h, b);
	chunk_map_of(h, b)->free |= mark_bit_of(h, b);
	memset(b - HEAP_HEADER_SIZE, HEAP_POISON_BYTE, 112); /* as freed memory would be */
	EXPECT_CHECK_PANIC(h, "heap_check: free block %p follows a free block (unmerged)", (void *)b);
}

Test(heap_check, notices_a_missing_sentinel)
{
	struct heap *h = new_heap(65536);
	uint32_t n = h->granules;
	h->map[n / HEAP_CHUNK_GRANULES].live &= ~((uint64_t)1 << (n % HEAP_CHUNK_GRANULES));
	EXPECT_CHECK_PANIC(h, "heap_check: the sentinel mark at the arena's end (%p) is missing",
			   (void *)(h->arena + (size_t)n * HEAP_GRANULE));
}

Test(heap_check, notices_a_missing_mark_at_the_arena_start)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100);
	heap_alloc(h, 100);
	cr_assert_eq(granule_of(h, a), 0);
	chunk_map_of(h, a)->live &= ~mark_bit_of(h, a);
	EXPECT_CHECK_PANIC(h, "heap_check: no block starts at the arena's start (%p)", (void *)a);
}

Test(heap_check, notices_a_wrong_leaf)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100);
	heap_alloc(h, 2000); /* the free rest of the arena starts in a later chunk */
	heap_free(h, a);
	uint32_t c = granule_of(h, a) / HEAP_CHUNK_GRANULES;
	h->leaves[c]--;
	EXPECT_CHECK_PANIC(h, "heap_check: chunk %u (%p) records a largest free block of %zu bytes, it holds %zu",
			   c, (void *)(h->arena + (size_t)c * HEAP_CHUNK_BYTES),
			   block_bytes(100) - HEAP_GRANULE, block_bytes(100));
}

/* Every leaf is checked, those of the chunks after the last free block too. */
Test(heap_check, notices_a_wrong_leaf_after_the_last_free_block)
{
	struct heap *h = new_heap(REGION_BYTES);
	cr_assert_gt(h->chunks, 2 * HEAP_LEAF_FANOUT, "more than one group of leaves");
	cr_assert_not_null(heap_alloc(h, stats_of(h).largest_request)); /* no free block left */
	heap_check(h);
	uint32_t c = h->chunks - 2;
	h->leaves[c] = 1;
	EXPECT_CHECK_PANIC(h, "heap_check: chunk %u (%p) records a largest free block of %zu bytes, it holds %zu",
			   c, (void *)(h->arena + (size_t)c * HEAP_CHUNK_BYTES), (size_t)HEAP_GRANULE, (size_t)0);
}

/* Nothing may be marked past the sentinel, in its own chunk. */
Test(heap_check, notices_a_mark_past_the_arena_end)
{
	size_t size = 65536;
	struct heap *h = new_heap(size);
	while (h->granules % HEAP_CHUNK_GRANULES == HEAP_CHUNK_GRANULES - 1) /* the sentinel ends its chunk */
		h = new_heap(size += HEAP_GRANULE);
	uint32_t n = h->granules;
	heap_alloc(h, 100);
	h->map[n / HEAP_CHUNK_GRANULES].live |= (uint64_t)1 << (n % HEAP_CHUNK_GRANULES + 1);
	EXPECT_CHECK_PANIC(h, "heap_check: marks past the arena's end (%p)",
			   (void *)(h->arena + (size_t)n * HEAP_GRANULE));
}

Test(heap_check, notices_a_wrong_tree_entry)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	int32_t *top = h->tree[h->tree_levels - 1];
	top[0] += 1;
	cr_assert(HOST_PANICS(heap_check(h)));
	cr_assert(strstr(host_panic_message, "heap_check: tree level") == host_panic_message, "%s",
		  host_panic_message);
}

/* Past 4 MiB the tree has a level above level 1: each of its entries is checked too, the first included. */
Test(heap_check, notices_a_wrong_entry_in_the_levels_above_level_1)
{
	size_t bytes = (size_t)9 << 20;
	uint8_t *big;
	struct heap *h = new_big_heap(bytes, &big);
	cr_assert_eq(h->tree_levels, 3, "a 9 MiB heap has two levels above its leaves");
	heap_alloc(h, 100);
	heap_check(h);
	for (uint32_t i = 0; i < 2; i++) {
		int32_t right = h->tree[2][i];
		h->tree[2][i] = right + 1;
		EXPECT_CHECK_PANIC(h, "heap_check: tree level 2 entry %u is %d, its children's max is %d", i,
				   (int)(right + 1), (int)right);
		h->tree[2][i] = right;
	}
	heap_check(h);
	free(big);
}

Test(heap_check, notices_a_tree_entry_past_the_last_leaf)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint32_t past = h->tree_len[0] / HEAP_LEAF_FANOUT;
	cr_assert_lt(past, h->tree_len[1], "level 1 has padding past its last group of leaves");
	h->tree[1][past] = 1000000;
	EXPECT_CHECK_PANIC(h, "heap_check: tree level 1 entry %u is 1000000, past the last leaf it must be 0",
			   past);
}

Test(heap_check, notices_a_summary_that_forgot_a_chunk)
{
	struct heap *h = new_heap(REGION_BYTES);
	static void *p[200];
	for (int i = 0; i < 200; i++)
		p[i] = heap_alloc(h, 200);
	uint32_t c = granule_of(h, p[100]) / HEAP_CHUNK_GRANULES;
	h->summary[0][c / 64] &= ~((uint64_t)1 << (c % 64));
	EXPECT_CHECK_PANIC(h, "heap_check: the summary says chunk %u (%p) holds none, it holds marks", c,
			   (void *)(h->arena + (size_t)c * HEAP_CHUNK_BYTES));
}

Test(heap_check, notices_a_summary_bit_for_an_empty_chunk)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	uint32_t c = h->chunks / 2; /* deep inside the one big free block */
	h->summary[0][c / 64] |= (uint64_t)1 << (c % 64);
	EXPECT_CHECK_PANIC(h, "heap_check: the summary says chunk %u (%p) holds marks, it holds none", c,
			   (void *)(h->arena + (size_t)c * HEAP_CHUNK_BYTES));
}

/* The bits past the last chunk, up to the end of the summary's last word, must stay clear too. */
Test(heap_check, notices_a_summary_bit_past_the_last_chunk)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	uint32_t last = h->summary_words[0] * 64 - 1;
	cr_assert_geq(last, h->chunks);
	h->summary[0][last / 64] |= (uint64_t)1 << 63;
	EXPECT_CHECK_PANIC(h, "heap_check: the summary says chunk %u (%p) holds marks, it holds none", last,
			   (void *)(h->arena + (size_t)last * HEAP_CHUNK_BYTES));
	h->summary[0][last / 64] &= ~((uint64_t)1 << 63);
	heap_check(h);
	uint32_t top = h->summary_levels - 1;
	h->summary[top][0] |= (uint64_t)1 << 63;
	EXPECT_CHECK_PANIC(h, "heap_check: summary level %u bit 63 is 1, word 63 of the level below is zero", top);
}

/* Bit 0 of every level too: chunk 0 always holds a mark (block 0's), so its bits are always set. */
Test(heap_check, notices_a_summary_that_forgot_chunk_0)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	cr_assert_gt(h->summary_levels, 1);
	h->summary[0][0] &= ~(uint64_t)1;
	EXPECT_CHECK_PANIC(h, "heap_check: the summary says chunk 0 (%p) holds none, it holds marks",
			   (void *)h->arena);
	h->summary[0][0] |= 1;
	heap_check(h);
	h->summary[1][0] &= ~(uint64_t)1;
	EXPECT_CHECK_PANIC(h, "heap_check: summary level 1 bit 0 is 0, word 0 of the level below is not zero");
}

/* The layout's shape is checked too: a summary that does not end in one word, a tree without a level above its leaves. */
Test(heap_check, notices_a_summary_with_too_few_levels)
{
	struct heap *h = new_heap(REGION_BYTES);
	cr_assert_gt(h->summary_levels, 1);
	uint32_t words = h->summary_words[h->summary_levels - 2];
	h->summary_levels--;
	EXPECT_CHECK_PANIC(h, "heap_check: the summary's top level is %u words", words);
}

Test(heap_check, notices_a_tree_with_too_few_levels)
{
	struct heap *h = new_heap(REGION_BYTES);
	cr_assert_eq(h->tree_levels, 2);
	h->tree_levels = 1;
	EXPECT_CHECK_PANIC(h, "heap_check: %u leaves and 1 levels for %u chunks", h->tree_len[0], h->chunks);
}

/* And a top level that is not one group of entries (here half of one, its entries all 0). */
Test(heap_check, notices_a_tree_whose_top_level_is_not_one_group)
{
	struct heap *h = new_heap(REGION_BYTES);
	cr_assert_eq(h->tree_levels, 2);
	cr_assert_leq(h->tree_len[0] / HEAP_LEAF_FANOUT, HEAP_TREE_FANOUT / 2);
	h->tree_len[1] = HEAP_TREE_FANOUT / 2;
	EXPECT_CHECK_PANIC(h, "heap_check: the tree's top level is %u entries", HEAP_TREE_FANOUT / 2);
}

Test(heap_check, notices_wrong_counters)
{
	struct heap *h = new_heap(REGION_BYTES);
	heap_alloc(h, 100);
	h->free_blocks++;
	cr_assert(HOST_PANICS(heap_check(h)));
	EXPECT_CHECK_PANIC(h, "heap_check: counters say 1 used (%zu bytes) and 2 free blocks, the heap "
			   "holds 1 (%zu bytes) and 1", block_bytes(100), block_bytes(100));
}

#if KHEAP_DEBUG
Test(heap_check, notices_a_damaged_debug_header)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100);
	heap_alloc(h, 100);
	a[-1] ^= 1; /* the word before the payload: the requested size's complement */
	EXPECT_CHECK_PANIC(h, "heap: overflow past block %p (100 bytes requested): red zone changed at %p",
			   (void *)a, (void *)(a - HEAP_HEADER_SIZE));
}

/* A header whose two words agree but leave no red-zone byte in the block is damage too. */
Test(heap_check, notices_a_debug_header_that_leaves_no_red_zone)
{
	struct heap *h = new_heap(REGION_BYTES);
	uint8_t *a = heap_alloc(h, 100);
	heap_alloc(h, 100);
	uint32_t *hdr = (uint32_t *)(a - HEAP_HEADER_SIZE);
	uint32_t whole = (uint32_t)(block_bytes(100) - HEAP_HEADER_SIZE); /* a's payload to its last byte */
	hdr[0] = whole;
	hdr[1] = ~whole;
	EXPECT_CHECK_PANIC(h, "heap: overflow past block %p (%u bytes requested): red zone changed at %p",
			   (void *)a, whole, (void *)hdr);
	cr_assert(HOST_PANICS(heap_free(h, a)));
	cr_assert_str_eq(host_panic_message, expected);
}
#endif

/* ---- dump ---- */

Test(heap_dump, lists_every_block)
{
	struct heap *h = new_heap(65536);
	void *a = heap_alloc(h, 100);
	heap_alloc(h, 200);
	heap_free(h, a);
	static char out[4096];
	host_console_capture(out, sizeof(out));
	heap_dump(h);
	host_console_release();
	char line[128];
	ksnprintf(line, sizeof(line), "  %p %10u free\n", a, 112u);
	cr_assert(strstr(out, line) != NULL, "%s", out);
	cr_assert(strstr(out, "1 used blocks") != NULL, "%s", out);
	cr_assert(strstr(out, "2 free blocks") != NULL, "%s", out);
}

/* ---- the global instance ---- */

Test(kheap, calls_before_attach_panic)
{
	cr_assert_null(kheap_instance());
	cr_assert(HOST_PANICS(kmalloc(10)));
	cr_assert_str_eq(host_panic_message, "kheap: used before kheap_attach()");
}

Test(kheap, the_kernel_api_works_on_an_attached_buffer)
{
	cr_assert_not_null(kheap_attach(region, REGION_BYTES));
	char *s = kmalloc(32);
	strcpy(s, "hello");
	s = krealloc(s, 4000);
	cr_assert_str_eq(s, "hello");
	int *z = kcalloc(10, sizeof(int));
	void *page = kmalloc_aligned(100, 4096);
	cr_assert((uintptr_t)page % 4096 == 0);
	cr_assert_eq(z[9], 0);
	kfree(s);
	kfree(z);
	kfree(page);
	kheap_check();
	struct heap_stats st;
	kheap_stats(&st);
	cr_assert_eq(st.used_blocks, 0);
	cr_assert(HOST_PANICS(kheap_attach(region, 64)));
}

/* ---- differential: the heap against the linear reference ---- */

static uint8_t diff_ref[REGION_BYTES + HEAP_DIFF_MAX_ALIGN];

/* A size: mostly small, some large, some absurd. */
static size_t random_size(uint64_t *s)
{
	uint64_t r = xorshift64(s);
	switch (r % 16) {
	case 0:
		return 0;
	case 1:
		return (size_t)(r >> 8) % 20000;
	case 2:
		return r % 64 == 0 ? SIZE_MAX - (r >> 8) % 64 : (size_t)(r >> 8) % 4096;
	default:
		return (size_t)(r >> 8) % 300 + 1;
	}
}

static void run_differential(size_t heap_bytes, uint64_t seed, unsigned steps, unsigned check_every)
{
	static struct heap_diff d;
	uint64_t s = seed;
	cr_assert(heap_diff_init(&d, region, heap_bytes, diff_ref, sizeof(diff_ref)));
	d.check_every_step = check_every == 1;
	for (unsigned i = 0; i < steps; i++) {
		uint64_t r = xorshift64(&s);
		unsigned slot = (unsigned)(r >> 32) % HEAP_DIFF_SLOTS;
		static const enum heap_diff_op mix[10] = {
			HEAP_DIFF_FREE, HEAP_DIFF_FREE, HEAP_DIFF_FREE, HEAP_DIFF_ALLOC, HEAP_DIFF_ALLOC,
			HEAP_DIFF_ALLOC, HEAP_DIFF_CALLOC, HEAP_DIFF_ALIGNED, HEAP_DIFF_REALLOC,
			HEAP_DIFF_REALLOC,
		};
		enum heap_diff_op op = mix[r % 10];
		size_t size = random_size(&s), arg = 0;
		if (op == HEAP_DIFF_CALLOC)
			arg = r % 97 == 0 ? SIZE_MAX / 3 : (size_t)(r >> 16) % 8;
		if (op == HEAP_DIFF_ALIGNED)
			arg = r % 13 == 0 ? (size_t)(r >> 20) % 5000 : (size_t)1 << ((r >> 20) % 17);
		if (op == HEAP_DIFF_CALLOC && size > 4096)
			size %= 512;
		const char *bad = heap_diff_step(&d, op, slot, size, arg);
		cr_assert_null(bad, "%s", bad);
		if (check_every > 1 && i % check_every == 0)
			heap_check(d.heap);
	}
	cr_assert(d.nulls > steps / 100, "the run should exhaust the heap now and then (%u NULLs)", d.nulls);
	const char *bad = heap_diff_drain(&d);
	cr_assert_null(bad, "%s", bad);
	cr_assert_eq(stats_of(d.heap).used_blocks, 0);
}

Test(differential, small_heap_checked_after_every_step)
{
	for (uint64_t seed = 1; seed <= 12; seed++)
		run_differential(24 * 1024, seed * 0x9e3779b97f4a7c15ull, 20000, 1);
}

Test(differential, medium_heap)
{
	for (uint64_t seed = 1; seed <= 6; seed++)
		run_differential(256 * 1024, seed * 0xd1b54a32d192ed03ull, 60000, 40);
}

Test(differential, one_mib_heap)
{
	run_differential(REGION_BYTES, 0x2545f4914f6cdd1dull, 100000, 500);
}

/*
 * Past 4 MiB the tree grows a level above level 1, and requests of 512 KiB
 * or more search saturated leaves: a 9 MiB heap with large blocks, against
 * the reference.
 */
Test(differential, nine_mib_heap_with_huge_blocks)
{
	size_t bytes = (size_t)9 << 20;
	uint8_t *big = aligned_alloc(HEAP_DIFF_MAX_ALIGN, bytes);
	uint8_t *ref = aligned_alloc(HEAP_DIFF_MAX_ALIGN, bytes + HEAP_DIFF_MAX_ALIGN);
	static struct heap_diff d;
	uint64_t s = 0x5851f42d4c957f2dull;

	cr_assert(big && ref && heap_diff_init(&d, big, bytes, ref, bytes + HEAP_DIFF_MAX_ALIGN));
	cr_assert_eq(d.heap->tree_levels, 3, "a 9 MiB heap has two levels above its leaves");
	d.check_every_step = false;
	for (unsigned i = 0; i < 6000; i++) {
		uint64_t r = xorshift64(&s);
		enum heap_diff_op op = (enum heap_diff_op)(r % HEAP_DIFF_OPS);
		/* Half huge (up to 2.5 MiB), half small, so huge free blocks come and go. */
		size_t size = r >> 63 ? (size_t)(r >> 20) % (5 << 19) + 1 : (size_t)(r >> 20) % 3000 + 1;
		size_t arg = op == HEAP_DIFF_ALIGNED ? (size_t)1 << ((r >> 8) % 17) : (r >> 8) % 3;
		const char *bad = heap_diff_step(&d, op, (unsigned)(r >> 40), size, arg);
		cr_assert_null(bad, "%s", bad);
		if (i % 50 == 0)
			heap_check(d.heap);
	}
	const char *bad = heap_diff_drain(&d);
	cr_assert_null(bad, "%s", bad);
	free(big);
	free(ref);
}

#if !KHEAP_DEBUG
/*
 * Past 256 MiB the tree has three levels above its leaves. The free block
 * that is the largest everywhere, far from the arena's start, shrinks: every
 * level follows, and heap_stats reports the exact largest free block.
 * Release build only, like the GiB region above: no poison to write.
 */
Test(differential, largest_free_stays_exact_in_a_heap_with_three_levels_above_the_leaves)
{
	size_t bytes = (size_t)272 << 20;
	uint8_t *big;
	struct heap *h = new_big_heap(bytes, &big);
	cr_assert_eq(h->tree_levels, 4, "a 272 MiB heap has three levels above its leaves");
	cr_assert_not_null(heap_alloc(h, (size_t)5 << 20)); /* the free rest now starts 5 MiB in */
	size_t largest = stats_of(h).largest_request;
	cr_assert_not_null(heap_alloc(h, 100));
	struct heap_stats st = stats_of(h);
	cr_assert_lt(st.largest_request, largest);
	cr_assert_null(heap_alloc(h, st.largest_request + 1));
	heap_check(h);
	free(big);
}
#endif

/* ---- the kernel's code path: mm/heap.c without SSE ---- */

/*
 * The kernel is built without SSE, so its heap runs the portable loops that
 * host builds replace with vector code. Compile mm/heap.c a second time
 * here, SSE2 hidden and the public names renamed, and run it in lockstep
 * with the host's build: same addresses, same statistics, both clean.
 * (Function-like macros: struct heap_stats keeps its name.)
 */
#undef __SSE2__
#define heap_init(...) portable_heap_init(__VA_ARGS__)
#define heap_alloc(...) portable_heap_alloc(__VA_ARGS__)
#define heap_calloc(...) portable_heap_calloc(__VA_ARGS__)
#define heap_alloc_aligned(...) portable_heap_alloc_aligned(__VA_ARGS__)
#define heap_realloc(...) portable_heap_realloc(__VA_ARGS__)
#define heap_free(...) portable_heap_free(__VA_ARGS__)
#define heap_usable_size(...) portable_heap_usable_size(__VA_ARGS__)
#define heap_stats(...) portable_heap_stats(__VA_ARGS__)
#define heap_check(...) portable_heap_check(__VA_ARGS__)
#define heap_dump(...) portable_heap_dump(__VA_ARGS__)
#define heap_walk(...) portable_heap_walk(__VA_ARGS__)
#define heap_metadata_bytes_for(...) portable_heap_metadata_bytes_for(__VA_ARGS__)
struct heap *heap_init(void *base, size_t size);
void *heap_alloc(struct heap *h, size_t size);
void *heap_calloc(struct heap *h, size_t num, size_t size);
void *heap_alloc_aligned(struct heap *h, size_t size, size_t align);
void *heap_realloc(struct heap *h, void *ptr, size_t size);
void heap_free(struct heap *h, void *ptr);
size_t heap_usable_size(struct heap *h, void *ptr);
void heap_stats(const struct heap *h, struct heap_stats *out);
void heap_check(const struct heap *h);
void heap_dump(const struct heap *h);
void heap_walk(const struct heap *h, heap_block_fn fn, void *arg);
size_t heap_metadata_bytes_for(const void *base, uint32_t granules);
#include "mm/heap.c"
#undef heap_init
#undef heap_alloc
#undef heap_calloc
#undef heap_alloc_aligned
#undef heap_realloc
#undef heap_free
#undef heap_usable_size
#undef heap_stats
#undef heap_check
#undef heap_dump
#undef heap_walk
#undef heap_metadata_bytes_for

static void *portable_op(struct heap *h, unsigned op, void *p, size_t size, size_t arg)
{
	switch (op) {
	case 0:
		return portable_heap_alloc(h, size);
	case 1:
		return portable_heap_calloc(h, arg, size);
	case 2:
		return portable_heap_alloc_aligned(h, size, arg);
	default:
		return portable_heap_realloc(h, p, size);
	}
}

static void *simd_op(struct heap *h, unsigned op, void *p, size_t size, size_t arg)
{
	switch (op) {
	case 0:
		return heap_alloc(h, size);
	case 1:
		return heap_calloc(h, arg, size);
	case 2:
		return heap_alloc_aligned(h, size, arg);
	default:
		return heap_realloc(h, p, size);
	}
}

/*
 * Runs `steps` random operations on a portable and a vector heap of `size`
 * bytes built at pbase and vbase in lockstep (large requests up to
 * max_large bytes), both checked every check_every steps; returns the
 * vector heap.
 */
static struct heap *run_lockstep(uint8_t *pbase, uint8_t *vbase, size_t size, unsigned steps,
				 size_t max_large, unsigned check_every)
{
	static void *ps[128], *vs[128];
	struct heap *ph = portable_heap_init(pbase, size), *vh = heap_init(vbase, size);
	cr_assert(ph && vh);
	memset(ps, 0, sizeof(ps));
	memset(vs, 0, sizeof(vs));
	uint64_t s = 0x9e3779b97f4a7c15ull ^ size;
	for (unsigned i = 0; i < steps; i++) {
		uint64_t r = xorshift64(&s);
		unsigned k = (unsigned)(r >> 32) % 128, op = (unsigned)(r % 6);
		size_t n = r >> 61 == 0 ? (size_t)(r >> 8) % max_large : (size_t)(r >> 8) % 700 + 1;
		size_t arg = op == 1 ? (size_t)(r >> 40) % 4 + 1 : (size_t)1 << ((r >> 40) % 14);
		if (op >= 4) { /* free */
			portable_heap_free(ph, ps[k]);
			heap_free(vh, vs[k]);
			ps[k] = vs[k] = NULL;
			continue;
		}
		if (op < 3) {
			portable_heap_free(ph, ps[k]);
			heap_free(vh, vs[k]);
			ps[k] = vs[k] = NULL;
		}
		void *pp = portable_op(ph, op, ps[k], n, arg), *vp = simd_op(vh, op, vs[k], n, arg);
		cr_assert_eq(pp == NULL, vp == NULL, "step %u", i);
		if (pp)
			cr_assert_eq((uint8_t *)pp - pbase, (uint8_t *)vp - vbase, "step %u", i);
		if (pp || op < 3) {
			ps[k] = pp;
			vs[k] = vp;
		}
		struct heap_stats a, b;
		portable_heap_stats(ph, &a);
		heap_stats(vh, &b);
		cr_assert(a.used_bytes == b.used_bytes && a.free_blocks == b.free_blocks &&
				  a.largest_free == b.largest_free, "step %u", i);
		if (i % check_every == 0) {
			portable_heap_check(ph);
			heap_check(vh);
		}
	}
	portable_heap_check(ph);
	return vh;
}

Test(portable_path, matches_the_vector_build_step_by_step)
{
	/* Both regions are 64 KiB aligned: same layout, same offsets. */
	for (size_t size = 24 * 1024; size <= REGION_BYTES; size *= 4)
		run_lockstep(region, region2, size, 40000, 40000, 64);
}

/*
 * Past 4 MiB a search descends through a level between the top and level
 * 1, which the heaps above never have: the same lockstep on 9 MiB, with
 * requests up to 2.5 MiB so that saturated leaves come and go.
 */
Test(portable_path, matches_the_vector_build_in_a_heap_with_two_levels_above_the_leaves)
{
	size_t bytes = (size_t)9 << 20;
	uint8_t *pbuf = aligned_alloc(65536, bytes), *vbuf = aligned_alloc(65536, bytes);
	cr_assert(pbuf && vbuf);
	struct heap *vh = run_lockstep(pbuf, vbuf, bytes, 6000, (size_t)5 << 19, 500);
	cr_assert_eq(vh->tree_levels, 3, "a 9 MiB heap has two levels above its leaves");
	free(pbuf);
	free(vbuf);
}

struct walk_tally {
	uint8_t *next;   /* where the next block must start */
	size_t used, free, bytes;
};

static void tally_block(void *start, size_t bytes, bool used, void *arg)
{
	struct walk_tally *t = arg;
	if (t->next)
		cr_assert_eq((uint8_t *)start, t->next, "blocks must tile the arena");
	t->next = (uint8_t *)start + bytes;
	t->bytes += bytes;
	if (used)
		t->used++;
	else
		t->free++;
}

Test(heap, walk_visits_every_block_in_order)
{
	static uint8_t region[64 * 1024] __attribute__((aligned(64)));
	struct heap *h = heap_init(region, sizeof(region));
	cr_assert(h);
	void *a = heap_alloc(h, 100), *b = heap_alloc(h, 200), *c = heap_alloc(h, 300);
	cr_assert(a && b && c);
	heap_free(h, b);
	struct walk_tally t = { 0 };
	heap_walk(h, tally_block, &t);
	struct heap_stats st;
	heap_stats(h, &st);
	cr_assert_eq(t.used, 2);
	cr_assert_eq(t.free, 2); /* b's hole and the rest */
	cr_assert_eq(t.bytes, st.arena_bytes);
	cr_assert_eq(t.used, st.used_blocks);
	cr_assert_eq(t.free, st.free_blocks);
}

/* Whatever the arena's length, so wherever the sentinel falls in its chunk, the last bit included. */
Test(heap, walk_tiles_the_arena_wherever_the_sentinel_falls)
{
	bool last_bit = false;
	for (size_t size = 65536; size < 65536 + 80 * HEAP_GRANULE; size += HEAP_GRANULE) {
		struct heap *h = new_heap(size);
		last_bit |= h->granules % HEAP_CHUNK_GRANULES == HEAP_CHUNK_GRANULES - 1;
		void *a = heap_alloc(h, 100);
		cr_assert_not_null(a);
		struct walk_tally t = { 0 };
		heap_walk(h, tally_block, &t);
		struct heap_stats st = stats_of(h);
		cr_assert_eq(t.next, (uint8_t *)st.arena + st.arena_bytes, "the last block ends the arena");
		cr_assert_eq(t.bytes, st.arena_bytes);
		cr_assert_eq(t.used, 1);
		cr_assert_eq(t.free, 1);
	}
	cr_assert(last_bit, "some arena puts its sentinel at the last bit of a chunk");
}

/*
 * heap_walk (and so heap_dump) reads only the maps, so that it works on a
 * damaged heap too: with the sentinel gone, the last block has no end, and
 * the walk stops before it instead of reporting a block past the arena.
 */
Test(heap, walk_stays_inside_the_arena_when_the_sentinel_is_gone)
{
	struct heap *h = new_heap(65536);
	void *a = heap_alloc(h, 100);
	heap_alloc(h, 200);
	heap_free(h, a);
	uint32_t n = h->granules;
	h->map[n / HEAP_CHUNK_GRANULES].live &= ~((uint64_t)1 << (n % HEAP_CHUNK_GRANULES));
	struct walk_tally t = { 0 };
	heap_walk(h, tally_block, &t);
	cr_assert_eq(t.free, 1, "a's hole; the free rest has no end");
	cr_assert_eq(t.used, 1);
	cr_assert_eq(t.bytes, block_bytes(100) + block_bytes(200));
}
