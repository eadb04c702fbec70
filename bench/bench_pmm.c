/*
 * PMM benchmark: mm/pmm.c against the linear reference model
 * (tests/model/pmm_model.c: one bit per frame, linear first fit) in the same
 * run, over a 4 GiB map (1,048,575 frames: frame 0 is never managed).
 *
 * Workloads (all through pmm_alloc_frame / pmm_free_frame on kernel_pmm):
 *   alloc1_fill        pmm_alloc_frame(1) from empty to full
 *   free1_random       pmm_free_frame of every frame, in random order
 *   alloc1_free1_50pct 50% occupancy: free a random allocated frame, then
 *                      pmm_alloc_frame(1) (first fit refills the hole); one op
 *                      is the pair
 *   mixed_1_1024_50pct runs of 1-1024 frames (log-uniform), allocate below 50%
 *                      occupancy, free a random live run above
 *   init_5g            sanitise the QEMU -m 5G map, size and initialise, reserve
 *                      the kernel, heap and module
 *
 * The reference costs O(frames) per allocation, so it runs far fewer
 * operations (the count is printed) from the same state, and every figure is
 * per operation. Its fill is timed around 50% occupancy, which is the mean
 * cost of a full fill (operation i scans i frames). Its starting states are
 * built from the PMM's own addresses (pmm_model_take), and every reference
 * operation is checked to return what the PMM returned for the same step.
 * Each figure is the median of REPEATS runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mm/memmap.h"
#include "mm/pmm.h"
#include "tests/model/pmm_model.h"
#include "tests/model/qemu_maps.h"

#define FRAME ((phys_addr_t)PAGE_SIZE)
#define MAP_END ((phys_addr_t)1 << 32)
#define REPEATS 5

static const struct memmap_range map_4g[] = { { 0, MAP_END } };
static size_t total_frames; /* 1,048,575 */

/* ---- small tools ---- */

static uint64_t rng;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static void fail(const char *what)
{
	fprintf(stderr, "bench_pmm: %s\n", what);
	exit(1);
}

static void *metadata;
static void pmm_fresh(void)
{
	size_t size = pmm_metadata_size(map_4g, 1, 0);
	free(metadata);
	metadata = malloc(size);
	pmm_init(&kernel_pmm, map_4g, 1, 0, metadata, size);
}

static struct pmm_model model;
static void model_fresh(void)
{
	pmm_model_destroy(&model);
	pmm_model_init(&model, map_4g, 1, 0);
}

static phys_addr_t model_alloc(size_t n)
{
	phys_addr_t a;
	return pmm_model_alloc(&model, n, 0, PMM_LIMIT_4GIB, &a) == 0 ? a : 0;
}

static phys_addr_t pmm_alloc_addr(size_t n)
{
	return (phys_addr_t)(uintptr_t)pmm_alloc_frame(n);
}

static void shuffle(phys_addr_t *v, size_t n)
{
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(next_rand() % (i + 1));
		phys_addr_t t = v[i];
		v[i] = v[j];
		v[j] = t;
	}
}

/* ---- results ---- */

struct result {
	const char *workload, *unit;
	double pmm, linear;
	size_t pmm_ops, linear_ops;
};
static struct result results[8];
static int nresults;

static void report(const char *workload, const char *unit, double pmm, size_t pmm_ops,
		   double linear, size_t linear_ops)
{
	printf("BENCH pmm %s pmm %.1f %s\n", workload, pmm, unit);
	printf("BENCH pmm %s linear %.1f %s\n", workload, linear, unit);
	fflush(stdout);
	if (nresults == (int)ARRAY_SIZE(results))
		fail("too many results");
	results[nresults++] = (struct result){ workload, unit, pmm, linear, pmm_ops, linear_ops };
}

/* ---- single frames: fill, random free, 50% occupancy ---- */

static phys_addr_t *frames_v; /* every frame, in allocation order */

static double pmm_fill(void)
{
	pmm_fresh();
	double t0 = now_ns();
	for (size_t i = 0; i < total_frames; i++)
		frames_v[i] = pmm_alloc_addr(1);
	double t = (now_ns() - t0) / (double)total_frames;
	if (frames_v[total_frames - 1] != MAP_END - FRAME || pmm_alloc_frame(1))
		fail("the fill did not take every frame in order");
	return t;
}

static double pmm_free_random(void)
{
	rng = 42;
	shuffle(frames_v, total_frames);
	double t0 = now_ns();
	for (size_t i = 0; i < total_frames; i++)
		pmm_free_frame((void *)(uintptr_t)frames_v[i]);
	return (now_ns() - t0) / (double)total_frames;
}

/* The reference's fill, timed for `ops` allocations starting at 50% occupancy. */
static double linear_fill(size_t ops)
{
	model_fresh();
	for (size_t i = 1; i <= total_frames / 2; i++)
		pmm_model_take(&model, i * FRAME, 1);
	double t0 = now_ns();
	for (size_t i = 0; i < ops; i++)
		if (model_alloc(1) != (total_frames / 2 + 1 + i) * FRAME)
			fail("the reference fill went out of order");
	return (now_ns() - t0) / (double)ops;
}

static double linear_free_random(void)
{
	model_fresh();
	for (size_t i = 1; i <= total_frames; i++)
		pmm_model_take(&model, i * FRAME, 1);
	rng = 42;
	shuffle(frames_v, total_frames);
	double t0 = now_ns();
	for (size_t i = 0; i < total_frames; i++)
		pmm_model_free(&model, frames_v[i]);
	return (now_ns() - t0) / (double)total_frames;
}

static void bench_fill_and_free(void)
{
	double p_fill[REPEATS], p_free[REPEATS], l_fill[3], l_free[3];
	const size_t linear_ops = 300;

	for (int r = 0; r < REPEATS; r++) {
		p_fill[r] = pmm_fill();
		p_free[r] = pmm_free_random();
	}
	for (int r = 0; r < 3; r++) {
		l_fill[r] = linear_fill(linear_ops);
		l_free[r] = linear_free_random();
	}
	report("alloc1_fill", "ns/op", median(p_fill, REPEATS), total_frames, median(l_fill, 3),
	       linear_ops);
	report("free1_random", "ns/op", median(p_free, REPEATS), total_frames, median(l_free, 3),
	       total_frames);
}

/* live[0..n) hold the allocated frames; one op frees live[i] and allocates into slot i. */
static double churn_50pct(bool use_pmm, phys_addr_t *live, size_t n, size_t ops,
			  const phys_addr_t *expect)
{
	double t0 = now_ns();
	for (size_t k = 0; k < ops; k++) {
		size_t i = (size_t)(next_rand() % n);
		phys_addr_t a;
		if (use_pmm) {
			pmm_free_frame((void *)(uintptr_t)live[i]);
			a = pmm_alloc_addr(1);
		} else {
			pmm_model_free(&model, live[i]);
			a = model_alloc(1);
			if (expect && a != expect[k])
				fail("the reference and the PMM disagree at 50% occupancy");
		}
		live[i] = a;
	}
	return (now_ns() - t0) / (double)ops;
}

/* The PMM with frames 1 .. n allocated one by one, as the reference's take() builds it. */
static void pmm_half_full(phys_addr_t *live, size_t n)
{
	pmm_fresh();
	for (size_t i = 0; i < n; i++)
		live[i] = pmm_alloc_addr(1);
}

static void bench_50pct(void)
{
	const size_t n = total_frames / 2, pmm_ops = 2000000, linear_ops = 2000;
	phys_addr_t *live = malloc(n * sizeof(*live));
	phys_addr_t *expect = malloc(linear_ops * sizeof(*expect));
	double p[REPEATS], l[3];

	/* What the PMM answers in the first linear_ops steps: the reference must match it. */
	pmm_half_full(live, n);
	rng = 7;
	for (size_t k = 0; k < linear_ops; k++) {
		size_t i = (size_t)(next_rand() % n);
		pmm_free_frame((void *)(uintptr_t)live[i]);
		live[i] = expect[k] = pmm_alloc_addr(1);
	}
	for (int r = 0; r < REPEATS; r++) {
		pmm_half_full(live, n);
		rng = 7;
		p[r] = churn_50pct(true, live, n, pmm_ops, NULL);
	}
	for (int r = 0; r < 3; r++) {
		model_fresh();
		for (size_t i = 0; i < n; i++) {
			live[i] = (i + 1) * FRAME;
			pmm_model_take(&model, live[i], 1);
		}
		rng = 7;
		l[r] = churn_50pct(false, live, n, linear_ops, expect);
	}
	report("alloc1_free1_50pct", "ns/op", median(p, REPEATS), pmm_ops, median(l, 3), linear_ops);
	free(live);
	free(expect);
}

/* ---- mixed runs of 1-1024 frames at 50% occupancy ---- */

struct run {
	phys_addr_t addr;
	size_t frames;
};

static size_t random_run_size(void)
{
	unsigned order = (unsigned)(next_rand() % 11);
	return 1 + (size_t)(next_rand() % ((size_t)1 << order));
}

struct mixed {
	struct run *live;
	size_t count, used;
};

/* One step: allocate below 50% occupancy, else free a random live run. Returns the address or 0. */
static phys_addr_t mixed_step(struct mixed *m, bool use_pmm)
{
	if (m->used < total_frames / 2) {
		size_t n = random_run_size();
		phys_addr_t a = use_pmm ? pmm_alloc_addr(n) : model_alloc(n);
		if (a) {
			m->live[m->count++] = (struct run){ a, n };
			m->used += n;
		}
		return a;
	}
	size_t i = (size_t)(next_rand() % m->count);
	if (use_pmm)
		pmm_free_frame((void *)(uintptr_t)m->live[i].addr);
	else
		pmm_model_free(&model, m->live[i].addr);
	m->used -= m->live[i].frames;
	m->live[i] = m->live[--m->count];
	return 1;
}

enum { MIXED_WARMUP = 200000 };

/* A fragmented 50% state, the same every time: fill, then churn, from a fixed seed. */
static void mixed_warm(struct mixed *m)
{
	pmm_fresh();
	m->count = m->used = 0;
	rng = 1234;
	for (size_t k = 0; k < MIXED_WARMUP; k++)
		mixed_step(m, true);
}

static void bench_mixed(void)
{
	const size_t pmm_ops = 400000, linear_ops = 400;
	struct mixed m = { malloc(total_frames * sizeof(struct run)), 0, 0 };
	struct mixed warm = { malloc(total_frames * sizeof(struct run)), 0, 0 };
	phys_addr_t *expect = malloc(linear_ops * sizeof(*expect));
	double p[REPEATS], l[3];

	mixed_warm(&m);
	uint64_t rng_at_start = rng;
	memcpy(warm.live, m.live, m.count * sizeof(struct run));
	warm.count = m.count;
	warm.used = m.used;
	for (size_t k = 0; k < linear_ops; k++)
		expect[k] = mixed_step(&m, true);

	for (int r = 0; r < REPEATS; r++) {
		mixed_warm(&m);
		double t0 = now_ns();
		for (size_t k = 0; k < pmm_ops; k++)
			mixed_step(&m, true);
		p[r] = (now_ns() - t0) / (double)pmm_ops;
	}
	for (int r = 0; r < 3; r++) {
		model_fresh();
		for (size_t i = 0; i < warm.count; i++)
			pmm_model_take(&model, warm.live[i].addr, warm.live[i].frames);
		memcpy(m.live, warm.live, warm.count * sizeof(struct run));
		m.count = warm.count;
		m.used = warm.used;
		rng = rng_at_start;
		double t0 = now_ns();
		for (size_t k = 0; k < linear_ops; k++)
			if (mixed_step(&m, false) != expect[k])
				fail("the reference and the PMM disagree on mixed runs");
		l[r] = (now_ns() - t0) / (double)linear_ops;
	}
	report("mixed_1_1024_50pct", "ns/op", median(p, REPEATS), pmm_ops, median(l, 3), linear_ops);
	free(warm.live);
	free(m.live);
	free(expect);
}

/* ---- init from the 5 GiB QEMU map ---- */

static void reserve_boot_ranges_pmm(struct pmm *pmm)
{
	pmm_reserve(pmm, 0x100000, 0x119000, "kernel image");
	pmm_reserve(pmm, 0x200000, 0x500000, "kernel heap");
	pmm_reserve(pmm, 0x136000, 0x138076, "module");
}

static void bench_init_5g(void)
{
	const struct qemu_map *map = &qemu_map_5g;
	struct memmap_range r[16];
	double p[REPEATS * 4], l[REPEATS];
	static struct pmm pmm;
	void *meta = NULL;

	for (int i = 0; i < REPEATS * 4; i++) {
		double t0 = now_ns();
		int n = memmap_usable(map->entries, map->count, r, ARRAY_SIZE(r));
		size_t size = pmm_metadata_size(r, (size_t)n, 0x100000);
		meta = realloc(meta, size);
		pmm_init(&pmm, r, (size_t)n, 0x100000, meta, size);
		reserve_boot_ranges_pmm(&pmm);
		p[i] = (now_ns() - t0) / 1000.0;
	}
	for (int i = 0; i < REPEATS; i++) {
		double t0 = now_ns();
		int n = memmap_usable(map->entries, map->count, r, ARRAY_SIZE(r));
		struct pmm_model mm;
		pmm_model_init(&mm, r, (size_t)n, 0x100000);
		pmm_model_reserve(&mm, 0x100000, 0x119000);
		pmm_model_reserve(&mm, 0x200000, 0x500000);
		pmm_model_reserve(&mm, 0x136000, 0x138076);
		l[i] = (now_ns() - t0) / 1000.0;
		pmm_model_destroy(&mm);
	}
	report("init_5g", "us", median(p, REPEATS * 4), 1, median(l, REPEATS), 1);
	int n = memmap_usable(map->entries, map->count, r, ARRAY_SIZE(r));
	printf("BENCH pmm metadata_5g pmm %zu bytes\n", pmm_metadata_size(r, (size_t)n, 0x100000));
	free(meta);
}

int main(void)
{
	total_frames = (size_t)(MAP_END / FRAME) - 1;
	frames_v = malloc(total_frames * sizeof(*frames_v));
	printf("bench_pmm: %zu frames (4 GiB, frame 0 unmanaged), release build, "
	       "median of %d runs (3 for the reference)\n", total_frames, REPEATS);
	fflush(stdout);

	bench_fill_and_free();
	bench_50pct();
	bench_mixed();
	bench_init_5g();

	printf("\n%-20s %16s %16s %9s %18s\n", "workload", "pmm", "linear ref", "speedup",
	       "ops (pmm / ref)");
	for (int i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		char ops[40];
		snprintf(ops, sizeof(ops), "%zu / %zu", r->pmm_ops, r->linear_ops);
		double speedup = r->linear / r->pmm;
		printf("%-20s %10.1f %-5s %10.1f %-5s %8.*fx %18s\n", r->workload, r->pmm, r->unit,
		       r->linear, r->unit, speedup < 10 ? 2 : 0, speedup, ops);
	}
	free(frames_v);
	free(metadata);
	pmm_model_destroy(&model);
	return 0;
}
