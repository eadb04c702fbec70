/*
 * The real PMM on the real memory map: every free frame handed out once,
 * written and read where reachable, none on the kernel, heap, loader data,
 * module or metadata, all of it back with the stats where they started.
 */
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/pmm_boot.h"
#include "kernel/recover.h"
#include "lib/kprintf.h"
#include "lib/string.h"
#include "mm/pmm.h"
#include "tests/kernel/kt_pmm.h"

#define FRAME ((phys_addr_t)PAGE_SIZE)
#define HEAP_START ((phys_addr_t)KERNEL_PHYS_BASE + KHEAP_OFFSET)
#define HEAP_END (HEAP_START + KHEAP_SIZE)
#define GIB4 ((phys_addr_t)1 << 32)
#define MIB4 ((phys_addr_t)4 << 20)
#define STAMP_KEY 0x5eedf00du

/*
 * What the test writes into each low frame it owns: its own address (keyed),
 * the number of the run it belongs to, and in a run's first frame the link
 * to the previous run, so the runs form a chain through the frames
 * themselves and no other memory is needed. A frame handed out twice would
 * carry the later run's number and be caught when the earlier run is read.
 */
struct stamp {
	uint32_t self;
	uint32_t run;
	uint32_t prev; /* first frame: the previous run's address, 0 for the first */
	uint32_t frames;
};

static struct stamp *stamp_at(phys_addr_t a) { return (struct stamp *)(uintptr_t)a; }
static volatile uint32_t *last_word(phys_addr_t a)
{
	return (volatile uint32_t *)(uintptr_t)(a + FRAME - sizeof(uint32_t));
}

/* Why [a, b) must never have been handed out, or NULL if it may. */
static const char *protected_by(phys_addr_t a, phys_addr_t b)
{
	if (a < KERNEL_PHYS_BASE)
		return "below the kernel base";
	if (a < kernel_phys_end() && kernel_phys_start() < b)
		return "kernel image";
	if (a < HEAP_END && HEAP_START < b)
		return "heap";
	if (a < pmm_boot_metadata_end() && pmm_boot_metadata_start() < b)
		return "pmm metadata";
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		if (a < r->end && r->start < b)
			return r->what;
	}
	return NULL;
}

static bool inside_usable(phys_addr_t a, phys_addr_t b)
{
	const struct memmap_range *u;
	size_t n = pmm_boot_usable(&u);
	for (size_t i = 0; i < n; i++)
		if (u[i].start <= a && b <= u[i].end)
			return true;
	return false;
}

/* A checksum over every byte the loader handed over (modules included). */
static uint32_t loader_data_sum(void)
{
	uint32_t sum = 0;
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		for (phys_addr_t p = r->start; p < r->end; p++)
			sum = sum * 31 + *(const volatile uint8_t *)(uintptr_t)p;
	}
	return sum;
}

static bool run_is_acceptable(phys_addr_t a, size_t n)
{
	phys_addr_t b = a + n * FRAME;
	const char *why = protected_by(a, b);
	if (why) {
		ktest_fail(__FILE__, __LINE__, "run [0x%llx-0x%llx) overlaps the %s", a, b, why);
		return false;
	}
	if (!inside_usable(a, b)) {
		ktest_fail(__FILE__, __LINE__, "run [0x%llx-0x%llx) is not usable RAM", a, b);
		return false;
	}
	return true;
}

/*
 * The runs taken above 4 GiB, as spans of equal runs back to back: first
 * fit hands them out in address order, so a few spans hold any amount of
 * memory (the PMM manages up to 64 GiB; 1024 single 4 MiB runs once capped
 * this test at 8 GiB of RAM).
 */
struct high_span {
	phys_addr_t addr;
	size_t frames; /* per run */
	size_t runs;
};
static struct high_span high_spans[64];

/* State shared by the exhaustion test's phases. */
struct exhaustion {
	phys_addr_t last_run; /* head of the chain of low runs */
	uint32_t runs;
	uint64_t low_frames, high_frames;
	size_t high_count; /* spans in high_spans */
	size_t high_runs;
	bool ok;
};

/*
 * Low memory through the kernel API: single frames first (what page tables
 * take), then runs of 64 to get through gigabytes quickly, then single
 * frames again for whatever is left in the holes.
 */
static void take_low(struct exhaustion *x)
{
	static const size_t phases[][2] = { { 1, 4096 }, { 64, SIZE_MAX }, { 1, SIZE_MAX } };
	for (size_t ph = 0; ph < ARRAY_SIZE(phases) && x->ok; ph++) {
		size_t n = phases[ph][0];
		for (size_t k = 0; k < phases[ph][1]; k++) {
			void *p = pmm_alloc_frame(n);
			if (!p)
				break;
			phys_addr_t a = (phys_addr_t)(uintptr_t)p;
			if (!run_is_acceptable(a, n) || a + n * FRAME > GIB4) {
				x->ok = false;
				return;
			}
			x->runs++;
			for (size_t f = 0; f < n; f++) {
				phys_addr_t fa = a + f * FRAME;
				*stamp_at(fa) = (struct stamp){ .self = (uint32_t)fa ^ STAMP_KEY,
								.run = x->runs };
				*last_word(fa) = ~(uint32_t)fa;
			}
			stamp_at(a)->prev = (uint32_t)x->last_run;
			stamp_at(a)->frames = (uint32_t)n;
			x->last_run = a;
			x->low_frames += n;
		}
	}
}

/* Above 4 GiB (5G): not reachable with paging off, so checked by address only. */
static void take_high(struct exhaustion *x)
{
	static const phys_addr_t sizes[][2] = { { 1024, MIB4 }, { 1, FRAME } };
	for (size_t ph = 0; ph < ARRAY_SIZE(sizes) && x->ok; ph++) {
		phys_addr_t a;
		size_t n = (size_t)sizes[ph][0];
		while (pmm_alloc_phys(&kernel_pmm, n, sizes[ph][1], PMM_LIMIT_NONE, &a) == 0) {
			struct high_span *last = x->high_count ? &high_spans[x->high_count - 1] : NULL;
			bool extends = last && last->frames == n &&
				       a == last->addr + (phys_addr_t)last->runs * n * FRAME;
			if (!run_is_acceptable(a, n) || a < GIB4 || !IS_ALIGNED(a, sizes[ph][1]) ||
			    (!extends && x->high_count == ARRAY_SIZE(high_spans))) {
				ktest_fail(__FILE__, __LINE__, "high run 0x%llx (%zu frames)", a, n);
				x->ok = false;
				return;
			}
			if (extends)
				last->runs++;
			else
				high_spans[x->high_count++] = (struct high_span){ a, n, 1 };
			x->high_runs++;
			x->high_frames += n;
		}
	}
}

/* Reads the chain back, frame by frame, then frees each run through the kernel API. */
static bool verify_and_free_low(struct exhaustion *x)
{
	uint32_t run = x->runs;
	for (phys_addr_t a = x->last_run; a; run--) {
		const struct stamp head = *stamp_at(a);
		for (size_t f = 0; f < head.frames; f++) {
			phys_addr_t fa = a + f * FRAME;
			const struct stamp *s = stamp_at(fa);
			if (s->self != ((uint32_t)fa ^ STAMP_KEY) || s->run != run ||
			    *last_word(fa) != ~(uint32_t)fa) {
				ktest_fail(__FILE__, __LINE__,
					   "frame 0x%llx of run %u reads self 0x%x run %u end 0x%x",
					   fa, run, s->self, s->run, *last_word(fa));
				return false;
			}
		}
		pmm_free_frame((void *)(uintptr_t)a);
		a = head.prev;
	}
	return run == 0;
}

KTEST(pmm_hands_out_every_free_frame_once_and_takes_all_back)
{
	struct pmm_stats start, full, end;
	pmm_stats(&kernel_pmm, &start, NULL, 0);
	uint32_t loader_sum = loader_data_sum();
	struct exhaustion x = { .ok = true };

	take_low(&x);
	if (x.ok) {
		KT_EXPECT(pmm_alloc_frame(1) == NULL);
		take_high(&x);
	}
	if (x.ok) {
		pmm_stats(&kernel_pmm, &full, NULL, 0);
		KT_EXPECT_EQ(full.free, 0);
		KT_EXPECT_EQ(x.low_frames + x.high_frames, start.free);
		phys_addr_t a;
		KT_EXPECT_EQ(pmm_alloc_phys(&kernel_pmm, 1, 0, PMM_LIMIT_NONE, &a), -MIO_ENOMEM);
		KT_EXPECT_EQ(loader_data_sum(), loader_sum); /* module, map, command line untouched */
		pmm_check(&kernel_pmm);
	}

	/*
	 * Everything recorded goes back even after a failure above (only the
	 * run that failed is lost), so the tests after this one still find
	 * memory and report their own results, not this one's.
	 */
	KT_EXPECT(verify_and_free_low(&x));
	for (size_t i = 0; i < x.high_count; i++) {
		const struct high_span *sp = &high_spans[i];
		for (size_t k = 0; k < sp->runs; k++)
			KT_EXPECT_EQ(pmm_free_phys(&kernel_pmm, sp->addr + (phys_addr_t)k * sp->frames * FRAME),
				     sp->frames);
	}
	KT_ASSERT(x.ok);
	pmm_stats(&kernel_pmm, &end, NULL, 0);
	KT_EXPECT(memcmp(&start, &end, sizeof(start)) == 0);
	KT_EXPECT_EQ(end.free, start.free);
	pmm_check(&kernel_pmm);
	kprintf("     %llu frames below 4 GiB written and read, %llu above 4 GiB checked by "
		"address, in %u + %zu runs\n",
		x.low_frames, x.high_frames, x.runs, x.high_runs);
}

KTEST(pmm_keeps_the_module_and_loader_data_reserved)
{
	KT_ASSERT_EQ(boot_info.module_count, 1);
	const struct boot_module *m = &boot_info.modules[0];
	/* Below the kernel's base (where GRUB puts it when the kernel sits higher) nothing is managed. */
	for (phys_addr_t p = ALIGN_DOWN(m->start, FRAME); p < m->end; p += FRAME)
		KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, p),
			     p < KERNEL_PHYS_BASE ? PMM_FRAME_UNMANAGED : PMM_FRAME_RESERVED);
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		enum pmm_frame_state st = pmm_frame_state(&kernel_pmm, r->start);
		KT_EXPECT(st == PMM_FRAME_RESERVED || (st == PMM_FRAME_UNMANAGED &&
						       r->start < KERNEL_PHYS_BASE));
	}
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, kernel_phys_start()), PMM_FRAME_RESERVED);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, HEAP_END - FRAME), PMM_FRAME_RESERVED);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, pmm_boot_metadata_start()), PMM_FRAME_RESERVED);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, 0x9000), PMM_FRAME_UNMANAGED);
}

KTEST(pmm_metadata_lies_above_the_heap_below_4gib)
{
	KT_EXPECT(pmm_boot_metadata_start() >= HEAP_END);
	KT_EXPECT(pmm_boot_metadata_end() <= GIB4);
	KT_EXPECT(pmm_boot_metadata_end() > pmm_boot_metadata_start());
	KT_EXPECT(protected_by(pmm_boot_metadata_start(), pmm_boot_metadata_end()) != NULL);
	KT_EXPECT((uintptr_t)kernel_pmm.metadata == pmm_boot_metadata_start());
}

KTEST(pmm_first_fit_and_run_lengths_on_the_real_map)
{
	void *a = pmm_alloc_frame(1), *b = pmm_alloc_frame(3), *c = pmm_alloc_frame(1);
	KT_ASSERT(a && b && c);
	KT_EXPECT((uintptr_t)a < (uintptr_t)b && (uintptr_t)b < (uintptr_t)c);
	pmm_free_frame(b); /* all 3 frames come back */
	KT_EXPECT_EQ((uintptr_t)pmm_alloc_frame(3), (uintptr_t)b);
	pmm_free_frame(b);
	pmm_free_frame(a);
	pmm_free_frame(c);
	pmm_free_frame(NULL);
	KT_EXPECT(pmm_alloc_frame(0) == NULL);
	pmm_check(&kernel_pmm);
}

KTEST(pmm_4mib_aligned_run_below_16mib_is_real_ram)
{
	phys_addr_t a;
	int rc = pmm_alloc_phys(&kernel_pmm, 1024, MIB4, PMM_LIMIT_16MIB, &a);
	if (kt_rightly_out_of_room(rc, 1024, MIB4, PMM_LIMIT_16MIB))
		return;
	KT_ASSERT_EQ(rc, 0);
	KT_EXPECT(IS_ALIGNED(a, MIB4) && a + MIB4 <= PMM_LIMIT_16MIB);
	KT_EXPECT(run_is_acceptable(a, 1024));
	volatile uint32_t *first = (volatile uint32_t *)(uintptr_t)a;
	volatile uint32_t *last = (volatile uint32_t *)(uintptr_t)(a + MIB4 - 4);
	*first = 0x12345678;
	*last = 0x9abcdef0;
	KT_EXPECT(*first == 0x12345678 && *last == 0x9abcdef0);
	KT_EXPECT_EQ(pmm_free_phys(&kernel_pmm, a), 1024);
}

static void free_twice(void *arg)
{
	pmm_free_frame(arg);
	pmm_free_frame(arg);
}

static void free_inside(void *arg)
{
	pmm_free_frame((char *)arg + FRAME);
}

KTEST(pmm_misuse_panics_naming_the_frame)
{
	struct trap_record rec;
	char want[64];
	void *p = pmm_alloc_frame(2);
	KT_ASSERT(p != NULL);

	KT_ASSERT_EQ(run_catching(free_inside, p, &rec), TRAP_PANIC);
	ksnprintf(want, sizeof(want), "frame 0x%llx inside", (phys_addr_t)(uintptr_t)p + FRAME);
	KT_EXPECT(strstr(rec.message, want) != NULL);

	KT_ASSERT_EQ(run_catching(free_twice, p, &rec), TRAP_PANIC);
	ksnprintf(want, sizeof(want), "double free of frame 0x%llx", (phys_addr_t)(uintptr_t)p);
	KT_EXPECT(strncmp(rec.message, want, strlen(want)) == 0);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, (uintptr_t)p), PMM_FRAME_FREE);
	pmm_check(&kernel_pmm);
}
