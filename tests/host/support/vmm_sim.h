/*
 * A simulated x86 machine for the VMM in host builds (tests, fuzzer, bench).
 *
 * - Physical memory for page tables: a malloc'd array standing for frames
 *   [ram_base, ram_base + frames * 4 KiB). Fresh and freed frames are
 *   filled with junk, so a table the VMM forgets to zero is caught.
 * - A frame source over it that can be told to fail after N allocations,
 *   and that aborts on a double or foreign free.
 * - A recording machine: every CR3 load and every invlpg is logged.
 * - Before vmm_sim_paging_on() tables are reached by physical address, as
 *   the kernel does before paging. After it, through the recursive window,
 *   exactly as the MMU would: the window address is translated by walking
 *   the tables from the loaded CR3, through a small TLB that keeps what it
 *   translated until invlpg or a CR3 load drops it. A missing invlpg shows
 *   up as the VMM reaching a stale frame, which the sim reports (it knows
 *   which frame the VMM meant). The walk also sets the accessed and dirty
 *   bits, as the CPU does.
 * - vmm_sim_access() translates any address the same way, so a test can
 *   "touch" a mapped page and see whether the TLB still holds an old one.
 *
 * Misuse and detected VMM bugs abort with a message on stderr (a crash in
 * Criterion, a finding for libFuzzer).
 */
#ifndef MIO_TESTS_HOST_SUPPORT_VMM_SIM_H
#define MIO_TESTS_HOST_SUPPORT_VMM_SIM_H

#include "lib/types.h"
#include "mm/vmm.h"

#define VMM_SIM_TLB_ENTRIES 64
#define VMM_SIM_UNLIMITED ((size_t)-1)

struct vmm_sim_tlb_entry {
	bool valid;
	uint32_t va;   /* first address of the page */
	uint32_t size; /* 4 KiB or 4 MiB */
	phys_addr_t phys;
};

struct vmm_sim {
	/* simulated physical memory */
	uint8_t *ram;
	phys_addr_t ram_base;
	size_t frame_count;

	/* the frame source */
	uint8_t *frame_used; /* 1 while handed out */
	size_t *free_stack;  /* indices of free frames, lowest on top */
	size_t free_top;
	size_t frames_out;   /* handed out, not yet returned */
	size_t alloc_budget; /* allocations that may still succeed */
	size_t allocs, frees, failed_allocs;

	/* the machine */
	bool paging;
	phys_addr_t cr3;
	size_t cr3_loads;
	bool record_invlpg;  /* keep every address (true after init) or only count */
	virt_addr_t *invlpg_log;
	size_t invlpg_logged, invlpg_cap;
	size_t invlpg_total;
	struct vmm_sim_tlb_entry tlb[VMM_SIM_TLB_ENTRIES];
	unsigned tlb_next;
};

/* Sets up frames frames of simulated RAM at physical address ram_base. */
void vmm_sim_init(struct vmm_sim *sim, size_t frames, phys_addr_t ram_base);
void vmm_sim_destroy(struct vmm_sim *sim);

/* All frames free again, logs and TLB empty, paging off, no allocation limit. */
void vmm_sim_reset(struct vmm_sim *sim);

/* A struct vmm_config for vmm_init() that runs on this sim with these caps. */
struct vmm_config vmm_sim_config(struct vmm_sim *sim, struct vmm_caps caps);

/* Lets only n more frame allocations succeed (VMM_SIM_UNLIMITED: all). */
void vmm_sim_fail_after(struct vmm_sim *sim, size_t n);

/* Paging on, as paging_enable() would: tables are reached through the window from now on. */
void vmm_sim_paging_on(struct vmm_sim *sim);

/* The host view of an allocated frame, to read entries directly. */
uint32_t *vmm_sim_frame(struct vmm_sim *sim, phys_addr_t frame);
bool vmm_sim_frame_allocated(const struct vmm_sim *sim, phys_addr_t frame);

/* How often invlpg was issued for exactly va since the log was last cleared. */
size_t vmm_sim_invlpg_count(const struct vmm_sim *sim, virt_addr_t va);
void vmm_sim_clear_log(struct vmm_sim *sim);

/*
 * A read of va as the MMU would do it (needs a loaded CR3): the physical
 * address, or VMM_PHYS_NONE for a page fault. Uses and fills the TLB.
 */
phys_addr_t vmm_sim_access(struct vmm_sim *sim, virt_addr_t va);

#endif
