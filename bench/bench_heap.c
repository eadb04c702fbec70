/*
 * bench/heap: the kernel heap against the linear first-fit reference and the
 * host's malloc, on the workloads of the heap issue. Release build
 * (KHEAP_DEBUG=0: no red zones, no poison); see the Makefile's BENCH_CFLAGS.
 *
 *  speed        3 MiB arena, 2,000,000 operations; each picks one of L slots
 *               (xorshift64, fixed seed) and frees it if occupied, else
 *               allocates into it. ns/op is the median of 5 runs.
 *                 uniform-1000   16-4096 B, L = 1000
 *                 small-1000     70% 16-128, 25% 128-1024, 5% 1024-16384 B, L = 1000
 *                 small-4000     the same, L = 4000
 *  utilisation  allocate (60%) or free a random live block (40%) until the
 *               first failed allocation; live bytes / 3 MiB, mean of 20 seeds.
 *  worst case   the slowest single operation (rdtsc cycles) in heaps holding
 *               100 ... 50,000 free blocks (kept within 95% of that), the same
 *               probes for kmalloc and the reference; median over 3 runs.
 *               Each probe is repeated and its fastest repeat counts; the
 *               slowest first try is reported beside it.
 *
 * Arguments: none runs everything; "speed", "util", "worst" (any mix) run
 * those parts; "check" runs only the release build's lockstep check below
 * (make test runs it on both builds) and prints no figures.
 *
 * Output: one "BENCH heap <workload> <implementation> <value> <unit>" line
 * per figure, then a table. Targets are judged here, never in tests.
 *
 * make bench also builds this file for i686, with the heap compiled as the
 * kernel compiles it (-m32, no SSE: the tree is searched a machine word at
 * a time) against the i386 C library's malloc, and runs its speed part:
 * what the kernel's heap costs, as opposed to the host build's. Its
 * workloads carry an "-i686" suffix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include "bench/bench_util.h"
#include "bench/support/tlsf.h"
#include "mm/heap.h"
#include "tests/model/heap_diff.h"
#include "tests/model/heap_ref.h"

#define ARENA_BYTES ((size_t)3 << 20)
#define SPEED_OPS 2000000
#define SPEED_RUNS 5
#define UTIL_SEEDS 20
#define SEED 0x2545f4914f6cdd1dull

#if defined(__i386__)
#define TARGET_TAG "-i686"
#define TARGET_DESCRIPTION "i686 build, heap compiled as the kernel compiles it (no SSE)"
#else
#define TARGET_TAG ""
#define TARGET_DESCRIPTION "x86-64 host build, tree searched with SSE2"
#endif

/* ---- random numbers and size distributions ---- */

static inline size_t uniform_in(uint64_t *s, size_t lo, size_t hi)
{
	return lo + (size_t)(xorshift64(s) % (hi - lo + 1));
}

enum dist { DIST_UNIFORM, DIST_SMALL };

static size_t draw_size(uint64_t *s, enum dist d)
{
	if (d == DIST_UNIFORM)
		return uniform_in(s, 16, 4096);
	unsigned pick = (unsigned)(xorshift64(s) % 100);
	if (pick < 70)
		return uniform_in(s, 16, 128);
	if (pick < 95)
		return uniform_in(s, 128, 1024);
	return uniform_in(s, 1024, 16384);
}

/* ---- policy ceilings: placement with no metadata, no rounding ---- */

/*
 * Address-ordered first fit (front carving) and best fit (ties to the lower
 * address) over a byte-granular 3 MiB address space with no per-block or
 * per-heap overhead: what each policy itself leaves usable on a workload.
 * Free space is a sorted array of extents; linear scans are fine for the
 * utilisation runs (a few thousand extents at most). Addresses are offsets
 * + 1 (never dereferenced; 0 would read as NULL).
 * Front carving is the best first fit can do here: measured once with the
 * same fill (uniform / small), carving from the block's back gave 0.9329 /
 * 0.9257, from the back for requests of 1 KiB or more 0.9342 / 0.9531,
 * against 0.9362 / 0.9594 from the front; rounded to 16-byte granules,
 * front carving 0.9350 / 0.9505. So 0.96 on uniform is out of reach of
 * first fit in any build.
 */
struct extent {
	uint32_t start, len;
};

#define IDEAL_MAX_EXTENTS 200000
static struct extent ideal_free[IDEAL_MAX_EXTENTS];
static size_t ideal_extents;
static bool ideal_best_fit;

static void ideal_reset(bool best_fit)
{
	ideal_free[0] = (struct extent){ 0, ARENA_BYTES };
	ideal_extents = 1;
	ideal_best_fit = best_fit;
}

static void ideal_remove(size_t i)
{
	memmove(&ideal_free[i], &ideal_free[i + 1], (ideal_extents - i - 1) * sizeof(ideal_free[0]));
	ideal_extents--;
}

static void *ideal_alloc(size_t n)
{
	size_t pick = SIZE_MAX;
	for (size_t i = 0; i < ideal_extents; i++) {
		if (ideal_free[i].len < n)
			continue;
		if (!ideal_best_fit) {
			pick = i;
			break;
		}
		if (pick == SIZE_MAX || ideal_free[i].len < ideal_free[pick].len)
			pick = i;
	}
	if (pick == SIZE_MAX)
		return NULL;
	uint32_t at = ideal_free[pick].start;
	ideal_free[pick].start += (uint32_t)n;
	ideal_free[pick].len -= (uint32_t)n;
	if (ideal_free[pick].len == 0)
		ideal_remove(pick);
	return (void *)((uintptr_t)at + 1);
}

static void ideal_release(void *p, size_t n)
{
	uint32_t at = (uint32_t)((uintptr_t)p - 1);
	size_t lo = 0, hi = ideal_extents; /* the first extent after at */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ideal_free[mid].start < at)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&ideal_free[lo + 1], &ideal_free[lo], (ideal_extents - lo) * sizeof(ideal_free[0]));
	ideal_free[lo] = (struct extent){ at, (uint32_t)n };
	ideal_extents++;
	if (lo + 1 < ideal_extents && at + n == ideal_free[lo + 1].start) {
		ideal_free[lo].len += ideal_free[lo + 1].len;
		ideal_remove(lo + 1);
	}
	if (lo > 0 && ideal_free[lo - 1].start + ideal_free[lo - 1].len == at) {
		ideal_free[lo - 1].len += ideal_free[lo].len;
		ideal_remove(lo);
	}
}

/* ---- the harness alone: a bump pointer that never frees, behind the same kind of call ---- */

static uintptr_t bump_next;

__attribute__((noinline)) static void *bump_alloc(size_t n)
{
	void *p = (void *)bump_next; /* never dereferenced */
	bump_next += n;
	return p;
}

__attribute__((noinline)) static void bump_free(void *p)
{
	__asm__ volatile("" : : "r"(p)); /* a call that does nothing, but is made */
}

/* ---- the implementations ---- */

enum impl {
	IMPL_KMALLOC, IMPL_REF, IMPL_MALLOC, IMPL_TLSF, IMPL_BUMP, /* timed */
	IMPL_IDEAL_FF, IMPL_IDEAL_BF,                              /* utilisation only */
	IMPL_COUNT
};
#define IMPL_TIMED (IMPL_BUMP + 1)
static const char *const impl_name[IMPL_COUNT] = {
	"kmalloc", "linear-ref", "glibc-malloc", "tlsf", "bench-overhead", "ideal-first-fit",
	"ideal-best-fit",
};

static uint8_t *region;     /* ARENA_BYTES, 64 KiB aligned */
static struct heap *heap;
static struct heap_ref ref;
static struct tlsf *tlsf; /* bench/support/tlsf.c: the O(1) good-fit allocator, same region */

static void impl_reset(enum impl im)
{
	if (im == IMPL_KMALLOC)
		heap = heap_init(region, ARENA_BYTES);
	else if (im == IMPL_REF)
		heap_ref_init(&ref, region + 64 - HEAP_HEADER_SIZE, ARENA_BYTES - 64);
	else if (im == IMPL_TLSF)
		tlsf = tlsf_init(region, ARENA_BYTES);
	else if (im == IMPL_BUMP)
		bump_next = 16;
	else if (im == IMPL_IDEAL_FF || im == IMPL_IDEAL_BF)
		ideal_reset(im == IMPL_IDEAL_BF);
}

static inline void *impl_alloc(enum impl im, size_t n)
{
	switch (im) {
	case IMPL_KMALLOC:
		return heap_alloc(heap, n);
	case IMPL_REF:
		return heap_ref_alloc(&ref, n);
	case IMPL_TLSF:
		return tlsf_alloc(tlsf, n);
	case IMPL_IDEAL_FF:
	case IMPL_IDEAL_BF:
		return ideal_alloc(n);
	case IMPL_BUMP:
		return bump_alloc(n);
	default:
		return malloc(n);
	}
}

/* Frees p, which was allocated with n bytes (only the ideal policies need n). */
static inline void impl_free(enum impl im, void *p, size_t n)
{
	switch (im) {
	case IMPL_KMALLOC:
		heap_free(heap, p);
		break;
	case IMPL_REF:
		heap_ref_free(&ref, p);
		break;
	case IMPL_TLSF:
		tlsf_free(tlsf, p);
		break;
	case IMPL_IDEAL_FF:
	case IMPL_IDEAL_BF:
		ideal_release(p, n);
		break;
	case IMPL_BUMP:
		bump_free(p);
		break;
	default:
		free(p);
	}
}

/* ---- speed ---- */

struct workload {
	const char *name;
	enum dist dist;
	unsigned slots;
};

static const struct workload workloads[] = {
	{ "uniform-1000" TARGET_TAG, DIST_UNIFORM, 1000 },
	{ "small-1000" TARGET_TAG, DIST_SMALL, 1000 },
	{ "small-4000" TARGET_TAG, DIST_SMALL, 4000 },
};

/* The operation stream, drawn before timing so only the allocator is measured. */
static uint32_t op_slot[SPEED_OPS];
static uint32_t op_size[SPEED_OPS];
static void *slot_ptr[4000];

static void draw_ops(const struct workload *w)
{
	uint64_t s = SEED;
	for (int i = 0; i < SPEED_OPS; i++) {
		op_slot[i] = (uint32_t)(xorshift64(&s) % w->slots);
		op_size[i] = (uint32_t)draw_size(&s, w->dist);
	}
}

#define SPEED_LOOP(ALLOC, FREE)                                        \
	for (int i = 0; i < SPEED_OPS; i++) {                          \
		void **slot = &slot_ptr[op_slot[i]];                   \
		if (*slot) {                                           \
			FREE(*slot);                                   \
			*slot = NULL;                                  \
		} else {                                               \
			*slot = ALLOC(op_size[i]);                     \
			failures += *slot == NULL;                     \
		}                                                      \
	}

#define KM_ALLOC(n) heap_alloc(heap, n)
#define KM_FREE(p) heap_free(heap, p)
#define REF_ALLOC(n) heap_ref_alloc(&ref, n)
#define REF_FREE(p) heap_ref_free(&ref, p)
#define TLSF_ALLOC(n) tlsf_alloc(tlsf, n)
#define TLSF_FREE(p) tlsf_free(tlsf, p)

/* One timed pass of the workload; returns ns per operation. */
static double speed_run(enum impl im, const struct workload *w)
{
	long failures = 0;

	impl_reset(im);
	memset(slot_ptr, 0, sizeof(slot_ptr));
	double t0 = now_ns();
	switch (im) {
	case IMPL_KMALLOC:
		SPEED_LOOP(KM_ALLOC, KM_FREE);
		break;
	case IMPL_REF:
		SPEED_LOOP(REF_ALLOC, REF_FREE);
		break;
	case IMPL_TLSF:
		SPEED_LOOP(TLSF_ALLOC, TLSF_FREE);
		break;
	case IMPL_BUMP:
		SPEED_LOOP(bump_alloc, bump_free);
		break;
	default:
		SPEED_LOOP(malloc, free);
	}
	double t1 = now_ns();
	for (unsigned i = 0; i < w->slots; i++) {
		if (slot_ptr[i])
			impl_free(im, slot_ptr[i], 0);
	}
	if (failures)
		printf("# note: %s on %s: %ld allocations failed\n", impl_name[im], w->name, failures);
	return (t1 - t0) / SPEED_OPS;
}

static double speed[ARRAY_SIZE(workloads)][IMPL_COUNT];

static void bench_speed(void)
{
	for (size_t wi = 0; wi < ARRAY_SIZE(workloads); wi++) {
		draw_ops(&workloads[wi]);
		double runs[IMPL_TIMED][SPEED_RUNS];
		/* Interleave implementations so drifting machine load hits all of them. */
		for (int r = 0; r < SPEED_RUNS; r++) {
			for (int im = 0; im < IMPL_TIMED; im++)
				runs[im][r] = speed_run((enum impl)im, &workloads[wi]);
		}
		for (int im = 0; im < IMPL_TIMED; im++) {
			speed[wi][im] = median(runs[im], SPEED_RUNS);
			printf("BENCH heap %s %s %.1f ns/op\n", workloads[wi].name, impl_name[im],
			       speed[wi][im]);
		}
	}
}

/* ---- utilisation ---- */

#define UTIL_MAX_LIVE 200000
static void *live_ptr[UTIL_MAX_LIVE];
static size_t live_size[UTIL_MAX_LIVE];

/* Bytes each allocated block costs beyond its request, at the end of the last fill. */
static double fill_overhead;

/* Live bytes / arena at the first failed allocation, for one seed. */
static double fill_until_failure(enum impl im, enum dist d, uint64_t seed)
{
	uint64_t s = seed;
	size_t live = 0, live_bytes = 0;

	impl_reset(im);
	for (;;) {
		if (live == 0 || xorshift64(&s) % 100 < 60) {
			size_t n = draw_size(&s, d);
			void *p = impl_alloc(im, n);
			if (!p)
				break;
			live_ptr[live] = p;
			live_size[live++] = n;
			live_bytes += n;
		} else {
			size_t k = (size_t)(xorshift64(&s) % live);
			impl_free(im, live_ptr[k], live_size[k]);
			live_bytes -= live_size[k];
			live--;
			live_ptr[k] = live_ptr[live];
			live_size[k] = live_size[live];
		}
	}
	if (im == IMPL_KMALLOC) {
		struct heap_stats st;
		heap_stats(heap, &st);
		fill_overhead = (double)(st.used_bytes - live_bytes) / (double)st.used_blocks;
	}
	return (double)live_bytes / (double)ARENA_BYTES;
}

static double util[2][IMPL_COUNT];
static double overhead[2];
/* Measured for utilisation: the heap, the same policy without metadata, the policy ceilings. */
static const enum impl util_impls[] = { IMPL_KMALLOC, IMPL_REF, IMPL_TLSF, IMPL_IDEAL_FF, IMPL_IDEAL_BF };

static void bench_utilisation(void)
{
	static const char *const names[2] = { "uniform-fill", "small-fill" };
	for (int d = 0; d < 2; d++) {
		for (size_t ii = 0; ii < ARRAY_SIZE(util_impls); ii++) {
			enum impl im = util_impls[ii];
			double sum = 0, over = 0;
			for (int seed = 1; seed <= UTIL_SEEDS; seed++) {
				sum += fill_until_failure(im, (enum dist)d, SEED * (uint64_t)seed);
				over += fill_overhead;
			}
			util[d][im] = sum / UTIL_SEEDS;
			printf("BENCH heap %s %s %.4f utilisation\n", names[d], impl_name[im],
			       util[d][im]);
			if (im == IMPL_KMALLOC) {
				overhead[d] = over / UTIL_SEEDS;
				printf("BENCH heap %s kmalloc-block-overhead %.1f bytes/block\n", names[d],
				       overhead[d]);
			}
		}
	}
}

/* ---- worst single operation ---- */

static const unsigned worst_counts[] = { 100, 1000, 5000, 10000, 25000, 50000 };
#define WORST_PROBES 2000
#define WORST_REPEATS 3
static void *worst_live[120000];
static size_t worst_size[120000];

static inline uint64_t cycles(void)
{
	unsigned aux;
	_mm_lfence();
	uint64_t t = __rdtscp(&aux);
	_mm_lfence();
	return t;
}

/* Cycles one allocation (*p gets the block) or one free takes. */
static uint64_t timed_alloc(enum impl im, size_t n, void **p)
{
	uint64_t t0 = cycles();
	*p = impl_alloc(im, n);
	return cycles() - t0;
}

static uint64_t timed_free(enum impl im, void *p)
{
	uint64_t t0 = cycles();
	impl_free(im, p, 0);
	return cycles() - t0;
}

/* Free blocks in the heap now (the two implementations the worst case measures). */
static size_t impl_free_blocks(enum impl im)
{
	if (im == IMPL_REF)
		return ref.free_blocks;
	struct heap_stats st;
	heap_stats(heap, &st);
	return st.free_blocks;
}

/*
 * A fresh heap with `count` holes: 2 * count small blocks, every other one
 * freed, the rest of the arena free at the top. Keeps the live blocks in
 * worst_live / worst_size and returns how many there are.
 */
static size_t build_holes(enum impl im, unsigned count, uint64_t *s)
{
	size_t n = 0;

	impl_reset(im);
	for (unsigned i = 0; i < 2 * count; i++, n++) {
		worst_size[n] = uniform_in(s, 1, 24);
		if (!(worst_live[n] = impl_alloc(im, worst_size[n])))
			break;
	}
	for (size_t i = 0; i < n; i += 2)
		impl_free(im, worst_live[i], 0);
	for (size_t i = 1; i < n; i += 2) {
		worst_live[i / 2] = worst_live[i];
		worst_size[i / 2] = worst_size[i];
	}
	return n / 2;
}

struct worst_result {
	uint64_t cycles;            /* the slowest probe, each probe its fastest repeat */
	uint64_t first_try_cycles;  /* the slowest operation as first timed, repeats ignored */
	size_t fewest_free, most_free; /* free blocks the probes met */
};

/* The first of a probe's repeats counts towards the unfiltered maximum. */
static void note_first_try(struct worst_result *res, int repeat, uint64_t cycles)
{
	if (repeat == 0)
		res->first_try_cycles = MAX(res->first_try_cycles, cycles);
}

/*
 * Times single operations that stress the search and the merges in a heap
 * of about `count` free blocks (build_holes()):
 *  - allocations of 1 B to 16 KiB (most must pass over every small hole),
 *    each followed by its free, which merges it back (the state returns);
 *  - frees of old blocks between two holes (a merge on both sides), each
 *    followed by an untimed allocation of the same size.
 * Each probe that restores the state is repeated and its fastest run kept,
 * so a timer interrupt or a preemption does not pass for the allocator's
 * worst case; first_try_cycles keeps the unfiltered maximum too. An old
 * block's allocation may land in a lower hole, so the heap loses holes as
 * probes go on: it is built afresh (untimed) whenever it holds fewer than
 * 95% of count, and every probe meets a heap of the size it is reported
 * under.
 */
static struct worst_result worst_run(enum impl im, unsigned count, uint64_t seed)
{
	uint64_t s = seed;
	size_t n = build_holes(im, count, &s);
	struct worst_result res = { 0, 0, SIZE_MAX, 0 };

	for (int probe = 0; probe < WORST_PROBES; probe++) {
		size_t free_now = impl_free_blocks(im);
		if (free_now < (size_t)count * 95 / 100) {
			for (size_t i = 0; i < n; i++)
				impl_free(im, worst_live[i], 0);
			n = build_holes(im, count, &s);
			free_now = impl_free_blocks(im);
		}
		res.fewest_free = MIN(res.fewest_free, free_now);
		res.most_free = MAX(res.most_free, free_now);

		uint64_t best_alloc = UINT64_MAX, best_free = UINT64_MAX;
		size_t size = probe % 2 ? uniform_in(&s, 1, 16384) : uniform_in(&s, 1, 48);
		for (int r = 0; r < WORST_REPEATS; r++) {
			void *p;
			uint64_t t = timed_alloc(im, size, &p); /* MIN() evaluates twice */
			best_alloc = MIN(best_alloc, t);
			note_first_try(&res, r, t);
			if (!p)
				break;
			t = timed_free(im, p);
			best_free = MIN(best_free, t);
			note_first_try(&res, r, t);
		}
		res.cycles = MAX(res.cycles, best_alloc);
		if (best_free != UINT64_MAX)
			res.cycles = MAX(res.cycles, best_free);

		/* An old block: free it (merging both ways), then allocate its size again. */
		size_t k = (size_t)(xorshift64(&s) % n);
		uint64_t best_old = UINT64_MAX;
		for (int r = 0; r < WORST_REPEATS; r++) {
			void *at = worst_live[k], *again;
			uint64_t t = timed_free(im, at);
			best_old = MIN(best_old, t);
			note_first_try(&res, r, t);
			again = impl_alloc(im, worst_size[k]);
			worst_live[k] = again;
			if (again != at) /* it went to a lower hole: the state moved on */
				break;
		}
		res.cycles = MAX(res.cycles, best_old);
	}
	for (size_t i = 0; i < n; i++)
		impl_free(im, worst_live[i], 0);
	return res;
}

#define WORST_RUNS 3
static uint64_t worst[ARRAY_SIZE(worst_counts)][IMPL_COUNT];
static uint64_t worst_first_try[ARRAY_SIZE(worst_counts)][IMPL_COUNT];
static size_t worst_free_range[ARRAY_SIZE(worst_counts)][IMPL_COUNT][2];

/* Both implementations get the same probes, the same runs and the same heaps. */
static void bench_worst(void)
{
	for (size_t ci = 0; ci < ARRAY_SIZE(worst_counts); ci++) {
		for (int im = 0; im < IMPL_REF + 1; im++) {
			double runs[WORST_RUNS], first[WORST_RUNS];
			size_t lo = SIZE_MAX, hi = 0;
			for (int r = 0; r < WORST_RUNS; r++) {
				struct worst_result res =
					worst_run((enum impl)im, worst_counts[ci], SEED + (uint64_t)r);
				runs[r] = (double)res.cycles;
				first[r] = (double)res.first_try_cycles;
				lo = MIN(lo, res.fewest_free);
				hi = MAX(hi, res.most_free);
			}
			worst[ci][im] = (uint64_t)median(runs, WORST_RUNS);
			worst_first_try[ci][im] = (uint64_t)median(first, WORST_RUNS);
			worst_free_range[ci][im][0] = lo;
			worst_free_range[ci][im][1] = hi;
			printf("BENCH heap worst-%u-free %s %llu cycles\n", worst_counts[ci],
			       impl_name[im], (unsigned long long)worst[ci][im]);
			printf("BENCH heap worst-%u-free-first-try %s %llu cycles\n", worst_counts[ci],
			       impl_name[im], (unsigned long long)worst_first_try[ci][im]);
		}
	}
}

/* ---- report ---- */

static bool ran_speed, ran_util, ran_worst;

static void print_speed_table(void)
{
	printf("\n%-18s %9s %11s %13s %7s %15s %9s %9s %9s\n", "ns/op", "kmalloc", "linear-ref",
	       "glibc-malloc", "tlsf", "bench-overhead", "vs ref", "vs glibc", "vs tlsf");
	for (size_t wi = 0; wi < ARRAY_SIZE(workloads); wi++)
		printf("%-18s %9.1f %11.1f %13.1f %7.1f %15.1f %8.1fx %8.2fx %8.2fx\n", workloads[wi].name,
		       speed[wi][IMPL_KMALLOC], speed[wi][IMPL_REF], speed[wi][IMPL_MALLOC],
		       speed[wi][IMPL_TLSF], speed[wi][IMPL_BUMP],
		       speed[wi][IMPL_REF] / speed[wi][IMPL_KMALLOC],
		       speed[wi][IMPL_MALLOC] / speed[wi][IMPL_KMALLOC],
		       speed[wi][IMPL_TLSF] / speed[wi][IMPL_KMALLOC]);
	printf("(bench-overhead: the same loop around a bump pointer that never frees: the harness's "
	       "share of every figure)\n");
}

static void print_util_table(void)
{
	printf("\n%-14s %9s %11s %7s %16s %15s\n", "utilisation", "kmalloc", "linear-ref", "tlsf",
	       "ideal-first-fit", "ideal-best-fit");
	static const char *const fill_names[2] = { "uniform-fill", "small-fill" };
	for (int d = 0; d < 2; d++)
		printf("%-14s %9.4f %11.4f %7.4f %16.4f %15.4f   (kmalloc: %.1f bytes/block beyond the "
		       "request)\n", fill_names[d], util[d][IMPL_KMALLOC], util[d][IMPL_REF],
		       util[d][IMPL_TLSF], util[d][IMPL_IDEAL_FF], util[d][IMPL_IDEAL_BF], overhead[d]);
	printf("(linear-ref: kmalloc's placement and 16-byte granules without metadata; tlsf: good fit,\n"
	       " 8-byte words, one size word per block, its control block in the region; ideal-*: the\n"
	       " policy alone, byte-granular, no metadata: the ceiling each policy allows here)\n");
}

static void print_worst_table(void)
{
	printf("\n%-12s %9s %11s %15s %11s %17s\n", "worst cycles", "kmalloc", "linear-ref",
	       "kmalloc 1st try", "ref 1st try", "free blocks met");
	for (size_t ci = 0; ci < ARRAY_SIZE(worst_counts); ci++)
		printf("%-12u %9llu %11llu %15llu %11llu %8zu-%-8zu\n", worst_counts[ci],
		       (unsigned long long)worst[ci][IMPL_KMALLOC],
		       (unsigned long long)worst[ci][IMPL_REF],
		       (unsigned long long)worst_first_try[ci][IMPL_KMALLOC],
		       (unsigned long long)worst_first_try[ci][IMPL_REF],
		       MIN(worst_free_range[ci][IMPL_KMALLOC][0], worst_free_range[ci][IMPL_REF][0]),
		       MAX(worst_free_range[ci][IMPL_KMALLOC][1], worst_free_range[ci][IMPL_REF][1]));
	printf("(the slowest probe, each probe the fastest of %d identical repeats so that an "
	       "interrupt\n does not count; 1st try: the slowest operation as first timed, "
	       "interrupts and cold\n caches included; median of %d runs each; free blocks met: "
	       "the heap is rebuilt below 95%%)\n", WORST_REPEATS, WORST_RUNS);
}

/* The targets, judged on the host build. */
static void print_targets(void)
{
	printf("\ntargets:\n");
	double vs_ref_uniform = speed[0][IMPL_REF] / speed[0][IMPL_KMALLOC];
	double vs_ref_small = speed[1][IMPL_REF] / speed[1][IMPL_KMALLOC];
	printf("  >= 20x faster than linear-ref at L=1000: uniform %.1fx, small %.1fx: %s\n",
	       vs_ref_uniform, vs_ref_small,
	       vs_ref_uniform >= 20.0 && vs_ref_small >= 20.0 ? "met" : "NOT met");
	printf("  no slower than glibc on small-*: %s (1000: %.1f vs %.1f, 4000: %.1f vs %.1f ns/op)\n",
	       speed[1][IMPL_KMALLOC] <= speed[1][IMPL_MALLOC] &&
			       speed[2][IMPL_KMALLOC] <= speed[2][IMPL_MALLOC] ? "met" : "NOT met",
	       speed[1][IMPL_KMALLOC], speed[1][IMPL_MALLOC], speed[2][IMPL_KMALLOC],
	       speed[2][IMPL_MALLOC]);
	printf("  utilisation >= 0.96: uniform %.4f, small %.4f: %s; the exact-first-fit policy "
	       "itself reaches %.4f and %.4f here\n", util[0][IMPL_KMALLOC], util[1][IMPL_KMALLOC],
	       util[0][IMPL_KMALLOC] >= 0.96 && util[1][IMPL_KMALLOC] >= 0.96 ? "met" : "NOT met",
	       util[0][IMPL_IDEAL_FF], util[1][IMPL_IDEAL_FF]);
	printf("  the O(1) good-fit allocator (tlsf), same run: %.1f / %.1f / %.1f ns/op against "
	       "kmalloc's %.1f / %.1f / %.1f; utilisation %.4f / %.4f\n", speed[0][IMPL_TLSF],
	       speed[1][IMPL_TLSF], speed[2][IMPL_TLSF], speed[0][IMPL_KMALLOC], speed[1][IMPL_KMALLOC],
	       speed[2][IMPL_KMALLOC], util[0][IMPL_TLSF], util[1][IMPL_TLSF]);
}

/* st: a fresh heap's statistics (its metadata and header size). */
static void print_table(const struct heap_stats *st)
{
	printf("\nheap benchmark, %s, release build (KHEAP_DEBUG=%d), %zu-byte arena, %d ops, "
	       "median of %d runs\n", TARGET_DESCRIPTION, KHEAP_DEBUG, ARENA_BYTES, SPEED_OPS,
	       SPEED_RUNS);
	printf("kmalloc: header %zu B/block (blocks are whole 16-byte granules), metadata %zu B "
	       "(%.2f%% of the region)\n", st->header_bytes, st->metadata_bytes,
	       100.0 * (double)st->metadata_bytes / ARENA_BYTES);
	if (ran_speed)
		print_speed_table();
	if (ran_util)
		print_util_table();
	if (ran_worst)
		print_worst_table();
	if (ran_speed && ran_util && !TARGET_TAG[0])
		print_targets();
}
/* ---- the release build against the reference, before any figure is taken ---- */

/*
 * Tests and fuzzers run the debug build (red zones, 8-byte headers); this is
 * the build the figures come from, so it proves itself first: random
 * programs of every operation, in lockstep with the linear reference, same
 * addresses, heap_check clean. Exits non-zero on any disagreement.
 */
static int check_release_build(void)
{
	static const size_t sizes[] = { 24 * 1024, 256 * 1024, ARENA_BYTES };
	static struct heap_diff d;
	uint8_t *ref_buf = aligned_alloc(65536, ARENA_BYTES + HEAP_DIFF_MAX_ALIGN);
	unsigned steps = 0;

	for (size_t k = 0; k < ARRAY_SIZE(sizes) && ref_buf; k++) {
		uint64_t s = SEED + k;
		if (!heap_diff_init(&d, region, sizes[k], ref_buf, ARENA_BYTES + HEAP_DIFF_MAX_ALIGN))
			return 1;
		d.check_every_step = false;
		for (unsigned i = 0; i < 100000; i++, steps++) {
			uint64_t r = xorshift64(&s);
			enum heap_diff_op op = (enum heap_diff_op)(r % HEAP_DIFF_OPS);
			size_t size = r >> 60 == 0 ? (size_t)(r >> 8) % 20000 : (size_t)(r >> 8) % 600;
			size_t arg = op == HEAP_DIFF_ALIGNED ? (size_t)1 << ((r >> 40) % 13)
				     : op == HEAP_DIFF_CALLOC ? (size_t)(r >> 40) % 4 : 0;
			const char *bad = heap_diff_step(&d, op, (unsigned)(r >> 32), size, arg);
			if (bad) {
				printf("release build disagrees with the reference: %s\n", bad);
				return 1;
			}
			if (i % 997 == 0)
				heap_check(d.heap);
		}
		const char *bad = heap_diff_drain(&d);
		if (bad) {
			printf("release build disagrees with the reference: %s\n", bad);
			return 1;
		}
	}
	free(ref_buf);
	printf("# release build checked: %u random operations in lockstep with the reference\n", steps);
	return 0;
}

/* The byte at j of the block held by slot k. */
static inline uint8_t tlsf_pattern(unsigned k, size_t j)
{
	return (uint8_t)(k * 7 + j);
}

/* Mostly under 300 bytes, a quarter under 20000, and 1 in 256 far too large. */
static size_t tlsf_check_size(uint64_t r)
{
	if (r >> 56 == 0)
		return SIZE_MAX / 2;
	return (r >> 40) % 4 == 0 ? (size_t)(r >> 16) % 20000 : (size_t)(r >> 16) % 300;
}

/* tlsf_check(), and that it counts `live` used blocks; NULL or what is wrong. */
static const char *tlsf_check_live(const struct tlsf *t, size_t live)
{
	size_t used;
	const char *bad = tlsf_check(t, &used);
	if (!bad && used != live)
		bad = "tlsf_check counts another number of used blocks";
	return bad;
}

/*
 * The comparison allocator proves itself too (bench/support/tlsf.c has no
 * tests of its own): random allocations and frees with every live block
 * filled with its own byte pattern, checked when it is freed (two blocks
 * handed out over each other would break it), tlsf_check() clean along the
 * way, and one free block again once everything is freed.
 */
static int check_tlsf(void)
{
	enum { SLOTS = 2000, STEPS = 300000 };
	static uint8_t *ptr[SLOTS];
	static size_t len[SLOTS];
	uint64_t s = SEED ^ 0x7f4a7c15;
	struct tlsf *t = tlsf_init(region, ARENA_BYTES);
	size_t live = 0;
	const char *bad = t ? NULL : "tlsf_init failed";

	memset(ptr, 0, sizeof(ptr));
	for (unsigned i = 0; i < STEPS && !bad; i++) {
		uint64_t r = xorshift64(&s);
		unsigned k = (unsigned)(r % SLOTS);
		if (ptr[k]) {
			for (size_t j = 0; j < len[k] && !bad; j++) {
				if (ptr[k][j] != tlsf_pattern(k, j))
					bad = "a live block's contents changed";
			}
			tlsf_free(t, ptr[k]);
			ptr[k] = NULL;
			live--;
			continue;
		}
		size_t n = tlsf_check_size(r);
		uint8_t *p = tlsf_alloc(t, n);
		if (!p)
			continue;
		if (n == 0 || n > ARENA_BYTES || (uintptr_t)p % sizeof(size_t) != 0 || p < region ||
		    p + n > region + ARENA_BYTES) {
			bad = "a block that should not exist, is misaligned or lies outside the region";
			break;
		}
		for (size_t j = 0; j < n; j++)
			p[j] = tlsf_pattern(k, j);
		ptr[k] = p;
		len[k] = n;
		live++;
		if (i % 997 == 0)
			bad = tlsf_check_live(t, live);
	}
	for (unsigned k = 0; k < SLOTS && !bad; k++)
		tlsf_free(t, ptr[k]);
	if (!bad)
		bad = tlsf_check_live(t, 0);
	if (!bad && !tlsf_alloc(t, ARENA_BYTES / 2))
		bad = "the emptied pool is not one free block again";
	if (bad) {
		printf("tlsf self-check failed: %s\n", bad);
		return 1;
	}
	printf("# tlsf checked: %u random operations, contents and structure intact\n", STEPS);
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";
	region = aligned_alloc(65536, ARENA_BYTES);
	if (!region)
		return 1;
	printf("bench/heap: %s, release build (KHEAP_DEBUG=%d)\n", TARGET_DESCRIPTION, KHEAP_DEBUG);
	if (check_release_build() || check_tlsf())
		return 1;
	if (strcmp(only, "check") == 0)
		return 0; /* make test: the release build's correctness, no figures */
	struct heap_stats st;
	heap_stats(heap_init(region, ARENA_BYTES), &st);
	printf("BENCH heap 3MiB-region%s kmalloc-metadata %zu bytes\n", TARGET_TAG, st.metadata_bytes);
	printf("BENCH heap 3MiB-region%s kmalloc-header %zu bytes/block\n", TARGET_TAG, st.header_bytes);
	ran_speed = !*only || strstr(only, "speed");
	ran_util = !*only || strstr(only, "util");
	ran_worst = !*only || strstr(only, "worst");
	if (ran_speed)
		bench_speed();
	if (ran_util)
		bench_utilisation();
	if (ran_worst)
		bench_worst();
	print_table(&st);
	return 0;
}
