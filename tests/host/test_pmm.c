/*
 * The PMM over synthetic maps: the real QEMU maps, pathological ones, every
 * row of the bad-input table, corruption that pmm_check must notice, and a
 * differential run against the linear reference model.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/kprintf.h"
#include "lib/xorshift.h"
#include "mm/memmap.h"
#include "mm/pmm.h"
#include "mm/pmm_internal.h"
#include "tests/host/support/host_support.h"
#include "tests/model/pmm_diff.h"
#include "tests/model/pmm_model.h"
#include "tests/model/qemu_maps.h"

#define R(s, e) ((struct memmap_range){ (s), (e) })
#define MIB(x) ((phys_addr_t)(x) << 20)
#define GIB(x) ((phys_addr_t)(x) << 30)
#define FRAME ((phys_addr_t)PAGE_SIZE)
#define ULL(x) ((unsigned long long)(x))
/*
 * The boot these tests model: the default layout as GRUB placed it
 * (PLATFORM.md), whatever KERNEL_PHYS_BASE, KHEAP_OFFSET and KHEAP_SIZE this
 * build was given; the kernel tests check the configured one on real boots.
 */
#define BOOT_KERNEL_BASE ((phys_addr_t)0x100000)
#define BOOT_HEAP_START ((phys_addr_t)0x200000)
#define BOOT_HEAP_SIZE ((phys_addr_t)0x300000)

/* A PMM over a list of usable ranges, metadata from malloc. */
struct fx {
	struct pmm pmm;
	void *meta;
	size_t meta_size;
	struct memmap_range ranges[16];
	size_t n;
};

static void fx_ranges(struct fx *f, const struct memmap_range *r, size_t n, phys_addr_t floor)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->ranges, r, n * sizeof(*r));
	f->n = n;
	f->meta_size = pmm_metadata_size(r, n, floor);
	f->meta = malloc(f->meta_size);
	pmm_init(&f->pmm, r, n, floor, f->meta, f->meta_size);
	pmm_check(&f->pmm);
}

static void fx_map(struct fx *f, const struct qemu_map *map, phys_addr_t floor)
{
	struct memmap_range r[16];
	int n = memmap_usable(map->entries, map->count, r, ARRAY_SIZE(r));
	cr_assert(n > 0);
	fx_ranges(f, r, (size_t)n, floor);
}

static void fx_done(struct fx *f)
{
	free(f->meta);
}

static struct pmm_stats stats_of(const struct pmm *pmm)
{
	struct pmm_stats s;
	pmm_stats(pmm, &s, NULL, 0);
	return s;
}

static bool same_stats(struct pmm_stats a, struct pmm_stats b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static phys_addr_t phys_of(void *p) { return (phys_addr_t)(uintptr_t)p; }

/* What the kernel reserves at boot, as the loader placed it under GRUB (see PLATFORM.md). */
struct boot_reservation {
	phys_addr_t start, end;
	const char *what;
};
static const struct boot_reservation boot_reservations[] = {
	{ BOOT_KERNEL_BASE, BOOT_KERNEL_BASE + 0xc000, "kernel image" },
	{ BOOT_HEAP_START, BOOT_HEAP_START + BOOT_HEAP_SIZE, "heap" },
	{ 0x10000, 0x10058, "multiboot info" },
	{ 0x119000, 0x11b076, "module" },
	{ 0x11b080, 0x11b08c, "module name" },
};

static void reserve_boot(struct fx *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(boot_reservations); i++)
		pmm_reserve(&f->pmm, boot_reservations[i].start, boot_reservations[i].end,
			    boot_reservations[i].what);
	pmm_check(&f->pmm);
}

static bool overlaps_boot_data(phys_addr_t a, phys_addr_t b)
{
	if (a < BOOT_KERNEL_BASE)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(boot_reservations); i++)
		if (a < boot_reservations[i].end && boot_reservations[i].start < b)
			return true;
	return false;
}

/* ---- the QEMU maps ---- */

/*
 * Boots the map as the kernel does, allocates every free frame one at a
 * time through the void * API and then the phys API, checks each against
 * the reservations and the order first fit implies, frees it all and
 * expects the start stats back.
 */
static void exhaust_qemu_map(const struct qemu_map *map, uint64_t expect_total,
			     uint64_t expect_high)
{
	struct fx f;
	fx_map(&f, map, BOOT_KERNEL_BASE);
	reserve_boot(&f);
	struct pmm_stats start = stats_of(&f.pmm);
	cr_assert_eq(start.total, expect_total, "%s: %llu frames", map->name, ULL(start.total));

	size_t cap = (size_t)start.free, count = 0;
	phys_addr_t *got = malloc(cap * sizeof(*got));
	phys_addr_t prev = 0;
	void *p;
	while ((p = pmm_alloc(&f.pmm, 1)) != NULL) {
		phys_addr_t a = phys_of(p);
		cr_assert(a > prev && a < PMM_LIMIT_4GIB, "first fit goes up: 0x%llx after 0x%llx",
			  ULL(a), ULL(prev));
		cr_assert(!overlaps_boot_data(a, a + FRAME), "0x%llx is boot data", ULL(a));
		got[count++] = prev = a;
	}
	cr_assert_eq(count + expect_high, start.free, "%s: %zu frames below 4 GiB", map->name,
		     count);
	phys_addr_t a;
	while (pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &a) == 0) {
		cr_assert(a >= GIB(4) && a > prev, "high frame 0x%llx", ULL(a));
		got[count++] = prev = a;
	}
	cr_assert_eq(count, start.free);
	cr_assert_eq(stats_of(&f.pmm).free, 0);
	pmm_check(&f.pmm);

	for (size_t i = 0; i < count; i++)
		cr_assert_eq(pmm_free_phys(&f.pmm, got[i]), 1);
	cr_assert(same_stats(stats_of(&f.pmm), start), "%s: stats did not come back", map->name);
	pmm_check(&f.pmm);
	free(got);
	fx_done(&f);
}

Test(pmm, qemu_32m_every_frame_once)
{
	exhaust_qemu_map(&qemu_map_32m, (0x1fe0000 - 0x100000) / FRAME, 0);
}

Test(pmm, qemu_128m_every_frame_once)
{
	exhaust_qemu_map(&qemu_map_128m, (0x7fe0000 - 0x100000) / FRAME, 0);
}

Test(pmm, qemu_3g_every_frame_once)
{
	exhaust_qemu_map(&qemu_map_3g, (0xbffe0000 - 0x100000) / FRAME, 0);
}

Test(pmm, qemu_5g_every_frame_once_high_ones_only_through_phys)
{
	exhaust_qemu_map(&qemu_map_5g, (0xbffe0000 - 0x100000 + GIB(2)) / FRAME, GIB(2) / FRAME);
}

Test(pmm, qemu_x86_64_map_with_the_0xfd00000000_hole)
{
	exhaust_qemu_map(&qemu_map_x86_64_5g, (0xbffe0000 - 0x100000 + GIB(2)) / FRAME,
			 GIB(2) / FRAME);
}

Test(pmm, regions_are_the_low_one_from_the_kernel_base_and_the_high_one_from_4gib)
{
	struct fx f;
	fx_map(&f, &qemu_map_5g, BOOT_KERNEL_BASE);
	struct pmm_region_stats rs[4];
	struct pmm_stats total;
	cr_assert_eq(pmm_stats(&f.pmm, &total, rs, 4), 2);
	cr_assert(rs[0].start == BOOT_KERNEL_BASE && rs[0].end == 0xbffe0000);
	cr_assert(rs[1].start == GIB(4) && rs[1].end == GIB(6));
	cr_assert_eq(rs[1].stats.total, GIB(2) / FRAME);
	cr_assert_eq(total.total, rs[0].stats.total + rs[1].stats.total);
	cr_assert_eq(f.pmm.unmanaged_frames, 0x9f000 / FRAME, "usable RAM below the floor");
	cr_assert_eq(f.pmm.regions->next->next, NULL);
	fx_done(&f);
}

Test(pmm, metadata_stays_small)
{
	const struct qemu_map *maps[] = { &qemu_map_32m, &qemu_map_128m, &qemu_map_3g,
					  &qemu_map_5g };
	const size_t at_most[] = { 8 << 10, 40 << 10, 300 << 10, 400 << 10 };
	for (size_t i = 0; i < ARRAY_SIZE(maps); i++) {
		struct memmap_range r[8];
		int n = memmap_usable(maps[i]->entries, maps[i]->count, r, 8);
		size_t size = pmm_metadata_size(r, (size_t)n, BOOT_KERNEL_BASE);
		cr_log_info("metadata for %s: %zu bytes", maps[i]->name, size);
		cr_assert(size <= at_most[i], "%s: %zu bytes of metadata", maps[i]->name, size);
		cr_assert(size % 8 == 0);
	}
}

/* ---- first fit, split and merge, run lengths ---- */

Test(pmm, first_fit_returns_the_lowest_free_run)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, MIB(1));
	void *a = pmm_alloc(&f.pmm, 1), *b = pmm_alloc(&f.pmm, 1), *c = pmm_alloc(&f.pmm, 1);
	cr_assert(phys_of(a) == MIB(1) && phys_of(b) == MIB(1) + FRAME &&
		  phys_of(c) == MIB(1) + 2 * FRAME);
	pmm_free(&f.pmm, b);
	cr_assert_eq(pmm_alloc(&f.pmm, 1), b, "the hole is the lowest fit");
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), MIB(1) + 3 * FRAME);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, split_and_merge_with_both_neighbours)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	phys_addr_t a = phys_of(pmm_alloc(&f.pmm, 3));
	phys_addr_t b = phys_of(pmm_alloc(&f.pmm, 3));
	phys_addr_t c = phys_of(pmm_alloc(&f.pmm, 3));
	cr_assert(b == a + 3 * FRAME && c == b + 3 * FRAME);

	pmm_free_phys(&f.pmm, b);
	phys_addr_t d = phys_of(pmm_alloc(&f.pmm, 4));
	cr_assert_eq(d, c + 3 * FRAME, "a 3-frame hole does not hold 4 frames");
	pmm_free_phys(&f.pmm, a); /* merges with b's hole: 6 frames */
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 6)), a);
	pmm_free_phys(&f.pmm, a);
	pmm_free_phys(&f.pmm, c); /* a, b, c merged: 9 frames */
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 9)), a);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, free_returns_exactly_the_run_allocated_there)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(3)) }, 1, 0);
	phys_addr_t a = phys_of(pmm_alloc(&f.pmm, 5));
	phys_addr_t b = phys_of(pmm_alloc(&f.pmm, 1)); /* right after a: a's end must not grow into b */
	phys_addr_t c = phys_of(pmm_alloc(&f.pmm, 300));
	cr_assert_eq(pmm_free_phys(&f.pmm, a), 5);
	cr_assert_eq(pmm_frame_state(&f.pmm, b), PMM_FRAME_RUN_START);
	cr_assert_eq(pmm_free_phys(&f.pmm, c), 300);
	cr_assert_eq(pmm_free_phys(&f.pmm, b), 1);
	cr_assert_eq(stats_of(&f.pmm).allocated, 0);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, run_before_reserved_frames_ends_at_them)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	pmm_reserve(&f.pmm, MIB(1) + 4 * FRAME, MIB(1) + 6 * FRAME, "hole");
	phys_addr_t a = phys_of(pmm_alloc(&f.pmm, 4));
	cr_assert_eq(a, MIB(1));
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), MIB(1) + 6 * FRAME, "skips the reservation");
	cr_assert_eq(pmm_free_phys(&f.pmm, a), 4, "the run stops at the reserved frames");
	cr_assert_eq(pmm_frame_state(&f.pmm, MIB(1) + 4 * FRAME), PMM_FRAME_RESERVED);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, runs_span_many_words_and_tree_nodes)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(1) + 100000 * FRAME) }, 1, 0);
	phys_addr_t a = phys_of(pmm_alloc(&f.pmm, 1));
	phys_addr_t big = phys_of(pmm_alloc(&f.pmm, 70000)); /* crosses a level-3 node boundary */
	cr_assert_eq(big, a + FRAME);
	cr_assert_eq(stats_of(&f.pmm).largest_free_run, 100000 - 70001);
	cr_assert_eq(pmm_alloc(&f.pmm, 30000), NULL);
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 29999)), big + 70000 * FRAME);
	cr_assert_eq(pmm_free_phys(&f.pmm, big), 70000);
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 69999)), big, "first fit takes the freed run");
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, runs_never_cross_from_one_region_into_the_next)
{
	struct fx f;
	/* Two touching ranges, as memmap_usable() gives across 4 GiB. */
	fx_ranges(&f, (struct memmap_range[]){ R(GIB(4) - 2 * FRAME, GIB(4)), R(GIB(4), GIB(4) + 8 * FRAME) },
		  2, 0);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 3, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, GIB(4), "3 frames do not fit below 4 GiB and do not straddle it");
	cr_assert_eq(pmm_alloc(&f.pmm, 1), (void *)(uintptr_t)(GIB(4) - 2 * FRAME));
	fx_done(&f);
}

/* ---- address types, alignment, limits ---- */

Test(pmm, void_pointer_api_serves_only_below_4gib)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(GIB(4), GIB(5)) }, 1, MIB(1));
	cr_assert_eq(pmm_alloc(&f.pmm, 1), NULL);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, GIB(4));
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_4GIB, &a), -MIO_ENOMEM);
	fx_done(&f);
}

Test(pmm, aligned_4mib_run_of_1024_frames)
{
	struct fx f;
	fx_map(&f, &qemu_map_5g, BOOT_KERNEL_BASE);
	reserve_boot(&f);
	phys_addr_t a, b, hi;
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, MIB(4), PMM_LIMIT_4GIB, &a), 0);
	cr_assert_eq(a, MIB(8), "the heap ends at 5 MiB, so 4-8 MiB is not free: 0x%llx", ULL(a));
	/* A single frame still comes from the lowest hole, below the aligned run. */
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), BOOT_KERNEL_BASE + 0xc000);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, MIB(4), PMM_LIMIT_4GIB, &b), 0);
	cr_assert_eq(b, MIB(12));
	/* Above 4 GiB for 4 MiB pages with PSE-36: limit the low region away by exhausting it. */
	while (pmm_alloc_phys(&f.pmm, 1024, MIB(4), PMM_LIMIT_4GIB, &hi) == 0)
		cr_assert(IS_ALIGNED(hi, MIB(4)) && hi + MIB(4) <= GIB(4));
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, MIB(4), PMM_LIMIT_NONE, &hi), 0);
	cr_assert_eq(hi, GIB(4));
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, alignment_skips_misaligned_free_runs)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(64)) }, 1, 0);
	phys_addr_t a, b;
	/*
	 * Free runs of 1500 frames that start one frame past a 4 MiB line, with
	 * the rest up to the next 8 MiB reserved: each is long enough for 1024
	 * frames, but from its only 4 MiB-aligned frame on just 477 are free.
	 */
	for (phys_addr_t m = MIB(4); m < MIB(32); m += MIB(8)) {
		cr_assert_eq(pmm_reserve(&f.pmm, m, m + FRAME, "pin"), 1);
		cr_assert_eq(pmm_reserve(&f.pmm, m + 1501 * FRAME, m + MIB(8), "pin"), 2048 - 1501);
	}
	cr_assert_eq(stats_of(&f.pmm).largest_free_run, MIB(64 - 36) / FRAME);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, MIB(4), PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, MIB(36), "every earlier long run starts misaligned: 0x%llx", ULL(a));
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, MIB(4), MIB(36), &b), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1024, 64 << 10, PMM_LIMIT_NONE, &b), 0);
	cr_assert_eq(b, MIB(4) + 16 * FRAME, "the first 64 KiB line inside the first long run");
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 3 * FRAME, PMM_LIMIT_NONE, &b), -MIO_EINVAL);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 1, PMM_LIMIT_NONE, &b), 0, "byte alignment is any frame");
	cr_assert_eq(b, MIB(1));
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, lower_bound_reaches_above_4gib_first)
{
	struct fx f;
	fx_map(&f, &qemu_map_5g, BOOT_KERNEL_BASE);
	reserve_boot(&f);
	phys_addr_t a, b;
	/* With plenty free below, min = 4 GiB still goes straight to the high region. */
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1024, MIB(4), PMM_LIMIT_4GIB, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, GIB(4));
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, PMM_LIMIT_4GIB, PMM_LIMIT_NONE, &b), 0);
	cr_assert_eq(b, GIB(4) + MIB(4), "first fit above the bound: right after the 4 MiB run");
	/* A bound inside a free run starts the run there, rounded up to a frame. */
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 3, 0, MIB(100) + 1, PMM_LIMIT_NONE, &b), 0);
	cr_assert_eq(b, MIB(100) + FRAME);
	/* Bound and limit together: the window [min, limit) must hold the whole run. */
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 2, 0, MIB(16) - FRAME, MIB(16), &b), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, MIB(16) - FRAME, MIB(16), &b), 0);
	cr_assert_eq(b, MIB(16) - FRAME);
	/* Above all memory: nothing. Errors as pmm_alloc_phys. */
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, GIB(6), PMM_LIMIT_NONE, &b), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, UINT64_MAX, PMM_LIMIT_NONE, &b), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 0, 0, GIB(4), PMM_LIMIT_NONE, &b), -MIO_EINVAL);
	/* The low region is untouched by all of this: the plain call still starts low. */
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &b), 0);
	cr_assert_eq(b, BOOT_KERNEL_BASE + 0xc000);
	pmm_check(&f.pmm);
	fx_done(&f);
}

/* ---- the summaries: free-frame bitmap and run tree, at region edges ---- */

/* One region of `frames` frames at 1 MiB, no floor in the way. */
static void fx_frames(struct fx *f, size_t frames)
{
	fx_ranges(f, (struct memmap_range[]){ R(MIB(1), MIB(1) + frames * FRAME) }, 1, 0);
}

#define AT(i) (MIB(1) + (phys_addr_t)(i) * FRAME)

/* Sizes around every boundary the summaries have: a word, a level-1 node, the bitmap's levels. */
static const size_t edge_sizes[] = { 1, 2, 63, 64, 65, 127, 511, 512, 513, 4095, 4096, 4097,
				     4159, 32767, 32769, 262143, 262145, 300007 };

Test(pmm_edges, single_frames_fill_every_size_in_order_and_refill_holes)
{
	for (size_t k = 0; k < ARRAY_SIZE(edge_sizes); k++) {
		size_t n = edge_sizes[k];
		struct fx f;
		fx_frames(&f, n);
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), AT(i), "%zu frames: frame %zu", n, i);
		cr_assert_null(pmm_alloc(&f.pmm, 1), "%zu frames: the region is full", n);
		cr_assert_eq(stats_of(&f.pmm).largest_free_run, 0);
		pmm_check(&f.pmm);
		/* Holes in the last word, the middle and the first word come back lowest first. */
		size_t holes[] = { n - 1, n / 2, 0 }, nholes = n >= 5 ? 3 : 1;
		for (size_t h = 0; h < nholes; h++)
			pmm_free_phys(&f.pmm, AT(holes[h]));
		cr_assert_eq(stats_of(&f.pmm).largest_free_run, 1);
		pmm_check(&f.pmm);
		for (size_t h = nholes; h-- > 0;)
			cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), AT(holes[h]), "%zu frames: hole %zu",
				     n, holes[h]);
		cr_assert_null(pmm_alloc(&f.pmm, 1));
		pmm_check(&f.pmm);
		fx_done(&f);
	}
}

Test(pmm_edges, the_region_end_ends_the_last_word_and_the_last_nodes)
{
	for (size_t k = 0; k < ARRAY_SIZE(edge_sizes); k++) {
		size_t n = edge_sizes[k];
		if (n < 4)
			continue;
		struct fx f;
		fx_frames(&f, n);
		/* Everything allocated but a run at the very end of the region. */
		size_t tail = n / 3 + 1;
		phys_addr_t head;
		cr_assert_eq(pmm_alloc_phys(&f.pmm, n - tail, 0, PMM_LIMIT_NONE, &head), 0);
		cr_assert_eq(stats_of(&f.pmm).largest_free_run, tail, "%zu frames", n);
		pmm_check(&f.pmm);
		phys_addr_t a;
		cr_assert_eq(pmm_alloc_phys(&f.pmm, tail + 1, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
		cr_assert_eq(pmm_alloc_phys(&f.pmm, tail, 0, PMM_LIMIT_NONE, &a), 0, "%zu frames", n);
		cr_assert_eq(a, AT(n - tail));
		pmm_check(&f.pmm);
		/* Given back, the tail merges with nothing after it and the head's run stays whole. */
		cr_assert_eq(pmm_free_phys(&f.pmm, a), tail);
		cr_assert_eq(pmm_free_phys(&f.pmm, head), n - tail);
		cr_assert_eq(stats_of(&f.pmm).largest_free_run, n);
		pmm_check(&f.pmm);
		fx_done(&f);
	}
}

Test(pmm_edges, reservations_at_both_region_edges)
{
	for (size_t k = 0; k < ARRAY_SIZE(edge_sizes); k++) {
		size_t n = edge_sizes[k];
		if (n < 6)
			continue;
		struct fx f;
		fx_frames(&f, n);
		cr_assert_eq(pmm_reserve(&f.pmm, AT(0), AT(1), "first"), 1);
		cr_assert_eq(pmm_reserve(&f.pmm, AT(n - 2), AT(n) + 5 * FRAME, "last two and beyond"), 2);
		pmm_check(&f.pmm);
		cr_assert_eq(stats_of(&f.pmm).largest_free_run, n - 3, "%zu frames", n);
		phys_addr_t a, b;
		cr_assert_eq(pmm_alloc_phys(&f.pmm, n - 2, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
		cr_assert_eq(pmm_alloc_phys(&f.pmm, n - 3, 0, PMM_LIMIT_NONE, &a), 0);
		cr_assert_eq(a, AT(1));
		cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &b), -MIO_ENOMEM);
		pmm_check(&f.pmm);
		cr_assert_eq(pmm_free_phys(&f.pmm, a), n - 3);
		/* Single frames: the first one past the reserved first frame, the last before the end. */
		cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &b), 0);
		cr_assert_eq(b, AT(1));
		cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, AT(n - 3), PMM_LIMIT_NONE, &b), 0);
		cr_assert_eq(b, AT(n - 3));
		cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, AT(n - 3), PMM_LIMIT_NONE, &b), -MIO_ENOMEM);
		pmm_check(&f.pmm);
		fx_done(&f);
	}
}

Test(pmm_edges, single_frames_respect_the_lower_bound_the_limit_and_alignment)
{
	struct fx f;
	fx_frames(&f, 300007); /* three bitmap levels */
	phys_addr_t a;
	/* Free frames only at 5, 64 * 70 + 3 (another bitmap word) and 262144 + 9 (the top level). */
	cr_assert_eq(pmm_reserve(&f.pmm, AT(0), AT(5), "pin"), 5);
	cr_assert_eq(pmm_reserve(&f.pmm, AT(6), AT(64 * 70 + 3), "pin"), 64 * 70 + 3 - 6);
	cr_assert_eq(pmm_reserve(&f.pmm, AT(64 * 70 + 4), AT(262144 + 9), "pin"),
		     262144 + 9 - (64 * 70 + 4));
	cr_assert_eq(pmm_reserve(&f.pmm, AT(262144 + 10), AT(300007), "pin"), 300007 - 262154);
	pmm_check(&f.pmm);
	cr_assert_eq(stats_of(&f.pmm).free, 3);

	/* The limit cuts before the lowest free frame, then just after it. */
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, AT(5), &a), -MIO_ENOMEM);
	/* The lower bound skips the first two, inside a word and across bitmap words. */
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, AT(6), AT(300007), &a), 0);
	cr_assert_eq(a, AT(64 * 70 + 3));
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, AT(64 * 70 + 3), PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, AT(262144 + 9));
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1, 0, AT(64 * 70), PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	/* Alignment: the last free frame, 5, is odd: an 8 KiB-aligned single frame does not exist. */
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 2 * FRAME, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, FRAME, AT(6), &a), 0);
	cr_assert_eq(a, AT(5));
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm_edges, a_lone_frame_in_a_taken_word_leaves_the_run_tree_alone)
{
	struct fx f;
	fx_frames(&f, 5000);
	struct pmm_region *r = f.pmm.regions;
	for (size_t i = 0; i < 3000; i++)
		pmm_alloc(&f.pmm, 1);
	size_t tree_bytes[PMM_MAX_LEVELS + 1];
	void *before[PMM_MAX_LEVELS + 1];
	for (unsigned l = 1; l <= r->levels; l++) {
		tree_bytes[l] = r->count[l] * sizeof(struct pmm_node);
		before[l] = malloc(tree_bytes[l]);
		memcpy(before[l], r->nodes[l], tree_bytes[l]);
	}
	uint8_t leaf = r->leaf_mid[20];
	/* Frame 20 * 64 + 30 sits between taken frames: it is the free-frame bitmap's alone. */
	pmm_free_phys(&f.pmm, AT(20 * 64 + 30));
	cr_assert_eq((r->avail[0][0] >> 20) & 1, 1, "word 20 has a free frame now");
	for (unsigned l = 1; l <= r->levels; l++)
		cr_assert_eq(memcmp(before[l], r->nodes[l], tree_bytes[l]), 0, "level %u changed", l);
	cr_assert_eq(r->leaf_mid[20], leaf);
	pmm_check(&f.pmm);
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), AT(20 * 64 + 30));
	cr_assert_eq((r->avail[0][0] >> 20) & 1, 0);
	pmm_check(&f.pmm);
	for (unsigned l = 1; l <= r->levels; l++)
		free(before[l]);
	fx_done(&f);
}

/*
 * Only the last n frames of a tree node are free, the frames after it
 * taken: the run ends its node exactly, so first fit must take it there
 * rather than carry it on to a next child that does not exist. At the end
 * of a region of 4096 frames it is the root's last child (and the last word
 * of a level-1 node); at frame 4096 of 32768 frames, the last child of the
 * root's first child.
 */
Test(pmm_edges, a_run_that_exactly_ends_a_node_is_found_there)
{
	static const size_t regions[] = { 4096, 32768 }, lengths[] = { 2, 3, 64, 100 };
	for (size_t k = 0; k < ARRAY_SIZE(regions); k++) {
		for (size_t j = 0; j < ARRAY_SIZE(lengths); j++) {
			size_t frames = regions[k], n = lengths[j], end = 4096;
			struct fx f;
			fx_frames(&f, frames);
			pmm_reserve(&f.pmm, AT(0), AT(end - n), "before");
			pmm_reserve(&f.pmm, AT(end), AT(frames), "after");
			cr_assert_eq(stats_of(&f.pmm).free, n);
			phys_addr_t a;
			cr_assert_eq(pmm_alloc_phys(&f.pmm, n + 1, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
			cr_assert_eq(pmm_alloc_phys(&f.pmm, n, 0, PMM_LIMIT_NONE, &a), 0,
				     "%zu frames: run of %zu", frames, n);
			cr_assert_eq(a, AT(end - n), "%zu frames: run of %zu at 0x%llx", frames, n, ULL(a));
			pmm_check(&f.pmm);
			fx_done(&f);
		}
	}
}

/* Reserves every frame of f's region [0, frames) but the runs [at[i], at[i] + len[i]). */
static void leave_free(struct fx *f, size_t frames, const size_t *at, const size_t *len, size_t n)
{
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		pmm_reserve(&f->pmm, AT(from), AT(at[i]), "around");
		from = at[i] + len[i];
	}
	pmm_reserve(&f->pmm, AT(from), AT(frames), "around");
	pmm_check(&f->pmm);
}

/*
 * With a lower bound, first fit judges each entry after it by its summary:
 * an entry whose middle run is exactly the size asked for holds the run,
 * and a longer run further on must not win. Inside a word (word 9's middle
 * run, 5 frames, before 20 in word 12: both under level-1 node 1) and
 * across words (level-1 node 2's middle run, 100 frames over words 17-18,
 * before 300 across nodes 3 and 4).
 */
Test(pmm_edges, a_lower_bound_finds_a_middle_run_of_exactly_the_size_asked)
{
	static const struct {
		size_t n, at[2], len[2];
	} cases[] = {
		{ 5, { 64 * 9 + 10, 64 * 12 + 10 }, { 5, 20 } },
		{ 100, { 1100, 2000 }, { 100, 300 } },
	};
	for (size_t k = 0; k < ARRAY_SIZE(cases); k++) {
		struct fx f;
		fx_frames(&f, 4096);
		leave_free(&f, 4096, cases[k].at, cases[k].len, 2);
		phys_addr_t a;
		cr_assert_eq(pmm_alloc_phys_range(&f.pmm, cases[k].n, 0, AT(1), PMM_LIMIT_NONE, &a), 0);
		cr_assert_eq(a, AT(cases[k].at[0]), "run of %zu at 0x%llx", cases[k].n, ULL(a));
		cr_assert_eq(pmm_alloc_phys_range(&f.pmm, cases[k].n, 0, AT(1), PMM_LIMIT_NONE, &a), 0);
		cr_assert_eq(a, AT(cases[k].at[1]), "then the longer one: 0x%llx", ULL(a));
		pmm_check(&f.pmm);
		fx_done(&f);
	}
}

struct walk_log {
	phys_addr_t start[64], end[64];
	enum pmm_frame_state st[64];
	size_t n;
};

static void log_run(phys_addr_t start, phys_addr_t end, enum pmm_frame_state st, void *arg)
{
	struct walk_log *w = arg;
	cr_assert_lt(w->n, 64);
	w->start[w->n] = start;
	w->end[w->n] = end;
	w->st[w->n++] = st;
}

Test(pmm, walk_runs_tiles_every_region_in_order)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)), R(MIB(8), MIB(9)) }, 2, 0);
	pmm_reserve(&f.pmm, MIB(1), MIB(1) + 2 * FRAME, "pin");
	void *a = pmm_alloc(&f.pmm, 3), *b = pmm_alloc(&f.pmm, 2);
	cr_assert(a && b);
	struct walk_log w = { .n = 0 };
	pmm_walk_runs(&f.pmm, log_run, &w);
	/* reserved 2, run of 3, run of 2 (adjacent runs stay separate), free rest; region 2 free */
	cr_assert_eq(w.n, 5);
	cr_assert(w.st[0] == PMM_FRAME_RESERVED && w.start[0] == MIB(1) && w.end[0] == MIB(1) + 2 * FRAME);
	cr_assert(w.st[1] == PMM_FRAME_RUN_START && w.start[1] == phys_of(a) && w.end[1] == phys_of(a) + 3 * FRAME);
	cr_assert(w.st[2] == PMM_FRAME_RUN_START && w.start[2] == phys_of(b) && w.end[2] == phys_of(b) + 2 * FRAME);
	cr_assert(w.st[3] == PMM_FRAME_FREE && w.start[3] == w.end[2] && w.end[3] == MIB(2));
	cr_assert(w.st[4] == PMM_FRAME_FREE && w.start[4] == MIB(8) && w.end[4] == MIB(9));
	fx_done(&f);
}

Test(pmm, upper_limit_below_16mib)
{
	struct fx f;
	fx_map(&f, &qemu_map_128m, BOOT_KERNEL_BASE);
	reserve_boot(&f);
	size_t count = 0;
	phys_addr_t a;
	while (pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_16MIB, &a) == 0) {
		cr_assert(a + FRAME <= MIB(16));
		count++;
	}
	/* 1..16 MiB minus the kernel image, the module and the heap. */
	cr_assert_eq(count, (MIB(15) - 0xc000 - 0x3000 - BOOT_HEAP_SIZE) / FRAME);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_16MIB, &a), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_4GIB, &a), 0);
	cr_assert_eq(a, MIB(16));
	/* A run that would end past the limit is refused even though it would start below. */
	pmm_free_phys(&f.pmm, MIB(16) - FRAME);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 2, 0, PMM_LIMIT_16MIB, &a), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, MIB(16) + 0x7ff, &a), 0, "limits round down");
	fx_done(&f);
}

Test(pmm, frame_zero_is_never_handed_out)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(0, 8 * FRAME) }, 1, 0);
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), FRAME);
	cr_assert_eq(pmm_frame_state(&f.pmm, 0), PMM_FRAME_UNMANAGED);
	cr_assert_eq(stats_of(&f.pmm).total, 7);
	fx_done(&f);
}

Test(pmm, memory_above_the_pse36_limit_is_not_managed)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)), R(PMM_MAX_PHYS - 4 * FRAME, PMM_MAX_PHYS + GIB(1)) },
		  2, 0);
	cr_assert_eq(stats_of(&f.pmm).total, 256 + 4);
	cr_assert_eq(f.pmm.unmanaged_frames, GIB(1) / FRAME);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 257, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 5, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, MIB(1));
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 5, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, MIB(1) + 5 * FRAME, "not the 4 frames below 2^36 plus one above");
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 246, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 4, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, PMM_MAX_PHYS - 4 * FRAME);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	fx_done(&f);
}

/*
 * The largest region there can be: every frame from 4 KiB up to
 * PMM_MAX_PHYS, 2^24 - 1 frames in 2^18 words, whose free-frame bitmap
 * needs all PMM_AVAIL_LEVELS levels, the top one full (64 entries). Not
 * checked with pmm_check, whose walk of 16 M frames costs about a second:
 * the next test checks a region with as many node levels.
 */
Test(pmm, the_largest_region_reaches_pmm_max_phys)
{
	struct memmap_range r = R(0, PMM_MAX_PHYS);
	size_t size = pmm_metadata_size(&r, 1, 0);
	void *meta = malloc(size);
	struct pmm pmm;
	pmm_init(&pmm, &r, 1, 0, meta, size);
	struct pmm_stats s = stats_of(&pmm);
	cr_assert_eq(s.total, (PMM_MAX_PHYS >> PAGE_SHIFT) - 1);
	cr_assert_eq(s.largest_free_run, s.total);
	phys_addr_t a, top;
	cr_assert_eq(pmm_alloc_phys_range(&pmm, 1, 0, PMM_MAX_PHYS - FRAME, PMM_LIMIT_NONE, &top), 0);
	cr_assert_eq(top, PMM_MAX_PHYS - FRAME);
	cr_assert_eq(pmm_alloc_phys(&pmm, 1, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, FRAME);
	cr_assert_eq(pmm_alloc_phys(&pmm, (size_t)s.total - 2, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, 2 * FRAME);
	cr_assert_eq(pmm_alloc_phys(&pmm, 1, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	cr_assert_eq(pmm_free_phys(&pmm, top), 1);
	cr_assert_eq(pmm_alloc_phys(&pmm, 1, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, top, "the only free frame, under the top bitmap word's last bit");
	free(meta);
}

/*
 * A region just past 2^21 frames (8 GiB) has all PMM_MAX_LEVELS node levels
 * (32784 words, then 4098, 513, 65, 9, 2 and 1 nodes): pmm_check walks each
 * of them, before a run across the two level-5 nodes and after it is freed.
 */
Test(pmm, a_region_with_every_node_level_passes_pmm_check)
{
	size_t frames = ((size_t)1 << 21) + 1000;
	struct fx f;
	fx_frames(&f, frames); /* checked once */
	cr_assert_eq(f.pmm.regions->levels, PMM_MAX_LEVELS);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc_phys_range(&f.pmm, 1500, 0, AT(((size_t)1 << 21) - 500), PMM_LIMIT_NONE,
					  &a), 0);
	cr_assert_eq(a, AT(((size_t)1 << 21) - 500));
	cr_assert_eq(stats_of(&f.pmm).largest_free_run, ((size_t)1 << 21) - 500);
	cr_assert_eq(pmm_free_phys(&f.pmm, a), 1500);
	cr_assert_eq(stats_of(&f.pmm).largest_free_run, frames);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, many_small_regions_first_fit_across_them)
{
	struct memmap_range r[16];
	for (size_t i = 0; i < 16; i++)
		r[i] = R(MIB(1) + i * 16 * FRAME, MIB(1) + i * 16 * FRAME + (i + 1) * FRAME);
	struct fx f;
	fx_ranges(&f, r, 16, 0);
	cr_assert_eq(f.pmm.region_count, 16);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 10, 0, PMM_LIMIT_NONE, &a), 0);
	cr_assert_eq(a, r[9].start, "range 9 is the first with 10 frames");
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 17, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
	fx_done(&f);
}

/* ---- reservations ---- */

Test(pmm, reservations_round_outward_and_are_idempotent)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	cr_assert_eq(pmm_reserve(&f.pmm, MIB(1) + 0x1fff, MIB(1) + 0x2001, "two bytes"), 2);
	cr_assert_eq(pmm_reserve(&f.pmm, MIB(1) + 0x1000, MIB(1) + 0x3000, "again"), 0);
	cr_assert_eq(pmm_reserve(&f.pmm, 0, MIB(1) + FRAME, "partly outside"), 1);
	cr_assert_eq(pmm_reserve(&f.pmm, MIB(5), MIB(6), "wholly outside"), 0);
	cr_assert_eq(pmm_reserve(&f.pmm, MIB(1), MIB(1), "empty"), 0);
	cr_assert_eq(pmm_reserve(&f.pmm, MIB(2) - 1, UINT64_MAX, "to the top"), 1);
	cr_assert_eq(stats_of(&f.pmm).reserved, 4);
	cr_assert_eq(f.pmm.reservation_count, 5, "the empty one is not recorded");
	cr_assert_eq(phys_of(pmm_alloc(&f.pmm, 1)), MIB(1) + 3 * FRAME);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, reserving_an_allocated_frame_panics_and_changes_nothing)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)), R(MIB(3), MIB(4)) }, 2, 0);
	phys_addr_t a;
	pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_NONE, &a);
	cr_assert_eq(pmm_alloc_phys(&f.pmm, 1, 0, PMM_LIMIT_16MIB, &a), 0);
	struct pmm_stats before = stats_of(&f.pmm);
	/* Covers free frames in the first region and the allocated one at 1 MiB + 4 KiB. */
	cr_assert(HOST_PANICS(pmm_reserve(&f.pmm, MIB(1) + FRAME, MIB(4), "late")));
	cr_assert(strstr(host_panic_message, "frame 0x101000 is allocated"), "%s",
		  host_panic_message);
	cr_assert(same_stats(stats_of(&f.pmm), before));
	cr_assert_eq(f.pmm.reservation_count, 0);
	pmm_check(&f.pmm);
	fx_done(&f);
}

Test(pmm, reservation_table_overflow_still_reserves)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	for (size_t i = 0; i < PMM_MAX_RESERVATIONS + 3; i++)
		pmm_reserve(&f.pmm, MIB(1) + i * FRAME, MIB(1) + (i + 1) * FRAME, "one");
	cr_assert_eq(f.pmm.reservation_count, PMM_MAX_RESERVATIONS);
	cr_assert_eq(f.pmm.reservations_unrecorded, 3);
	cr_assert_eq(stats_of(&f.pmm).reserved, PMM_MAX_RESERVATIONS + 3);
	fx_done(&f);
}

/* ---- the bad-input table ---- */

static struct fx bad;

static void bad_setup(void)
{
	fx_ranges(&bad, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	pmm_reserve(&bad.pmm, MIB(1), MIB(1) + 2 * FRAME, "kernel");
}

static void bad_teardown(void)
{
	pmm_check(&bad.pmm);
	fx_done(&bad);
}

TestSuite(pmm_bad_input, .init = bad_setup, .fini = bad_teardown);

#define EXPECT_PANIC(stmt, ...)                                                               \
	do {                                                                                  \
		struct pmm_stats before_ = stats_of(&bad.pmm);                                \
		cr_assert(HOST_PANICS(stmt), "%s did not panic", #stmt);                      \
		const char *const want_[] = { __VA_ARGS__ };                                  \
		for (size_t i_ = 0; i_ < ARRAY_SIZE(want_); i_++)                             \
			cr_assert(strstr(host_panic_message, want_[i_]), "\"%s\" lacks \"%s\"", \
				  host_panic_message, want_[i_]);                             \
		cr_assert(same_stats(stats_of(&bad.pmm), before_), "the panic changed state"); \
	} while (0)

Test(pmm_bad_input, free_null_does_nothing)
{
	struct pmm_stats before = stats_of(&bad.pmm);
	cr_assert(!HOST_PANICS(pmm_free(&bad.pmm, NULL)));
	cr_assert(same_stats(stats_of(&bad.pmm), before));
}

Test(pmm_bad_input, free_of_a_never_allocated_frame_panics_naming_it)
{
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, MIB(1) + 10 * FRAME), "0x10a000");
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, MIB(1)), "reserved frame 0x100000");
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, MIB(7)), "frame 0x700000", "never allocated");
	EXPECT_PANIC(pmm_free(&bad.pmm, (void *)(uintptr_t)0x5000), "0x5000");
}

Test(pmm_bad_input, free_inside_a_run_panics_naming_the_address)
{
	phys_addr_t a = phys_of(pmm_alloc(&bad.pmm, 4));
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, a + 2 * FRAME), "frame 0x104000 inside an allocated run");
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, a + 3 * FRAME), "0x105000");
	cr_assert_eq(pmm_free_phys(&bad.pmm, a), 4);
}

Test(pmm_bad_input, double_free_panics)
{
	void *p = pmm_alloc(&bad.pmm, 3);
	pmm_free(&bad.pmm, p);
	EXPECT_PANIC(pmm_free(&bad.pmm, p), "double free of frame 0x102000");
	cr_assert_eq(strncmp(host_panic_message, "double free of frame 0x102000", 29), 0);
}

Test(pmm_bad_input, unaligned_address_panics_naming_it)
{
	void *p = pmm_alloc(&bad.pmm, 1);
	EXPECT_PANIC(pmm_free(&bad.pmm, (char *)p + 8), "0x102008", "aligned");
	EXPECT_PANIC(pmm_free_phys(&bad.pmm, 0xfff), "0xfff");
	pmm_free(&bad.pmm, p);
}

Test(pmm_bad_input, alloc_of_zero_frames_is_null)
{
	struct pmm_stats before = stats_of(&bad.pmm);
	phys_addr_t a;
	cr_assert_eq(pmm_alloc(&bad.pmm, 0), NULL);
	cr_assert_eq(pmm_alloc_phys(&bad.pmm, 0, 0, PMM_LIMIT_NONE, &a), -MIO_EINVAL);
	cr_assert(same_stats(stats_of(&bad.pmm), before));
}

Test(pmm_bad_input, more_frames_than_any_free_run_is_null_and_changes_nothing)
{
	void *a = pmm_alloc(&bad.pmm, 100); /* frees: [102..166) taken, 154 left in one run */
	(void)a;
	struct pmm_stats before = stats_of(&bad.pmm);
	cr_assert_eq(before.largest_free_run, 256 - 2 - 100);
	cr_assert_eq(pmm_alloc(&bad.pmm, 155), NULL);
	cr_assert_eq(pmm_alloc(&bad.pmm, SIZE_MAX), NULL);
	cr_assert_eq(pmm_alloc(&bad.pmm, (size_t)1 << 31), NULL);
	cr_assert(same_stats(stats_of(&bad.pmm), before));
	cr_assert_neq(pmm_alloc(&bad.pmm, 154), NULL, "but the largest run itself fits");
}

Test(pmm_bad_input, exhaustion_gives_null_then_recovers_after_frees)
{
	void *frames[256];
	size_t n = 0;
	while ((frames[n] = pmm_alloc(&bad.pmm, 1)) != NULL)
		n++;
	cr_assert_eq(n, 254);
	cr_assert_eq(pmm_alloc(&bad.pmm, 1), NULL);
	pmm_check(&bad.pmm);
	pmm_free(&bad.pmm, frames[100]);
	pmm_free(&bad.pmm, frames[7]);
	cr_assert_eq(pmm_alloc(&bad.pmm, 1), frames[7]);
	cr_assert_eq(pmm_alloc(&bad.pmm, 1), frames[100]);
	cr_assert_eq(pmm_alloc(&bad.pmm, 1), NULL);
	for (size_t i = 0; i < n; i++)
		pmm_free(&bad.pmm, frames[i]);
	cr_assert_eq(stats_of(&bad.pmm).free, 254);
	cr_assert_neq(pmm_alloc(&bad.pmm, 254), NULL);
}

Test(pmm, map_without_usable_memory_above_the_kernel_panics_at_init)
{
	/* Only the 640 KiB below the kernel base are available. */
	const struct memmap_entry raw[] = { { 0, 0x9fc00, MEMMAP_AVAILABLE },
					    { 0x100000, 0x1000000, MEMMAP_RESERVED } };
	struct memmap_range r[4];
	int n = memmap_usable(raw, 2, r, 4);
	cr_assert_eq(n, 1);
	cr_assert(HOST_PANICS(pmm_metadata_size(r, (size_t)n, BOOT_KERNEL_BASE)));
	cr_assert(strstr(host_panic_message, "no usable memory above 0x100000"), "%s",
		  host_panic_message);
	static uint64_t meta[64];
	struct pmm pmm;
	cr_assert(HOST_PANICS(pmm_init(&pmm, r, (size_t)n, BOOT_KERNEL_BASE, meta, sizeof(meta))));
	cr_assert(strstr(host_panic_message, "no usable memory above 0x100000"));
	cr_assert(HOST_PANICS(pmm_init(&pmm, r, 0, 0, meta, sizeof(meta))), "an empty map too");
}

Test(pmm, init_rejects_bad_metadata_and_bad_ranges)
{
	struct memmap_range r[] = { R(MIB(1), MIB(2)) };
	size_t need = pmm_metadata_size(r, 1, 0);
	uint64_t *meta = malloc(need + 8);
	struct pmm pmm;
	cr_assert(HOST_PANICS(pmm_init(&pmm, r, 1, 0, meta, need - 8)));
	cr_assert(strstr(host_panic_message, "smaller than"));
	cr_assert(HOST_PANICS(pmm_init(&pmm, r, 1, 0, (char *)meta + 4, need)));
	cr_assert(strstr(host_panic_message, "not 8-byte aligned"));
	struct memmap_range unsorted[] = { R(MIB(3), MIB(4)), R(MIB(1), MIB(2)) };
	cr_assert(HOST_PANICS(pmm_metadata_size(unsorted, 2, 0)));
	struct memmap_range odd[] = { R(MIB(1) + 1, MIB(2)) };
	cr_assert(HOST_PANICS(pmm_metadata_size(odd, 1, 0)));
	struct memmap_range empty[] = { R(MIB(1), MIB(2)), R(MIB(3), MIB(3)) };
	cr_assert(HOST_PANICS(pmm_init(&pmm, empty, 2, 0, meta, need)));
	cr_assert(strstr(host_panic_message, "usable range 1 [0x300000-0x300000) is not page-aligned"),
		  "%s", host_panic_message);
	free(meta);
}

Test(pmm, init_starts_from_scratch_whatever_the_struct_held)
{
	/*
	 * First a struct full of garbage, then the same struct after it served
	 * (a reservation, an allocation): pmm_init keeps nothing of either. The
	 * range below the floor is 158 unmanaged frames; 512 are managed.
	 */
	struct memmap_range r[] = { R(0x1000, 0x9f000), R(MIB(1), MIB(3)) };
	size_t need = pmm_metadata_size(r, 2, BOOT_KERNEL_BASE);
	void *meta = malloc(need);
	struct pmm pmm;
	memset(&pmm, 0xa5, sizeof(pmm));
	for (int round = 0; round < 2; round++) {
		pmm_init(&pmm, r, 2, BOOT_KERNEL_BASE, meta, need);
		cr_assert_eq(pmm.region_count, 1, "round %d", round);
		cr_assert_eq(pmm.unmanaged_frames, 158, "round %d", round);
		cr_assert_eq(pmm.reservation_count, 0, "round %d", round);
		cr_assert_eq(pmm.reservations_unrecorded, 0, "round %d", round);
		pmm_check(&pmm);
		struct pmm_stats s = stats_of(&pmm);
		cr_assert(s.total == 512 && s.free == 512 && s.used == 0 && s.largest_free_run == 512,
			  "round %d", round);
		pmm_reserve(&pmm, MIB(2), MIB(2) + FRAME, "r");
		phys_addr_t a;
		cr_assert_eq(pmm_alloc_phys(&pmm, 3, 0, PMM_LIMIT_NONE, &a), 0);
	}
	free(meta);
}

/* ---- the kernel's instance and its two calls ---- */

Test(pmm, kernel_api_wraps_kernel_pmm)
{
	struct memmap_range r[] = { R(MIB(1), MIB(4)) };
	size_t need = pmm_metadata_size(r, 1, BOOT_KERNEL_BASE);
	void *meta = malloc(need);
	pmm_init(&kernel_pmm, r, 1, BOOT_KERNEL_BASE, meta, need);
	void *a = pmm_alloc_frame(2), *b = pmm_alloc_frame(1);
	cr_assert(phys_of(a) == MIB(1) && phys_of(b) == MIB(1) + 2 * FRAME);
	cr_assert_eq(pmm_alloc_frame(0), NULL);
	pmm_free_frame(NULL);
	pmm_free_frame(a);
	cr_assert(HOST_PANICS(pmm_free_frame(a)));
	cr_assert_eq(strncmp(host_panic_message, "double free of frame 0x100000", 29), 0);
	cr_assert_eq(pmm_alloc_frame(3), (void *)(uintptr_t)(MIB(1) + 3 * FRAME), "2 frames free at 1 MiB");
	pmm_check(&kernel_pmm);
	free(meta);
	memset(&kernel_pmm, 0, sizeof(kernel_pmm));
}

/* ---- pmm_check notices corruption ---- */

static size_t popcount_free(const struct pmm_region *r, size_t w)
{
	return (size_t)__builtin_popcountll(r->idle[w] & ~r->mark[w]);
}

static struct fx cor;

static void cor_setup(void)
{
	fx_ranges(&cor, (struct memmap_range[]){ R(MIB(1), MIB(1) + 5000 * FRAME) }, 1, 0);
	pmm_reserve(&cor.pmm, MIB(1) + 100 * FRAME, MIB(1) + 200 * FRAME, "r");
	pmm_alloc(&cor.pmm, 7);
	pmm_alloc(&cor.pmm, 1);
	pmm_check(&cor.pmm);
}

static void cor_teardown(void) { fx_done(&cor); }

TestSuite(pmm_check, .init = cor_setup, .fini = cor_teardown);

#define EXPECT_CHECK_FAILS(corruption, words)                                                    \
	do {                                                                                     \
		corruption;                                                                      \
		cr_assert(HOST_PANICS(pmm_check(&cor.pmm)), "pmm_check missed: %s", #corruption); \
		cr_assert(strstr(host_panic_message, "pmm_check: ") &&                           \
				  strstr(host_panic_message, words),                             \
			  "%s", host_panic_message);                                             \
	} while (0)

Test(pmm_check, catches_a_flipped_free_bit)
{
	/* Two free frames of a free word turn reserved behind the PMM's back: a middle run appears. */
	EXPECT_CHECK_FAILS(cor.pmm.regions->mark[40] ^= (1ull << 5) | (1ull << 20), "summary says");
}

Test(pmm_check, catches_a_flipped_free_bit_with_the_counters_forged)
{
	/* Word 40 keeps no middle run, so the stale summary is its parent's prefix. */
	EXPECT_CHECK_FAILS((cor.pmm.regions->mark[40] ^= 1ull << 5, cor.pmm.regions->free--,
			    cor.pmm.regions->reserved++),
			   "level 1 node 5 holds pre/suf/mid 512/512/0, the frames say 5/506/0");
}

Test(pmm_check, catches_a_run_body_with_no_run_before_it)
{
	/* Frame 300 body (idle 0, mark 0) after a free frame, with counters adjusted to match. */
	EXPECT_CHECK_FAILS((cor.pmm.regions->idle[300 / 64] &= ~(1ull << (300 % 64)),
			    cor.pmm.regions->free--, cor.pmm.regions->allocated++),
			   "frame 0x22c000 is a run body with no run before it");
}

Test(pmm_check, catches_a_run_body_at_the_regions_first_frame)
{
	/* Frames 0-6 are a run: its start turns body, so the region opens with no run before it. */
	EXPECT_CHECK_FAILS(cor.pmm.regions->mark[0] &= ~1ull,
			   "frame 0x100000 is a run body with no run before it");
}

Test(pmm_check, catches_a_wrong_counter)
{
	/* The message names the region: 5000 frames from 1 MiB. */
	EXPECT_CHECK_FAILS(cor.pmm.regions->free++,
			   "pmm_check: region [0x100000-0x1488000): 4892 frames free, counter says 4893");
}

Test(pmm_check, catches_a_stale_tree_node)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->nodes[1][2].pre--, "level 1 node 2");
}

Test(pmm_check, catches_a_stale_root)
{
	/* The root at level 3: frames 0-7 allocated, 8-99 free, 100-199 reserved, 200-4999 free. */
	cr_assert_eq(cor.pmm.regions->levels, 3);
	EXPECT_CHECK_FAILS(cor.pmm.regions->nodes[3][0].mid--,
			   "level 3 node 0 holds pre/suf/mid 0/4800/91, the frames say 0/4800/92");
}

Test(pmm_check, catches_a_stale_word_summary)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->leaf_mid[0] = 64, "word 0");
}

Test(pmm_check, catches_a_bitmap_bit_left_set_when_a_word_fills)
{
	/* Word 0 (frames 0-63) has free frames; take them all behind the bitmap's back. */
	struct pmm_region *r = cor.pmm.regions;
	EXPECT_CHECK_FAILS((r->free -= popcount_free(r, 0), r->allocated += popcount_free(r, 0),
			    r->idle[0] = 0, r->mark[0] = 1),
			   "word 0: the free-frame bitmap says a frame is free, the bits say none is");
}

Test(pmm_check, catches_a_bitmap_bit_cleared_for_a_word_with_free_frames)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->avail[0][0] &= ~(1ull << 30),
			   "word 30: the free-frame bitmap says no frame is free");
}

Test(pmm_check, catches_a_stale_upper_bitmap_level)
{
	/* 5000 frames: 79 words, two bitmap levels; bit 1 of level 1 covers words 64-78. */
	EXPECT_CHECK_FAILS(cor.pmm.regions->avail[1][0] &= ~2ull,
			   "free-frame bitmap level 1 bit 1 says no frame is free");
}

Test(pmm_check, catches_bitmap_bits_past_the_last_entry)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->avail[0][1] |= 1ull << 20, "past its 79 entries");
}

Test(pmm_check, catches_a_stale_middle_run)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->nodes[2][0].mid = 40, "level 2 node 0");
}

Test(pmm_check, catches_disturbed_padding)
{
	size_t last = cor.pmm.regions->words - 1;
	EXPECT_CHECK_FAILS(cor.pmm.regions->mark[last] &= ~(1ull << 63), "padding");
}

Test(pmm_check, catches_a_tree_shape_that_does_not_match_the_frames)
{
	/* 5000 frames: 79 words under three node levels; forget the root, the bitmap intact. */
	EXPECT_CHECK_FAILS(cor.pmm.regions->levels--, "tree or bitmap shape does not match 5000 frames");
}

Test(pmm_check, catches_an_unaligned_region)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->base += 0x800, "empty or unaligned");
}

Test(pmm_check, catches_an_empty_region)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->frames = 0, "empty or unaligned");
}

Test(pmm_check, catches_a_region_below_the_floor)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->base = 0, "outside the managed range");
}

Test(pmm_check, catches_a_region_past_pmm_max_phys)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->base = PMM_MAX_PHYS - 4096 * FRAME,
			   "outside the managed range");
}

/*
 * Corrupted bounds so large that base + frames wraps to an end inside the
 * managed range: a frame count 2^52 too large (the end comes out as it
 * was), and a base 4 MiB below 2^64 (the fixture's 5000 frames end at
 * about 15.5 MiB). Both are
 * named, rather than tripping an assertion deeper in the walk.
 */
Test(pmm_check, catches_a_frame_count_whose_end_wraps)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->frames += (size_t)1 << 52, "outside the managed range");
}

Test(pmm_check, catches_a_base_whose_end_wraps)
{
	EXPECT_CHECK_FAILS(cor.pmm.regions->base = -((phys_addr_t)4 << 20), "outside the managed range");
}

Test(pmm_check, catches_a_region_struct_that_ends_past_the_metadata_area)
{
	/* The region struct opens the area; the recorded size now stops one byte short of its end. */
	struct pmm_region *r = cor.pmm.regions;
	size_t struct_end = (size_t)((const uint8_t *)(r + 1) - (const uint8_t *)cor.pmm.metadata);
	char where[96];
	ksnprintf(where, sizeof(where), "region struct at %p lies outside the metadata area",
		  (void *)r);
	cr_assert_eq((void *)r, cor.pmm.metadata);
	EXPECT_CHECK_FAILS(cor.pmm.metadata_size = struct_end - 1, where);
}

Test(pmm_check, catches_regions_out_of_order)
{
	EXPECT_CHECK_FAILS(cor.pmm.region_count = 2, "regions listed");
}

/*
 * A tree that promises a run its children do not hold: first fit's descent
 * panics naming the node instead of reading past its children. The
 * fixture's longest free run is frames 200-4999 (4800 frames); 4892 frames
 * are free in all. Its 5000 frames are 79 words, 10 level-1 nodes, 2
 * level-2 nodes and the root at level 3: the broken nodes are the last ones
 * of their levels, so their indices are not 0.
 */
#define PROMISED 4801

static void expect_missing_run(const char *node)
{
	phys_addr_t a = 0;
	cr_assert(HOST_PANICS(pmm_alloc_phys(&cor.pmm, PROMISED, 0, PMM_LIMIT_NONE, &a)),
		  "a run the tree promised and the frames do not hold was handed out at 0x%llx",
		  ULL(a));
	cr_assert(strstr(host_panic_message, "pmm: region at 0x100000: ") &&
			  strstr(host_panic_message, node) &&
			  strstr(host_panic_message, "promises a run of 4801 frames its children do not hold"),
		  "%s", host_panic_message);
}

Test(pmm_check, a_node_promising_a_run_its_child_nodes_lack_panics_at_allocation)
{
	struct pmm_region *r = cor.pmm.regions;
	r->nodes[3][0].mid = r->nodes[2][1].mid = PROMISED;
	expect_missing_run("tree node 1 at level 2 ");
}

Test(pmm_check, a_node_promising_a_run_its_words_lack_panics_at_allocation)
{
	struct pmm_region *r = cor.pmm.regions;
	r->nodes[3][0].mid = r->nodes[2][1].mid = r->nodes[1][9].mid = PROMISED;
	expect_missing_run("tree node 9 at level 1 ");
}

Test(pmm_check, catches_a_region_that_overlaps_the_next)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)), R(MIB(4), MIB(5)) }, 2, 0);
	f.pmm.regions->next->base = MIB(2) - FRAME; /* now shares the first region's last frame */
	cr_assert(HOST_PANICS(pmm_check(&f.pmm)), "pmm_check missed overlapping regions");
	cr_assert(strstr(host_panic_message, "pmm_check: ") &&
			  strstr(host_panic_message, "overlaps or precedes the next region"),
		  "%s", host_panic_message);
	fx_done(&f);
}

/* ---- dump ---- */

Test(pmm, dump_shows_regions_runs_and_reservations)
{
	struct fx f;
	fx_ranges(&f, (struct memmap_range[]){ R(MIB(1), MIB(2)) }, 1, 0);
	pmm_reserve(&f.pmm, MIB(1), MIB(1) + FRAME, "kernel image");
	pmm_alloc(&f.pmm, 3);
	static char text[4096];
	host_console_capture(text, sizeof(text));
	pmm_dump(&f.pmm, 10);
	host_console_release();
	cr_assert(strstr(text, "pmm: 1 region, "), "%s", text);
	cr_assert(strstr(text, "pmm: total 256 frames: 252 free, 3 allocated, 1 reserved; "
			       "largest free run 252 frames\n"), "%s", text);
	cr_assert(strstr(text, "region [mem 0x0000000000100000-0x00000000001fffff] 256 frames: 252 free, "
			       "3 allocated, 1 reserved"), "%s", text);
	cr_assert(strstr(text, "[0x0000000000101000-0x0000000000104000) allocated 3 frames"), "%s", text);
	cr_assert(strstr(text, "[0x0000000000104000-0x0000000000200000) free      252 frames"), "%s", text);
	cr_assert(strstr(text, "reserved [mem 0x0000000000100000-0x0000000000100fff] kernel image "
			       "   1 frames"), "%s", text);
	const char *first = strstr(text, "  reserved [mem ");
	cr_assert(first && !strstr(first + 1, "  reserved [mem "), "one reservation, one line: %s", text);
	cr_assert_null(strstr(text, "more runs"), "%s", text);

	/* Three runs (reserved, allocated, free), one shown: the other two are counted. */
	host_console_capture(text, sizeof(text));
	pmm_dump(&f.pmm, 1);
	host_console_release();
	cr_assert(strstr(text, "[0x0000000000100000-0x0000000000101000) reserved  1 frames"), "%s", text);
	cr_assert_null(strstr(text, "allocated 3 frames"), "%s", text);
	cr_assert(strstr(text, "    ... 2 more runs\n"), "%s", text);
	fx_done(&f);
}

/* ---- differential against the linear reference ---- */

static uint64_t rng;

/* Sizes 1..1024 with small ones most common, as page tables and buffers are. */
static size_t random_size(void)
{
	unsigned order = (unsigned)(xorshift64(&rng) % 11);
	return 1 + (size_t)(xorshift64(&rng) % ((size_t)1 << order));
}

static phys_addr_t random_align(void)
{
	static const phys_addr_t aligns[] = { 0, 0, 0, 0, 8 << 10, 64 << 10, 1 << 20, 4 << 20 };
	return aligns[xorshift64(&rng) % ARRAY_SIZE(aligns)];
}

static phys_addr_t random_limit(void)
{
	static const phys_addr_t limits[] = { PMM_LIMIT_NONE, PMM_LIMIT_NONE, PMM_LIMIT_4GIB,
					      PMM_LIMIT_16MIB, MIB(3) + 0x123 };
	return limits[xorshift64(&rng) % ARRAY_SIZE(limits)];
}

static void run_differential(const struct memmap_range *r, size_t n, phys_addr_t floor,
			     int ops, uint64_t seed, bool full)
{
	struct pmm_diff d;
	rng = seed;
	cr_assert(pmm_diff_init(&d, r, n, floor), "%s", d.why);
	d.full_compare = full;
	/* A few reservations first, as boot does. */
	for (int i = 0; i < 4; i++) {
		phys_addr_t s = r[xorshift64(&rng) % n].start + (xorshift64(&rng) % 64) * 0x800;
		cr_assert(pmm_diff_reserve(&d, s, s + 1 + xorshift64(&rng) % MIB(1)), "%s", d.why);
	}
	for (int op = 0; op < ops; op++) {
		uint64_t kind = xorshift64(&rng) % 16;
		bool ok;
		if (kind < 6)
			ok = pmm_diff_alloc(&d, kind < 3 ? 1 : random_size(), random_align(),
					    random_limit());
		else if (kind < 8)
			ok = pmm_diff_alloc_ptr(&d, random_size());
		else if (kind < 14)
			ok = pmm_diff_free(&d, (size_t)xorshift64(&rng));
		else if (kind < 15) {
			/* Any address: a run start, a body, a free or reserved frame, junk. */
			const struct memmap_range *rr = &r[xorshift64(&rng) % n];
			phys_addr_t a = rr->start + (xorshift64(&rng) % ((rr->end - rr->start) / FRAME + 2)) * FRAME;
			if (xorshift64(&rng) % 8 == 0)
				a += 8;
			ok = pmm_diff_free_any(&d, a);
		} else {
			phys_addr_t s = r[xorshift64(&rng) % n].start + (xorshift64(&rng) % 256) * FRAME;
			ok = pmm_diff_reserve(&d, s, s + (xorshift64(&rng) % 4) * FRAME);
		}
		cr_assert(ok, "op %d (seed %llu): %s", op, ULL(seed), d.why);
	}
	/* Give everything back: the stats must return to all-free-but-reserved. */
	while (d.live_count)
		cr_assert(pmm_diff_free(&d, 0), "%s", d.why);
	struct pmm_stats s = stats_of(&d.pmm);
	cr_assert_eq(s.allocated, 0);
	cr_assert_eq(s.free + s.reserved, s.total);
	pmm_diff_destroy(&d);
}

Test(pmm_differential, small_map_every_frame_compared)
{
	struct memmap_range r[] = { R(0x0, 0x9f000), R(MIB(1), MIB(1) + 3000 * FRAME) };
	for (uint64_t seed = 1; seed <= 6; seed++)
		run_differential(r, 2, BOOT_KERNEL_BASE, 1500, seed, true);
}

Test(pmm_differential, ranges_touching_at_4gib_and_above)
{
	/* Compact, so the linear model does not walk a 4 GiB gap on every operation. */
	struct memmap_range r[] = { R(GIB(4) - MIB(8), GIB(4) - MIB(6)),
				    R(GIB(4) - MIB(6) + FRAME, GIB(4)), R(GIB(4), GIB(4) + MIB(9)) };
	for (uint64_t seed = 11; seed <= 13; seed++)
		run_differential(r, 3, 0, 1500, seed, true);
}

Test(pmm_differential, qemu_128m_map)
{
	struct memmap_range r[4];
	int n = memmap_usable(qemu_map_128m.entries, qemu_map_128m.count, r, 4);
	run_differential(r, (size_t)n, BOOT_KERNEL_BASE, 3000, 99, false);
}

Test(pmm_differential, many_tiny_regions)
{
	struct memmap_range r[12];
	for (size_t i = 0; i < 12; i++)
		r[i] = R(MIB(1) + i * MIB(1), MIB(1) + i * MIB(1) + (1 + i * 17) * FRAME);
	run_differential(r, 12, 0, 2000, 7, true);
}

/*
 * One region of `frames` frames at 1 MiB with activity all over it, not
 * just at the bottom where first fit keeps returning: reservations
 * scattered across it, and allocations with lower bounds anywhere in it,
 * of runs up to a few thousand frames, so every level of both summaries
 * and every node boundary sees splits and merges.
 */
static void run_spread(size_t frames, int ops, uint64_t seed, bool full)
{
	struct memmap_range r = R(MIB(1), MIB(1) + frames * FRAME);
	struct pmm_diff d;
	rng = seed;
	cr_assert(pmm_diff_init(&d, &r, 1, 0), "%s", d.why);
	d.full_compare = full;
	for (int i = 0; i < 24; i++) {
		phys_addr_t s = AT(xorshift64(&rng) % frames);
		cr_assert(pmm_diff_reserve(&d, s, s + (1 + xorshift64(&rng) % 2000) * FRAME), "%s", d.why);
	}
	for (int op = 0; op < ops; op++) {
		uint64_t kind = xorshift64(&rng) % 16;
		size_t n = kind % 4 == 0 ? 1 : xorshift64(&rng) % 8 == 0 ? 1 + xorshift64(&rng) % 5000 : random_size();
		phys_addr_t min = AT(xorshift64(&rng) % frames);
		bool ok;
		if (kind < 5)
			ok = pmm_diff_alloc_range(&d, n, random_align(), min, PMM_LIMIT_NONE);
		else if (kind < 8)
			ok = pmm_diff_alloc(&d, n, kind == 5 ? random_align() : 0, PMM_LIMIT_NONE);
		else if (kind < 14)
			ok = pmm_diff_free(&d, (size_t)xorshift64(&rng));
		else if (kind < 15)
			ok = pmm_diff_free_any(&d, AT(xorshift64(&rng) % (frames + 1)));
		else
			ok = pmm_diff_reserve(&d, min, min + (xorshift64(&rng) % 8) * FRAME);
		cr_assert(ok, "%zu frames, op %d (seed %llu): %s", frames, op, ULL(seed), d.why);
	}
	while (d.live_count)
		cr_assert(pmm_diff_free(&d, 0), "%s", d.why);
	pmm_diff_destroy(&d);
}

Test(pmm_differential, regions_of_every_edge_size)
{
	for (size_t k = 0; k < ARRAY_SIZE(edge_sizes); k++) {
		size_t n = edge_sizes[k];
		if (n <= 4159)
			run_spread(n, 400, 100 + k, true);
		else if (n <= 32769)
			run_spread(n, 400, 100 + k, false);
	}
}

Test(pmm_differential, deep_tree_and_three_bitmap_levels)
{
	/* 300,007 frames: five node levels, three bitmap levels, nothing a multiple of 64. */
	run_spread(300007, 150, 4242, false);
}

Test(pmm_differential, fuzz_scenarios_from_seeds_and_random_bytes)
{
	static const char *const seeds[] = { "seed-singles", "seed-across-4g", "seed-limits",
					     "seed-misuse", "seed-empty", "seed-large", "seed-huge" };
	char why[400];
	uint8_t data[1200];
	for (size_t i = 0; i < ARRAY_SIZE(seeds); i++) {
		char path[128];
		snprintf(path, sizeof(path), "fuzz/corpus/fuzz_pmm/%s", seeds[i]);
		FILE *f = fopen(path, "rb");
		cr_assert(f, "missing seed %s", path);
		size_t size = fread(data, 1, sizeof(data), f);
		fclose(f);
		cr_assert(pmm_diff_run_bytes(data, size, why, sizeof(why)), "%s: %s", seeds[i], why);
	}
	rng = 0x243f6a8885a308d3ull;
	for (int iter = 0; iter < 300; iter++) {
		size_t size = 8 + xorshift64(&rng) % 600;
		for (size_t i = 0; i < size; i++)
			data[i] = (uint8_t)xorshift64(&rng);
		cr_assert(pmm_diff_run_bytes(data, size, why, sizeof(why)), "random input %d: %s",
			  iter, why);
	}
}
