/* The simulated machine under the VMM in host builds: see vmm_sim.h. */
#include "tests/host/support/vmm_sim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JUNK 0xA5 /* what fresh and freed frames hold */

__attribute__((noreturn, format(printf, 1, 2))) static void sim_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vmm_sim: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p)
		sim_fail("out of host memory");
	return p;
}

/* The frame index of phys, or frame_count when phys is no frame of ours. */
static size_t frame_index(const struct vmm_sim *sim, phys_addr_t phys)
{
	if (phys < sim->ram_base || !IS_ALIGNED(phys - sim->ram_base, PAGE_SIZE) ||
	    (phys - sim->ram_base) / PAGE_SIZE >= sim->frame_count)
		return sim->frame_count;
	return (size_t)((phys - sim->ram_base) / PAGE_SIZE);
}

bool vmm_sim_frame_allocated(const struct vmm_sim *sim, phys_addr_t frame)
{
	size_t i = frame_index(sim, frame);
	return i < sim->frame_count && sim->frame_used[i];
}

uint32_t *vmm_sim_frame(struct vmm_sim *sim, phys_addr_t frame)
{
	size_t i = frame_index(sim, frame);

	if (i == sim->frame_count)
		sim_fail("0x%llx is not a frame of the simulated RAM", (unsigned long long)frame);
	if (!sim->frame_used[i])
		sim_fail("frame 0x%llx is touched but not allocated", (unsigned long long)frame);
	return (uint32_t *)(sim->ram + i * PAGE_SIZE);
}

/* ---- the frame source ---- */

static int sim_alloc(void *ctx, phys_addr_t *frame)
{
	struct vmm_sim *sim = ctx;
	size_t i;

	if (sim->alloc_budget == 0 || sim->free_top == 0) {
		sim->failed_allocs++;
		return -MIO_ENOMEM;
	}
	if (sim->alloc_budget != VMM_SIM_UNLIMITED)
		sim->alloc_budget--;
	i = sim->free_stack[--sim->free_top];
	sim->frame_used[i] = 1;
	sim->frames_out++;
	sim->allocs++;
	*frame = sim->ram_base + (phys_addr_t)i * PAGE_SIZE;
	return 0;
}

static void sim_free(void *ctx, phys_addr_t frame)
{
	struct vmm_sim *sim = ctx;
	size_t i = frame_index(sim, frame);

	if (i == sim->frame_count)
		sim_fail("free of foreign frame 0x%llx", (unsigned long long)frame);
	if (!sim->frame_used[i])
		sim_fail("double free of frame 0x%llx", (unsigned long long)frame);
	if (frame == sim->cr3)
		sim_fail("free of the loaded page directory 0x%llx", (unsigned long long)frame);
	memset(sim->ram + i * PAGE_SIZE, JUNK, PAGE_SIZE);
	sim->frame_used[i] = 0;
	sim->free_stack[sim->free_top++] = i;
	sim->frames_out--;
	sim->frees++;
}

static const struct vmm_frame_ops sim_frame_ops = { .alloc = sim_alloc, .free = sim_free };

/* ---- the MMU: table walk and TLB ---- */

/*
 * Walks the tables from CR3 as the CPU does, setting accessed (and, for a
 * write, dirty) bits. Returns false for a fault.
 */
static bool walk_tables(struct vmm_sim *sim, uint32_t va, bool write, struct vmm_sim_tlb_entry *out)
{
	uint32_t *pd = vmm_sim_frame(sim, sim->cr3);
	uint32_t *pde = &pd[pdx(va)];
	uint32_t *pte;

	if (!entry_present(*pde))
		return false;
	*pde |= PTE_A;
	if (pde_is_large(*pde)) {
		*pde |= write ? PTE_D : 0;
		*out = (struct vmm_sim_tlb_entry){ true, va & PDE_LARGE_ADDR_MASK, LARGE_PAGE_SIZE,
						   pde_large_phys(*pde) };
		return true;
	}
	pte = &vmm_sim_frame(sim, pde_table_phys(*pde))[ptx(va)];
	if (!entry_present(*pte))
		return false;
	*pte |= PTE_A | (write ? PTE_D : 0);
	*out = (struct vmm_sim_tlb_entry){ true, va & PTE_ADDR_MASK, PAGE_SIZE, pte_phys(*pte) };
	return true;
}

static phys_addr_t translate(struct vmm_sim *sim, uint32_t va, bool write)
{
	struct vmm_sim_tlb_entry e;

	if (!sim->cr3_loads)
		sim_fail("translation of 0x%08x with no CR3 loaded", va);
	for (unsigned i = 0; i < VMM_SIM_TLB_ENTRIES; i++) {
		const struct vmm_sim_tlb_entry *t = &sim->tlb[i];
		if (t->valid && va - t->va < t->size)
			return t->phys + (va - t->va);
	}
	if (!walk_tables(sim, va, write, &e))
		return VMM_PHYS_NONE; /* the TLB never caches an absent entry */
	sim->tlb[sim->tlb_next] = e;
	sim->tlb_next = (sim->tlb_next + 1) % VMM_SIM_TLB_ENTRIES;
	return e.phys + (va - e.va);
}

phys_addr_t vmm_sim_access(struct vmm_sim *sim, virt_addr_t va)
{
	if ((uint64_t)va >= LINEAR_LIMIT)
		sim_fail("access to 0x%llx beyond 4 GiB", (unsigned long long)va);
	return translate(sim, (uint32_t)va, false);
}

/* ---- the machine ---- */

static void *sim_table(void *ctx, unsigned slot, phys_addr_t table_phys)
{
	struct vmm_sim *sim = ctx;
	uint32_t window = VMM_TABLE_WINDOW + slot * (uint32_t)PAGE_SIZE;
	phys_addr_t reached;

	if (slot >= PT_ENTRIES)
		sim_fail("table of slot %u", slot);
	if (!sim->paging)
		return vmm_sim_frame(sim, table_phys);
	reached = translate(sim, window, true);
	if (reached == VMM_PHYS_NONE)
		sim_fail("window 0x%08x of slot %u faults (VMM expected table 0x%llx)", window, slot,
			 (unsigned long long)table_phys);
	if (reached != table_phys)
		sim_fail("window of slot %u reaches 0x%llx, the VMM meant 0x%llx "
			 "(stale TLB entry or broken recursive slot)",
			 slot, (unsigned long long)reached, (unsigned long long)table_phys);
	return vmm_sim_frame(sim, reached);
}

static void sim_invlpg(void *ctx, virt_addr_t va)
{
	struct vmm_sim *sim = ctx;

	if ((uint64_t)va >= LINEAR_LIMIT)
		sim_fail("invlpg of 0x%llx beyond 4 GiB", (unsigned long long)va);
	for (unsigned i = 0; i < VMM_SIM_TLB_ENTRIES; i++)
		if (sim->tlb[i].valid && (uint32_t)va - sim->tlb[i].va < sim->tlb[i].size)
			sim->tlb[i].valid = false;
	sim->invlpg_total++;
	if (!sim->record_invlpg)
		return;
	if (sim->invlpg_logged == sim->invlpg_cap) {
		sim->invlpg_cap = sim->invlpg_cap ? 2 * sim->invlpg_cap : 256;
		sim->invlpg_log = realloc(sim->invlpg_log, sim->invlpg_cap * sizeof(*sim->invlpg_log));
		if (!sim->invlpg_log)
			sim_fail("out of host memory");
	}
	sim->invlpg_log[sim->invlpg_logged++] = va;
}

/* Flushes every TLB entry: the sim does not model CR4.PGE, global pages go too. */
static void sim_load_cr3(void *ctx, phys_addr_t directory)
{
	struct vmm_sim *sim = ctx;

	(void)vmm_sim_frame(sim, directory); /* must be an allocated frame */
	sim->cr3 = directory;
	sim->cr3_loads++;
	memset(sim->tlb, 0, sizeof(sim->tlb));
}

static const struct vmm_machine_ops sim_machine_ops = {
	.table = sim_table,
	.invlpg = sim_invlpg,
	.load_cr3 = sim_load_cr3,
};

/* ---- setup ---- */

void vmm_sim_init(struct vmm_sim *sim, size_t frames, phys_addr_t ram_base)
{
	memset(sim, 0, sizeof(*sim));
	sim->ram = malloc(frames * PAGE_SIZE);
	if (!sim->ram)
		sim_fail("out of host memory");
	sim->ram_base = ram_base;
	sim->frame_count = frames;
	sim->frame_used = xcalloc(frames, 1);
	sim->free_stack = xcalloc(frames, sizeof(*sim->free_stack));
	memset(sim->ram, JUNK, frames * PAGE_SIZE);
	vmm_sim_reset(sim);
}

void vmm_sim_destroy(struct vmm_sim *sim)
{
	free(sim->ram);
	free(sim->frame_used);
	free(sim->free_stack);
	free(sim->invlpg_log);
	memset(sim, 0, sizeof(*sim));
}

void vmm_sim_reset(struct vmm_sim *sim)
{
	/* Free frames already hold junk (init and free put it there). */
	for (size_t i = 0; i < sim->frame_count; i++)
		if (sim->frame_used[i])
			memset(sim->ram + i * PAGE_SIZE, JUNK, PAGE_SIZE);
	memset(sim->frame_used, 0, sim->frame_count);
	for (size_t i = 0; i < sim->frame_count; i++)
		sim->free_stack[i] = sim->frame_count - 1 - i; /* lowest frame first */
	sim->free_top = sim->frame_count;
	sim->frames_out = sim->allocs = sim->frees = sim->failed_allocs = 0;
	sim->alloc_budget = VMM_SIM_UNLIMITED;
	sim->paging = false;
	sim->cr3 = 0;
	sim->cr3_loads = 0;
	sim->record_invlpg = true;
	vmm_sim_clear_log(sim);
	memset(sim->tlb, 0, sizeof(sim->tlb));
	sim->tlb_next = 0;
}

struct vmm_config vmm_sim_config(struct vmm_sim *sim, struct vmm_caps caps)
{
	return (struct vmm_config){
		.machine = &sim_machine_ops,
		.machine_ctx = sim,
		.frames = &sim_frame_ops,
		.frames_ctx = sim,
		.caps = caps,
	};
}

void vmm_sim_fail_after(struct vmm_sim *sim, size_t n)
{
	sim->alloc_budget = n;
}

void vmm_sim_paging_on(struct vmm_sim *sim)
{
	if (!sim->cr3_loads)
		sim_fail("paging on with no CR3 loaded");
	sim->paging = true;
}

size_t vmm_sim_invlpg_count(const struct vmm_sim *sim, virt_addr_t va)
{
	size_t n = 0;

	for (size_t i = 0; i < sim->invlpg_logged; i++)
		n += sim->invlpg_log[i] == va;
	return n;
}

void vmm_sim_clear_log(struct vmm_sim *sim)
{
	sim->invlpg_logged = 0;
	sim->invlpg_total = 0;
}
