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
 *
 * The single-frame workloads also run a free-frame stack ("stack"): an array
 * of free frame addresses, pop to allocate, push to free. It is what kernels
 * usually pick for single frames: O(1), but no contiguous runs, no first fit
 * (it hands back the frame freed last), no run lengths, no double-free or
 * foreign-frame checks. Its figures show what exact first fit over
 * contiguous runs costs on top. It does not take part in the mixed workload,
 * which it cannot serve.
 *
 * The harness keeps its own work out of the timed loops where it can: at 50%
 * occupancy frames 1 .. n are allocated, so the random frame to free is
 * computed rather than looked up, and first fit must hand the same frame
 * straight back (checked on every operation, for every implementation).
 * Each figure is the median of REPEATS runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
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
	return xorshift64(&rng);
}

/* A uniform index below n, by multiplication (a division would cost more than some operations timed). */
static size_t rand_below(size_t n)
{
	return (size_t)(((unsigned __int128)next_rand() * n) >> 64);
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
	double pmm, linear, stack; /* stack < 0: not measured */
	size_t pmm_ops, linear_ops;
};
static struct result results[8];
static int nresults;

static void report(const char *workload, const char *unit, double pmm, size_t pmm_ops,
		   double linear, size_t linear_ops, double stack)
{
	printf("BENCH pmm %s pmm %.1f %s\n", workload, pmm, unit);
	printf("BENCH pmm %s linear %.1f %s\n", workload, linear, unit);
	if (stack >= 0)
		printf("BENCH pmm %s stack %.1f %s\n", workload, stack, unit);
	fflush(stdout);
	if (nresults == (int)ARRAY_SIZE(results))
		fail("too many results");
	results[nresults++] =
		(struct result){ workload, unit, pmm, linear, stack, pmm_ops, linear_ops };
}

/* ---- the free-frame stack (single frames only) ---- */

struct frame_stack {
	phys_addr_t *slot;
	size_t top; /* slot[0 .. top) are free frames, the next to hand out at top - 1 */
};
static struct frame_stack stack;

/* Every frame free, the lowest on top (as a kernel pushes its free frames from the top down). */
static void stack_fresh(void)
{
	if (!stack.slot)
		stack.slot = malloc(total_frames * sizeof(*stack.slot));
	for (size_t i = 0; i < total_frames; i++)
		stack.slot[i] = (total_frames - i) * FRAME;
	stack.top = total_frames;
}

static inline phys_addr_t stack_alloc(void)
{
	return stack.top ? stack.slot[--stack.top] : 0;
}

static inline void stack_free(phys_addr_t a)
{
	stack.slot[stack.top++] = a;
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

static double stack_fill(void)
{
	stack_fresh();
	double t0 = now_ns();
	for (size_t i = 0; i < total_frames; i++)
		frames_v[i] = stack_alloc();
	double t = (now_ns() - t0) / (double)total_frames;
	if (frames_v[total_frames - 1] != MAP_END - FRAME || stack_alloc())
		fail("the stack's fill did not take every frame in order");
	return t;
}

static double stack_free_random(void)
{
	rng = 42;
	shuffle(frames_v, total_frames);
	double t0 = now_ns();
	for (size_t i = 0; i < total_frames; i++)
		stack_free(frames_v[i]);
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
	double s_fill[REPEATS], s_free[REPEATS];
	const size_t linear_ops = 300;

	for (int r = 0; r < REPEATS; r++) {
		p_fill[r] = pmm_fill();
		p_free[r] = pmm_free_random();
		s_fill[r] = stack_fill();
		s_free[r] = stack_free_random();
	}
	for (int r = 0; r < 3; r++) {
		l_fill[r] = linear_fill(linear_ops);
		l_free[r] = linear_free_random();
	}
	report("alloc1_fill", "ns/op", median(p_fill, REPEATS), total_frames, median(l_fill, 3),
	       linear_ops, median(s_fill, REPEATS));
	report("free1_random", "ns/op", median(p_free, REPEATS), total_frames, median(l_free, 3),
	       total_frames, median(s_free, REPEATS));
}

enum impl { IMPL_PMM, IMPL_LINEAR, IMPL_STACK };

/*
 * Frames 1 .. n are allocated, the rest free. One op frees a random one of
 * them and allocates a frame, which must be the same one: it is the lowest
 * free frame (first fit), and the one freed last (the stack). So the state
 * never changes and the harness needs no table of live frames.
 */
static double churn_50pct(enum impl impl, size_t n, size_t ops)
{
	double t0 = now_ns();
	for (size_t k = 0; k < ops; k++) {
		phys_addr_t a = (rand_below(n) + 1) * FRAME, b;
		switch (impl) {
		case IMPL_PMM:
			pmm_free_frame((void *)(uintptr_t)a);
			b = pmm_alloc_addr(1);
			break;
		case IMPL_LINEAR:
			pmm_model_free(&model, a);
			b = model_alloc(1);
			break;
		default:
			stack_free(a);
			b = stack_alloc();
		}
		if (b != a)
			fail("at 50% occupancy, the frame just freed did not come back");
	}
	return (now_ns() - t0) / (double)ops;
}

static void bench_50pct(void)
{
	const size_t n = total_frames / 2, pmm_ops = 4000000, linear_ops = 2000;
	double p[REPEATS], l[3], st[REPEATS];

	for (int r = 0; r < REPEATS; r++) {
		pmm_fresh();
		for (size_t i = 1; i <= n; i++)
			if (pmm_alloc_addr(1) != i * FRAME)
				fail("the PMM did not fill from the bottom");
		rng = 7;
		p[r] = churn_50pct(IMPL_PMM, n, pmm_ops);

		stack_fresh();
		for (size_t i = 0; i < n; i++)
			stack_alloc();
		rng = 7;
		st[r] = churn_50pct(IMPL_STACK, n, pmm_ops);
	}
	for (int r = 0; r < 3; r++) {
		model_fresh();
		for (size_t i = 1; i <= n; i++)
			pmm_model_take(&model, i * FRAME, 1);
		rng = 7;
		l[r] = churn_50pct(IMPL_LINEAR, n, linear_ops);
	}
	report("alloc1_free1_50pct", "ns/op", median(p, REPEATS), pmm_ops, median(l, 3), linear_ops,
	       median(st, REPEATS));
}

/* ---- mixed runs of 1-1024 frames at 50% occupancy ---- */

struct run {
	phys_addr_t addr;
	size_t frames;
};

static size_t random_run_size(void)
{
	unsigned order = (unsigned)(next_rand() % 11);
	return 1 + (size_t)(next_rand() & (((size_t)1 << order) - 1));
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
	size_t i = rand_below(m->count);
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
	report("mixed_1_1024_50pct", "ns/op", median(p, REPEATS), pmm_ops, median(l, 3), linear_ops,
	       -1);
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
	report("init_5g", "us", median(p, REPEATS * 4), 1, median(l, REPEATS), 1, -1);
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

	printf("\n%-20s %16s %16s %9s %18s %16s %10s\n", "workload", "pmm", "linear ref",
	       "speedup", "ops (pmm / ref)", "free-frame stack", "pmm/stack");
	for (int i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		char ops[40], stack_col[32] = "-", ratio[16] = "-";
		snprintf(ops, sizeof(ops), "%zu / %zu", r->pmm_ops, r->linear_ops);
		if (r->stack >= 0) {
			snprintf(stack_col, sizeof(stack_col), "%.1f %s", r->stack, r->unit);
			snprintf(ratio, sizeof(ratio), "%.1fx", r->pmm / r->stack);
		}
		double speedup = r->linear / r->pmm;
		printf("%-20s %10.1f %-5s %10.1f %-5s %8.*fx %18s %16s %10s\n", r->workload, r->pmm,
		       r->unit, r->linear, r->unit, speedup < 10 ? 2 : 0, speedup, ops, stack_col,
		       ratio);
	}
	printf("(free-frame stack: O(1) single frames, LIFO, no runs, no first fit, no misuse "
	       "checks; single-frame workloads only)\n");
	free(frames_v);
	free(stack.slot);
	free(metadata);
	pmm_model_destroy(&model);
	return 0;
}
