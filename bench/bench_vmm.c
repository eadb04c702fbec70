/*
 * VMM benchmark (host, release build): map and unmap 1 GiB in 4 KiB pages
 * and in 4 MiB pages; nanoseconds per page, median of several runs.
 *
 * Implementations measured in the same run:
 *   vmm_page   one vmm_map_page / vmm_map_page_4mib / vmm_unmap_page call per page
 *   vmm_range  one vmm_map_range / vmm_unmap_range call for the whole GiB
 *   ref_model  the reference model (tests/model/vmm_ref): a flat table with one
 *              slot per 4 KiB page, what "no page tables at all" costs
 *
 * The machine under the VMM is reduced to what the kernel's costs before
 * paging: a table is a pointer computation, invlpg a counter, and frames
 * come off a stack. So this measures the VMM's own work; on hardware each
 * unmap also pays a real invlpg.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "mm/vmm.h"
#include "tests/model/vmm_ref.h"

#define GIB ((uint64_t)1 << 30)
#define VIRT_BASE 0x40000000u
#define PHYS_4K 0x00001000u /* not 4 MiB aligned with VIRT_BASE: the range helper uses 4 KiB pages */
#define PHYS_4M 0x00000000u
#define SAMPLES 9
#define LARGE_REPEAT 400 /* 256 pages per GiB is too short to time alone */
#define FLAGS (VMM_WRITABLE | VMM_GLOBAL)

/* ---- a lean machine: the kernel's cost before paging ---- */

struct lean {
	uint8_t *ram;
	phys_addr_t base;
	size_t *stack, top, out;
	uint64_t invlpgs;
};

static void *lean_table(void *ctx, unsigned slot, phys_addr_t phys)
{
	struct lean *m = ctx;
	(void)slot;
	return m->ram + (phys - m->base);
}

static void lean_invlpg(void *ctx, virt_addr_t va)
{
	(void)va;
	((struct lean *)ctx)->invlpgs++;
}

static void lean_load_cr3(void *ctx, phys_addr_t dir)
{
	(void)ctx;
	(void)dir;
}

static int lean_alloc(void *ctx, phys_addr_t *frame)
{
	struct lean *m = ctx;
	if (m->top == 0)
		return -MIO_ENOMEM;
	*frame = m->base + (phys_addr_t)m->stack[--m->top] * PAGE_SIZE;
	m->out++;
	return 0;
}

static void lean_free(void *ctx, phys_addr_t frame)
{
	struct lean *m = ctx;
	m->stack[m->top++] = (size_t)((frame - m->base) / PAGE_SIZE);
	m->out--;
}

static const struct vmm_machine_ops lean_machine = { lean_table, lean_invlpg, lean_load_cr3 };
static const struct vmm_frame_ops lean_frames = { lean_alloc, lean_free };

static struct lean lean;
static struct vmm vmm;
static struct vmm_ref ref;

static void die(const char *what)
{
	fprintf(stderr, "bench_vmm: %s\n", what);
	exit(1);
}

static void setup(void)
{
	const size_t frames = PT_ENTRIES + 1;
	const struct vmm_caps caps = { .pse = true, .pse36 = true, .pge = true, .phys_bits = 36 };
	struct vmm_config cfg = { &lean_machine, &lean, &lean_frames, &lean, caps };

	lean.base = 0x00100000u;
	lean.ram = malloc(frames * PAGE_SIZE);
	lean.stack = malloc(frames * sizeof(*lean.stack));
	if (!lean.ram || !lean.stack)
		die("out of memory");
	for (size_t i = 0; i < frames; i++)
		lean.stack[lean.top++] = frames - 1 - i;
	if (vmm_init(&vmm, &cfg) != 0)
		die("vmm_init");
	vmm_ref_init(&ref, caps);
}

/* ---- the workloads: one timed pass each, returning ns ---- */

enum impl { VMM_PAGE, VMM_RANGE, REF_MODEL, IMPLS };
static const char *const impl_names[IMPLS] = { "vmm_page", "vmm_range", "ref_model" };

static void expect(int err, const char *what)
{
	if (err)
		die(what);
}

static uint64_t map_small(enum impl impl)
{
	size_t budget = SIZE_MAX;
	uint64_t t0 = now_ns();

	if (impl == VMM_RANGE)
		expect(vmm_map_range(&vmm, VIRT_BASE, PHYS_4K, GIB, FLAGS), "map range 4 KiB");
	for (uint64_t off = 0; impl != VMM_RANGE && off < GIB; off += PAGE_SIZE)
		expect(impl == VMM_PAGE ? vmm_map_page(&vmm, VIRT_BASE + off, PHYS_4K + off, FLAGS)
					: vmm_ref_map_page(&ref, VIRT_BASE + off, PHYS_4K + off, FLAGS, &budget),
		       "map 4 KiB");
	return now_ns() - t0;
}

static uint64_t unmap_small(enum impl impl)
{
	uint64_t t0 = now_ns();

	if (impl == VMM_RANGE)
		expect(vmm_unmap_range(&vmm, VIRT_BASE, GIB), "unmap range 4 KiB");
	for (uint64_t off = 0; impl != VMM_RANGE && off < GIB; off += PAGE_SIZE)
		expect(impl == VMM_PAGE ? vmm_unmap_page(&vmm, VIRT_BASE + off)
					: vmm_ref_unmap_page(&ref, VIRT_BASE + off),
		       "unmap 4 KiB");
	return now_ns() - t0;
}

static uint64_t map_large(enum impl impl)
{
	uint64_t t0 = now_ns();

	if (impl == VMM_RANGE)
		expect(vmm_map_range(&vmm, VIRT_BASE, PHYS_4M, GIB, FLAGS), "map range 4 MiB");
	for (uint64_t off = 0; impl != VMM_RANGE && off < GIB; off += LARGE_PAGE_SIZE)
		expect(impl == VMM_PAGE ? vmm_map_page_4mib(&vmm, VIRT_BASE + off, PHYS_4M + off, FLAGS)
					: vmm_ref_map_page_4mib(&ref, VIRT_BASE + off, PHYS_4M + off, FLAGS),
		       "map 4 MiB");
	return now_ns() - t0;
}

static uint64_t unmap_large(enum impl impl)
{
	uint64_t t0 = now_ns();

	if (impl == VMM_RANGE)
		expect(vmm_unmap_range(&vmm, VIRT_BASE, GIB), "unmap range 4 MiB");
	for (uint64_t off = 0; impl != VMM_RANGE && off < GIB; off += LARGE_PAGE_SIZE)
		expect(impl == VMM_PAGE ? vmm_unmap_page(&vmm, VIRT_BASE + off)
					: vmm_ref_unmap_page(&ref, VIRT_BASE + off),
		       "unmap 4 MiB");
	return now_ns() - t0;
}

/* ---- measuring ---- */

enum workload { MAP_4K, UNMAP_4K, MAP_4M, UNMAP_4M, WORKLOADS };
static const char *const workload_names[WORKLOADS] = { "map_1gib_4kib", "unmap_1gib_4kib",
						       "map_1gib_4mib", "unmap_1gib_4mib" };

static double samples[WORKLOADS][IMPLS][SAMPLES];

/* After a full unmap only the directory is out, and the VMM's invariants hold. */
static void verify_empty(enum impl impl)
{
	if (impl != REF_MODEL && (vmm_check(&vmm) != 0 || lean.out != 1))
		die("tables left after unmapping everything");
	if (impl == REF_MODEL && vmm_ref_tables(&ref) != 0)
		die("model not empty");
}

static void run_sample(enum impl impl, int s)
{
	const double pages_4k = (double)(GIB / PAGE_SIZE);
	const double pages_4m = (double)(GIB / LARGE_PAGE_SIZE) * LARGE_REPEAT;
	uint64_t map_ns = 0, unmap_ns = 0;

	map_ns = map_small(impl);
	if (impl != REF_MODEL && vmm_check(&vmm) != GIB / LARGE_PAGE_SIZE)
		die("expected 256 page tables for 1 GiB of 4 KiB pages");
	unmap_ns = unmap_small(impl);
	verify_empty(impl);
	samples[MAP_4K][impl][s] = (double)map_ns / pages_4k;
	samples[UNMAP_4K][impl][s] = (double)unmap_ns / pages_4k;

	map_ns = unmap_ns = 0;
	for (int r = 0; r < LARGE_REPEAT; r++) {
		map_ns += map_large(impl);
		unmap_ns += unmap_large(impl);
	}
	verify_empty(impl);
	samples[MAP_4M][impl][s] = (double)map_ns / pages_4m;
	samples[UNMAP_4M][impl][s] = (double)unmap_ns / pages_4m;
}

int main(void)
{
	double med[WORKLOADS][IMPLS];

	setup();
	/* Interleave implementations sample by sample so drift hits all alike. */
	for (int s = 0; s < SAMPLES; s++)
		for (int i = 0; i < IMPLS; i++)
			run_sample((enum impl)i, s);
	for (int w = 0; w < WORKLOADS; w++)
		for (int i = 0; i < IMPLS; i++) {
			med[w][i] = median(samples[w][i], SAMPLES);
			printf("BENCH vmm %s %s %.2f ns/page\n", workload_names[w], impl_names[i],
			       med[w][i]);
		}

	printf("\nVMM, 1 GiB at 0x%08x, median of %d runs, ns per page (host, release build)\n",
	       VIRT_BASE, SAMPLES);
	printf("%-18s %10s %10s %10s   %s\n", "workload", impl_names[0], impl_names[1],
	       impl_names[2], "vmm_page per GiB");
	for (int w = 0; w < WORKLOADS; w++) {
		double pages = (double)GIB / (w < MAP_4M ? PAGE_SIZE : LARGE_PAGE_SIZE);
		printf("%-18s %10.2f %10.2f %10.2f   %.3f ms\n", workload_names[w], med[w][VMM_PAGE],
		       med[w][VMM_RANGE], med[w][REF_MODEL], med[w][VMM_PAGE] * pages / 1e6);
	}
	printf("(4 KiB: %llu pages and 256 page tables per GiB; 4 MiB: 256 directory entries.)\n",
	       (unsigned long long)(GIB / PAGE_SIZE));
	vmm_ref_destroy(&ref);
	free(lean.ram);
	free(lean.stack);
	return 0;
}
