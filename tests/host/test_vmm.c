/*
 * mm/vmm.c and mm/paging.h on a simulated machine (tests/host/support/vmm_sim.h):
 * the entries themselves, invlpg on every unmap and remap, translation for
 * both page sizes, page tables going back to the frame source, every error
 * row of the issue, rollback without leaks, the range helper's page sizes.
 *
 * Unless a test says otherwise the address space runs "after paging": CR3
 * loaded and every table reached through the recursive window, via a TLB.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <string.h>

#include "mm/paging.h"
#include "mm/vmm.h"
#include "tests/host/support/host_support.h"
#include "tests/host/support/vmm_sim.h"

#define KiB ((uint64_t)1 << 10)
#define MiB ((uint64_t)1 << 20)
#define GiB ((uint64_t)1 << 30)
#define SIM_RAM_BASE 0x02000000u /* where the simulated table frames lie physically */
#define SIM_FRAMES 64
#define RW (VMM_WRITABLE)

static const struct vmm_caps caps_full = { .pse = true, .pse36 = true, .pge = true, .phys_bits = 36 };
static const struct vmm_caps caps_pse_only = { .pse = true, .pge = true, .phys_bits = 32 };
static const struct vmm_caps caps_none = { .phys_bits = 32 };

static struct vmm_sim sim;
static struct vmm vmm;

static void start(struct vmm_caps caps, size_t frames, bool paging)
{
	struct vmm_config cfg;

	vmm_sim_init(&sim, frames, SIM_RAM_BASE);
	cfg = vmm_sim_config(&sim, caps);
	cr_assert(eq(int, vmm_init(&vmm, &cfg), 0));
	if (paging) {
		vmm_activate(&vmm);
		vmm_sim_paging_on(&sim);
	}
}

static void setup(void) { start(caps_full, SIM_FRAMES, true); }
static void setup_before_paging(void) { start(caps_full, SIM_FRAMES, false); }
static void setup_pse_only(void) { start(caps_pse_only, SIM_FRAMES, true); }
static void setup_no_pse(void) { start(caps_none, SIM_FRAMES, true); }
static void teardown(void) { vmm_sim_destroy(&sim); }

/* Criterion's cr_assert wants a named criterion first, not a statement expression. */
#define ASSERT_PANICS(stmt)                                                       \
	do {                                                                      \
		bool got_panic_ = HOST_PANICS(stmt);                              \
		cr_assert(got_panic_, "expected a panic from %s", #stmt);          \
	} while (0)

/* The entries as the hardware sees them, read straight from simulated RAM. */
static pde_t pde_at(uint32_t va)
{
	return vmm_sim_frame(&sim, vmm_directory_phys(&vmm))[pdx(va)];
}

static pte_t pte_at(uint32_t va)
{
	pde_t e = pde_at(va);
	cr_assert(pde_is_table(e), "no page table covers 0x%08x", va);
	return vmm_sim_frame(&sim, pde_table_phys(e))[ptx(va)];
}

/* Directory entries collect accessed/dirty bits when reached through the window. */
static pde_t pde_soft(uint32_t va) { return pde_at(va) & ~PTE_HW_UPDATED; }

/* Frames out must be exactly the directory plus the tables vmm_check counts. */
static void assert_no_leak(void)
{
	size_t tables = vmm_check(&vmm);
	cr_assert(eq(sz, sim.frames_out, 1 + tables));
}

/* ==== the entry format (mm/paging.h) ==== */

Test(paging_format, address_split)
{
	cr_assert(eq(uint, pdx(0xFFFFF000u), 1023));
	cr_assert(eq(uint, ptx(0xFFFFF000u), 1023));
	cr_assert(eq(uint, pdx(0x00C01234u), 3));
	cr_assert(eq(uint, ptx(0x00C01234u), 1));
	cr_assert(eq(u32, pd_linear(3), 0x00C00000u));
	cr_assert(eq(u32, pt_linear(3, 1), 0x00C01000u));
}

Test(paging_format, flag_bits_are_the_sdm_positions)
{
	cr_assert(eq(u32, PTE_P, 0x001));
	cr_assert(eq(u32, PTE_W, 0x002));
	cr_assert(eq(u32, PTE_U, 0x004));
	cr_assert(eq(u32, PTE_PWT, 0x008));
	cr_assert(eq(u32, PTE_PCD, 0x010));
	cr_assert(eq(u32, PTE_A, 0x020));
	cr_assert(eq(u32, PTE_D, 0x040));
	cr_assert(eq(u32, PTE_PS, 0x080));
	cr_assert(eq(u32, PTE_G, 0x100));
	cr_assert(eq(u32, VMM_WRITE_THROUGH, PTE_PWT));
	cr_assert(eq(u32, VMM_CACHE_DISABLE, PTE_PCD));
	cr_assert(eq(u32, VMM_GLOBAL, PTE_G));
}

Test(paging_format, small_entries)
{
	pte_t e = pte_make(0xABCDE000u, PTE_P | PTE_W | PTE_G);

	cr_assert(eq(u32, e, 0xABCDE103u));
	cr_assert(eq(u64, pte_phys(e), 0xABCDE000u));
	cr_assert(eq(u32, pte_flags(e), 0x103u));
	cr_assert(eq(u32, pde_make_table(0x00123000u, PTE_P | PTE_W | PTE_U), 0x00123007u));
	cr_assert(eq(u32, pde_make_table(0x00123000u, PTE_P | PTE_PS), 0x00123001u),
		  "a table entry never gets PS");
	cr_assert(pde_is_table(0x00123001u) && !pde_is_large(0x00123001u));
	cr_assert(not(pde_is_table(0x00123000u)), "absent");
	cr_assert(not(pde_is_large(0x00123080u)), "PS without P is absent");
}

Test(paging_format, large_entries_and_pse36_bits)
{
	/* Below 4 GiB: address bits 31:22 only. */
	cr_assert(eq(u32, pde_make_large(0xFFC00000u, PTE_P), 0xFFC00081u));
	/* PSE-36: physical bits 39:32 live in entry bits 20:13. */
	cr_assert(eq(u32, pde_make_large(0x100000000ull, PTE_P | PTE_W), 0x00002083u));
	cr_assert(eq(u32, pde_make_large(0x340C00000ull, PTE_P), 0x40C06081u));
	cr_assert(eq(u32, pde_make_large(0xFFFFC00000ull, PTE_P), 0xFFDFE081u));
	cr_assert(eq(u64, pde_large_phys(0xFFDFE081u), 0xFFFFC00000ull));
	cr_assert(eq(u64, pde_large_phys(0x40C06081u), 0x340C00000ull));
	cr_assert(eq(u32, pde_make_large(0x100000000ull, PTE_P) & PDE_LARGE_RESERVED, 0),
		  "bit 21 is never set");
	cr_assert(pde_is_large(0x00002083u));
}

/* ==== building entries ==== */

Test(vmm, init_builds_the_recursive_slot, .init = setup, .fini = teardown)
{
	phys_addr_t dir = vmm_directory_phys(&vmm);

	cr_assert(eq(u32, pde_soft(VMM_TABLE_WINDOW), (uint32_t)dir | PTE_P | PTE_W),
		  "the last slot maps the directory, supervisor only");
	cr_assert(eq(u32, pde_at(VMM_RESERVED_BASE), 0), "scratch slot empty");
	cr_assert(eq(sz, sim.frames_out, 1));
	cr_assert(eq(sz, sim.cr3_loads, 1));
	cr_assert(eq(u64, sim.cr3, dir));
	/* Through the window the directory shows at 0xFFFFF000, as on the CPU. */
	cr_assert(eq(u64, vmm_sim_access(&sim, VMM_DIRECTORY_WINDOW), dir));
	cr_assert(eq(sz, vmm_check(&vmm), 0));
}

Test(vmm, map_page_writes_the_table_entry, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW | VMM_USER), 0));
	cr_assert(eq(u32, pte_at(0x00401000u), 0x00123000u | PTE_P | PTE_W | PTE_U));
	cr_assert(eq(u32, pde_soft(0x00401000u) & PTE_FLAGS_MASK, PTE_P | PTE_W | PTE_U),
		  "table entries are permissive, the page entry decides");
	cr_assert(vmm_sim_frame_allocated(&sim, pde_table_phys(pde_at(0x00401000u))));
	cr_assert(eq(sz, vmm_check(&vmm), 1));
	assert_no_leak();
	/* The fresh table came from junk-filled RAM: everything else in it is zero. */
	for (unsigned j = 0; j < PT_ENTRIES; j++)
		if (j != 1)
			cr_assert(eq(u32, pte_at(pt_linear(1, j)), 0));
	cr_assert(eq(u32, pde_at(VMM_RESERVED_BASE), 0), "scratch slot cleared after use");
	/* The table shows through its window page. */
	cr_assert(eq(u64, vmm_sim_access(&sim, VMM_TABLE_WINDOW + 1 * PAGE_SIZE),
		     pde_table_phys(pde_at(0x00401000u))));
}

Test(vmm, each_flag_lands_on_its_bit, .init = setup, .fini = teardown)
{
	static const uint32_t flags[] = { VMM_WRITABLE, VMM_USER, VMM_WRITE_THROUGH,
					  VMM_CACHE_DISABLE, VMM_GLOBAL, 0 };
	static const uint32_t bits[] = { PTE_W, PTE_U, PTE_PWT, PTE_PCD, PTE_G, 0 };

	for (unsigned i = 0; i < ARRAY_SIZE(flags); i++) {
		uint32_t va = 0x10000000u + i * PAGE_SIZE;
		cr_assert(eq(int, vmm_map_page(&vmm, va, 0x5000u, flags[i]), 0));
		cr_assert(eq(u32, pte_at(va), 0x5000u | PTE_P | bits[i]));
		uint32_t big = 0x20000000u + i * LARGE_PAGE_SIZE;
		cr_assert(eq(int, vmm_map_page_4mib(&vmm, big, 0x00800000u, flags[i]), 0));
		cr_assert(eq(u32, pde_at(big), 0x00800000u | PTE_P | PTE_PS | bits[i]));
	}
	/* VMM_PRESENT is implied; naming it changes nothing. */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x30000000u, 0x6000u, VMM_PRESENT | RW), 0));
	cr_assert(eq(u32, pte_at(0x30000000u), 0x6000u | PTE_P | PTE_W));
	vmm_check(&vmm);
}

Test(vmm, map_4mib_writes_the_directory_entry, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x01000000u, RW | VMM_GLOBAL), 0));
	cr_assert(eq(u32, pde_at(0x00800000u), 0x01000000u | PTE_PS | PTE_P | PTE_W | PTE_G));
	cr_assert(eq(sz, sim.frames_out, 1), "a 4 MiB page needs no table");
	cr_assert(eq(sz, vmm_check(&vmm), 0));
}

Test(vmm, pse36_page_above_4gib, .init = setup, .fini = teardown)
{
	struct vmm_mapping m;

	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x40000000u, 0x340C00000ull, RW), 0));
	cr_assert(eq(u32, pde_at(0x40000000u), 0x40C06083u), "bits 35:32 = 3 in entry bits 14:13");
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x40012345u), 0x340C12345ull));
	cr_assert(eq(int, vmm_lookup(&vmm, 0x403FFFFFu, &m), 0));
	cr_assert(eq(u64, m.phys, 0x340C00000ull));
	/* The highest 4 MiB frame 36 bits allow. */
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x40400000u, 0xFFFC00000ull, 0), 0));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x407FFFFFu), 0xFFFFFFFFFull));
	vmm_check(&vmm);
}

Test(vmm, translate_both_page_sizes_with_offsets, .init = setup, .fini = teardown)
{
	struct vmm_mapping m;

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, 0), 0));

	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00401000u), 0x00123000u));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00401ABCu), 0x00123ABCu));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00401FFFu), 0x00123FFFu));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00C00000u), 0x07000000u));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00D23456u), 0x07123456u));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00FFFFFFu), 0x073FFFFFu));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00402000u), VMM_PHYS_NONE));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x01000000u), VMM_PHYS_NONE));

	cr_assert(vmm_page_mapped(&vmm, 0x00401FFFu));
	cr_assert(vmm_page_mapped(&vmm, 0x00E00000u));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00400000u)));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00000000u)));

	cr_assert(eq(int, vmm_lookup(&vmm, 0x00D23456u, &m), 0));
	cr_assert(eq(u64, m.virt, 0x00C00000u));
	cr_assert(eq(sz, m.size, LARGE_PAGE_SIZE));
	cr_assert(eq(u32, m.flags, VMM_PRESENT));
	cr_assert(eq(int, vmm_lookup(&vmm, 0x00401ABCu, &m), 0));
	cr_assert(eq(u64, m.virt, 0x00401000u));
	cr_assert(eq(u64, m.phys, 0x00123000u));
	cr_assert(eq(sz, m.size, PAGE_SIZE));
	cr_assert(eq(u32, m.flags, VMM_PRESENT | VMM_WRITABLE));
	cr_assert(eq(int, vmm_lookup(&vmm, 0x00402000u, &m), -MIO_ENOENT));
}

Test(vmm, hardware_accessed_and_dirty_bits_are_not_flags, .init = setup, .fini = teardown)
{
	struct vmm_mapping m;

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	/* What the CPU does on a write through each. */
	vmm_sim_frame(&sim, pde_table_phys(pde_at(0x00401000u)))[1] |= PTE_A | PTE_D;
	vmm_sim_frame(&sim, vmm_directory_phys(&vmm))[3] |= PTE_A | PTE_D;
	vmm_check(&vmm);
	cr_assert(eq(int, vmm_lookup(&vmm, 0x00401000u, &m), 0));
	cr_assert(eq(u32, m.flags, VMM_PRESENT | VMM_WRITABLE));
	cr_assert(eq(int, vmm_lookup(&vmm, 0x00C00000u, &m), 0));
	cr_assert(eq(u32, m.flags, VMM_PRESENT | VMM_WRITABLE));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C00000u), 0));
	assert_no_leak();
}

/* ==== invlpg and the TLB ==== */

Test(vmm, unmap_issues_invlpg_for_both_page_sizes, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00402000u, 0x00124000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	vmm_sim_clear_log(&sim);

	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00401000u), 1));
	cr_assert(eq(u32, pte_at(0x00401000u), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C00000u), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00C00000u), 1));
	cr_assert(eq(u32, pde_at(0x00C00000u), 0));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00401000u), VMM_PHYS_NONE));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00C00000u), VMM_PHYS_NONE));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00402000u), 0), "no flush of what stays");
}

Test(vmm, mapping_a_fresh_page_needs_no_invlpg, .init = setup, .fini = teardown)
{
	vmm_sim_clear_log(&sim);
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00401000u), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00C00000u), 0));
}

/* The sim's TLB keeps a translation until invlpg: a remap is only seen if the VMM flushed. */
Test(vmm, remap_is_seen_through_the_tlb, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00402000u, 0x00124000u, RW), 0)); /* keeps the table */
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00401010u), 0x00123010u)); /* now cached */
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00401010u), VMM_PHYS_NONE), "unmapped page faults");
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00777000u, RW), 0));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00401010u), 0x00777010u));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00401000u), 1));

	/* The same with a 4 MiB page remapped to another frame. */
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00D00000u), 0x07100000u));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C00000u), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x09000000u, RW), 0));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00D00000u), 0x09100000u));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00C00000u), 1));
}

/* ==== page tables come and go ==== */

Test(vmm, emptied_table_goes_back_to_the_frame_source, .init = setup, .fini = teardown)
{
	phys_addr_t table;

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00402000u, 0x00124000u, RW), 0));
	table = pde_table_phys(pde_at(0x00401000u));
	cr_assert(eq(sz, sim.frames_out, 2));
	vmm_sim_clear_log(&sim);

	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	cr_assert(eq(sz, sim.frames_out, 2), "one page left: the table stays");
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00402000u), 0));
	cr_assert(eq(sz, sim.frames_out, 1));
	cr_assert(eq(sz, sim.frees, 1));
	cr_assert(not(vmm_sim_frame_allocated(&sim, table)));
	cr_assert(eq(u32, pde_at(0x00400000u), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, VMM_TABLE_WINDOW + 1 * PAGE_SIZE), 1),
		  "the table's window page is flushed");
	assert_no_leak();
}

/*
 * A slot's table freed and a new one built in its place, then the old frame
 * reused elsewhere: through the window both are reached correctly (the sim
 * aborts on a stale window translation).
 */
Test(vmm, table_slots_and_frames_are_reused_through_the_window, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x01400000u, 0x1000u, RW), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x01400000u), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x01401000u, 0x2000u, RW), 0)); /* same slot, frame reused */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x02000000u, 0x3000u, RW), 0)); /* another slot */
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x01401000u), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x03000000u, 0x4000u, RW), 0)); /* gets the freed frame */
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x02000000u), 0x3000u));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x03000000u), 0x4000u));
	/* A 4 MiB page, then a table in the same slot. */
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x04000000u, 0x08000000u, RW), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x04000000u), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, VMM_TABLE_WINDOW + 16 * PAGE_SIZE), 1));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x04000000u, 0x5000u, RW), 0));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x04000000u), 0x5000u));
	assert_no_leak();
}

Test(vmm, tables_built_before_paging_work_after, .init = setup_before_paging, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00800000u, 8 * MiB + 8 * KiB, RW), 0));
	cr_assert(eq(sz, sim.cr3_loads, 0), "vmm_init loads nothing");
	vmm_activate(&vmm);
	vmm_sim_paging_on(&sim);
	cr_assert(eq(sz, sim.cr3_loads, 1));
	cr_assert(eq(u64, sim.cr3, vmm_directory_phys(&vmm)));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00401234u), 0x00123234u));
	cr_assert(eq(u64, vmm_sim_access(&sim, 0x00A00000u), 0x00A00000u));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x01001000u), 0x01001000u));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00800000u, 8 * MiB + 8 * KiB), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	assert_no_leak();
	cr_assert(eq(sz, sim.frames_out, 1));
}

/* ==== errors: misaligned, malformed ==== */

Test(vmm_errors, misaligned_virt_or_phys, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401001u, 0x00123000u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123800u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00401000u, 0x00800000u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x00801000u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401001u), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00401000u, 0x1000u, 0x1800u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00401000u, 0x1000u, 0, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00401800u, 0x1000u, 0x1000u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00401000u, 0x1800u, 0x1000u, RW), -MIO_EINVAL));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00401000u, 0x800u), -MIO_EINVAL));
	cr_assert(eq(sz, sim.frames_out, 1), "nothing was built");
	cr_assert(eq(sz, vmm_check(&vmm), 0));
}

Test(vmm_errors, unknown_flags_and_addresses_past_4gib, .init = setup, .fini = teardown)
{
	struct vmm_mapping m;

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x1000u, PTE_PS), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x1000u, PTE_A), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x1000u, 1u << 9), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00400000u, 0, PTE_D), -MIO_EINVAL));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00400000u, 0, PAGE_SIZE, 1u << 12), -MIO_EINVAL));
	if (sizeof(virt_addr_t) > 4) { /* only a host can even say these */
		virt_addr_t far = (virt_addr_t)(4 * GiB);
		cr_assert(eq(int, vmm_map_page(&vmm, far, 0x1000u, RW), -MIO_EINVAL));
		cr_assert(eq(int, vmm_map_page_4mib(&vmm, far, 0, RW), -MIO_EINVAL));
		cr_assert(eq(int, vmm_unmap_page(&vmm, far), -MIO_EINVAL));
		cr_assert(eq(int, vmm_lookup(&vmm, far, &m), -MIO_EINVAL));
		cr_assert(eq(int, vmm_map_range(&vmm, far - PAGE_SIZE, 0, 2 * PAGE_SIZE, 0), -MIO_EINVAL));
		/* virt + size wraps past 2^64 to a small end: still a range past 4 GiB. */
		virt_addr_t near_top = (virt_addr_t)0 - 2 * PAGE_SIZE;
		size_t wrapping = (size_t)0 - PAGE_SIZE;
		cr_assert(eq(int, vmm_map_range(&vmm, near_top, 0x5000u, 5 * PAGE_SIZE, RW), -MIO_EINVAL));
		cr_assert(eq(int, vmm_unmap_range(&vmm, PAGE_SIZE, wrapping), -MIO_EINVAL));
		cr_assert(eq(int, vmm_protect(&vmm, PAGE_SIZE, wrapping), -MIO_EINVAL));
		cr_assert(eq(int, vmm_map_protected(&vmm, near_top, 0x5000u, 5 * PAGE_SIZE, RW),
			     -MIO_EINVAL));
		cr_assert(eq(sz, vmm.protected_count, 0));
		vmm_check(&vmm);
	}
	cr_assert(eq(int, vmm_map_range(&vmm, 0xFFFFF000u, 0, (size_t)2 * PAGE_SIZE, 0), -MIO_EINVAL),
		  "a range may not wrap past 4 GiB");
}

/* ==== errors: overlaps ==== */

Test(vmm_errors, mapping_over_a_mapping, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00999000u, 0), -MIO_EEXIST));
	cr_assert(eq(u32, pte_at(0x00401000u), 0x00123000u | PTE_P | PTE_W), "left as it was");
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x08000000u, RW), -MIO_EEXIST));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00C00000u), 0x07000000u));
	assert_no_leak();
}

Test(vmm_errors, large_page_over_a_table_and_small_page_inside_a_large_one, .init = setup,
     .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00400000u, 0x07000000u, RW), -MIO_EEXIST));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00C00000u, 0x1000u, RW), -MIO_EEXIST));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00FFF000u, 0x1000u, RW), -MIO_EEXIST));
	cr_assert(eq(u32, pde_at(0x00C00000u), 0x07000000u | PTE_PS | PTE_P | PTE_W));
	assert_no_leak();
}

Test(vmm_errors, unmapping_what_is_not_mapped, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), -MIO_ENOENT), "no table there");
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00402000u), -MIO_ENOENT), "table, no entry");
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00401000u), -MIO_ENOENT), "twice");
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C01000u), -MIO_EINVAL),
		  "inside a 4 MiB page: not its first address");
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C00000u), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00C00000u), -MIO_ENOENT));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00C00000u, 8 * KiB), -MIO_ENOENT));
	assert_no_leak();
}

/* ==== errors: the reserved top and protected ranges ==== */

Test(vmm_errors, recursive_and_scratch_slots_are_refused, .init = setup, .fini = teardown)
{
	static const uint32_t top[] = { VMM_TABLE_WINDOW, VMM_DIRECTORY_WINDOW,
					VMM_TABLE_WINDOW + 5 * PAGE_SIZE, VMM_RESERVED_BASE,
					0xFFBFF000u };
	struct vmm_mapping m;

	for (unsigned i = 0; i < ARRAY_SIZE(top); i++) {
		cr_assert(eq(int, vmm_map_page(&vmm, top[i], 0x1000u, RW), -MIO_EPERM));
		cr_assert(eq(int, vmm_unmap_page(&vmm, top[i]), -MIO_EPERM));
		cr_assert(eq(int, vmm_lookup(&vmm, top[i], &m), -MIO_EPERM));
		cr_assert(eq(u64, vmm_virt_to_phys(&vmm, top[i]), VMM_PHYS_NONE));
		cr_assert(not(vmm_page_mapped(&vmm, top[i])));
		cr_assert(eq(int, vmm_unmap_range(&vmm, top[i], PAGE_SIZE), -MIO_EPERM));
	}
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, VMM_TABLE_WINDOW, 0, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, VMM_RESERVED_BASE, 0, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_unmap_page(&vmm, VMM_TABLE_WINDOW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_range(&vmm, 0xFF700000u, 0, 2 * MiB, RW), -MIO_EPERM),
		  "a range running into the reserved top");
	cr_assert(eq(int, vmm_map_page(&vmm, 0xFF7FF000u, 0x1000u, RW), 0), "just below is fine");
	cr_assert(eq(int, vmm_protect(&vmm, 0xFF7FF000u, 2 * PAGE_SIZE), -MIO_EPERM));
	vmm_check(&vmm);
}

Test(vmm_errors, the_kernel_identity_map_is_protected, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x00100000u, 0x00100000u, 3 * MiB, RW | VMM_GLOBAL),
		     0));
	/* Readable through the API... */
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00234567u), 0x00234567u));
	cr_assert(vmm_page_mapped(&vmm, 0x00100000u));
	/* ...but never changed through it. */
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00200000u), -MIO_EPERM));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x003FF000u), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00200000u, 0x1000u, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00000000u, 0, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x000FF000u, 0xFF000u, 8 * KiB, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00100000u, 3 * MiB), -MIO_EPERM));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00200000u), 0x00200000u), "still there");
	/* Right next to it, in the same page table, is fair game. */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x000FF000u, 0x1000u, RW), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x000FF000u), 0));
	assert_no_leak();
}

Test(vmm_errors, a_protected_hole_stays_unmapped, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_protect(&vmm, 0, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0, 0x1000u, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_range(&vmm, 0, 0, 8 * MiB, RW), -MIO_EPERM));
	cr_assert(eq(int, vmm_map_page(&vmm, PAGE_SIZE, 0x1000u, RW), 0));
	cr_assert(not(vmm_page_mapped(&vmm, 0)));
	cr_assert(eq(int, vmm_protect(&vmm, 0, 0), -MIO_EINVAL));
	cr_assert(eq(int, vmm_protect(&vmm, 0x800u, PAGE_SIZE), -MIO_EINVAL));
}

Test(vmm_errors, a_large_page_partly_protected_later_stays, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00400000u, 0x00400000u, RW), 0));
	cr_assert(eq(int, vmm_protect(&vmm, 0x00401000u, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_unmap_page(&vmm, 0x00400000u), -MIO_EPERM));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00400000u, 4 * MiB), -MIO_EPERM));
	cr_assert(vmm_page_mapped(&vmm, 0x00401000u));
}

Test(vmm_errors, protected_ranges_never_overlap, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_protect(&vmm, 0, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x00100000u, 0x00100000u, 1 * MiB, RW), 0));
	/* Neither call may reach into a range already protected... */
	cr_assert(eq(int, vmm_map_protected(&vmm, 0, 0, 2 * PAGE_SIZE, RW), -MIO_EPERM),
		  "mapping over the protected hole at NULL");
	cr_assert(not(vmm_page_mapped(&vmm, 0)));
	cr_assert(not(vmm_page_mapped(&vmm, PAGE_SIZE)), "nothing of it mapped");
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x001FF000u, 0x001FF000u, 2 * PAGE_SIZE, RW),
		     -MIO_EPERM), "overlapping the end of the protected map");
	cr_assert(eq(int, vmm_protect(&vmm, 0x00180000u, PAGE_SIZE), -MIO_EPERM));
	cr_assert(eq(int, vmm_protect(&vmm, 0, PAGE_SIZE), -MIO_EPERM), "not even twice the same");
	cr_assert(eq(sz, vmm.protected_count, 2));
	/* ...but may sit right beside one. */
	cr_assert(eq(int, vmm_protect(&vmm, PAGE_SIZE, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x00200000u, 0x00200000u, PAGE_SIZE, RW), 0));
	vmm_check(&vmm);
	assert_no_leak();
}

Test(vmm_errors, protected_ranges_run_out, .init = setup, .fini = teardown)
{
	for (unsigned i = 0; i < VMM_PROTECTED_MAX; i++)
		cr_assert(eq(int, vmm_protect(&vmm, (virt_addr_t)i * 2 * PAGE_SIZE, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_protect(&vmm, 0x10000000u, PAGE_SIZE), -MIO_ENOMEM));
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x10000000u, 0x10000000u, PAGE_SIZE, RW),
		     -MIO_ENOMEM));
	cr_assert(not(vmm_page_mapped(&vmm, 0x10000000u)), "checked before mapping anything");
	assert_no_leak();
}

Test(vmm_errors, a_protected_map_that_fails_protects_nothing, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00200000u, 0x1000u, RW), 0));
	cr_assert(eq(int, vmm_map_protected(&vmm, 0x00100000u, 0x00100000u, 2 * MiB, RW),
		     -MIO_EEXIST));
	cr_assert(eq(sz, vmm.protected_count, 0));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00100000u)), "rolled back");
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00100000u, 0x1000u, RW), 0), "and not protected");
	cr_assert(eq(int, vmm_map_protected(&vmm, 0xFF000000u, 0xFF000000u, 16 * MiB, RW),
		     -MIO_EPERM), "the reserved top stays the VMM's own");
	assert_no_leak();
}

/* ==== errors: physical addresses and CPU features ==== */

Test(vmm_errors, phys_above_4gib_with_pse36, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x100000000ull, RW), -MIO_EINVAL),
		  "a 4 KiB entry holds 32 address bits");
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0xFFFFF000ull, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x100000000ull, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x1000000000ull, RW), -MIO_ENOTSUP),
		  "2^36 is past this CPU's MAXPHYADDR");
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x10000000000ull, RW), -MIO_EINVAL),
		  "2^40 is past what the entry can hold");
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01000000u, 0x100001000ull, PAGE_SIZE, RW),
		     -MIO_EINVAL), "a range that needs a 4 KiB page above 4 GiB");
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01000000u, 0x100400000ull, 8 * MiB, RW), 0),
		  "4 MiB pages above 4 GiB");
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x01400010u), 0x100800010ull));
	assert_no_leak();
}

Test(vmm_errors, phys_at_exactly_4gib_is_malformed_before_the_address_is_forbidden, .init = setup,
     .fini = teardown)
{
	/* 4 GiB is the first frame a 4 KiB entry cannot hold: -MIO_EINVAL comes before -MIO_EPERM. */
	cr_assert(eq(int, vmm_protect(&vmm, 0x00400000u, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00400000u, 4 * GiB, RW), -MIO_EINVAL),
		  "in a protected range");
	cr_assert(eq(int, vmm_map_page(&vmm, VMM_RESERVED_BASE, 4 * GiB, RW), -MIO_EINVAL),
		  "in the reserved top");
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00801000u, 4 * GiB, RW), -MIO_EINVAL));
	cr_assert(eq(sz, sim.frames_out, 1), "nothing was built");
}

Test(vmm_errors, small_pages_from_exactly_4gib_leave_no_table_behind, .init = setup,
     .fini = teardown)
{
	/* virt is not 4 MiB aligned, so the range helper tries 4 KiB pages from 4 GiB itself. */
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01001000u, 4 * GiB, 2 * PAGE_SIZE, RW), -MIO_EINVAL));
	cr_assert(not(vmm_page_mapped(&vmm, 0x01001000u)));
	cr_assert(eq(u32, pde_at(0x01000000u), 0), "no page table was left in the slot");
	assert_no_leak();
}

Test(vmm_errors, range_whose_phys_crosses_4gib_rolls_back, .init = setup, .fini = teardown)
{
	/* Two pages fit below 4 GiB, the third would need a 33rd address bit. */
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01000000u, 0xFFFFE000ull, 3 * PAGE_SIZE, RW),
		     -MIO_EINVAL));
	cr_assert(not(vmm_page_mapped(&vmm, 0x01000000u)));
	cr_assert(eq(sz, sim.frames_out, 1));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01000000u, 0xFFFFE000ull, 2 * PAGE_SIZE, RW), 0));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x01001FFFu), 0xFFFFFFFFull));
	assert_no_leak();
}

Test(vmm_errors, phys_above_4gib_without_pse36, .init = setup_pse_only, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x100000000ull, RW), -MIO_ENOTSUP));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0xFFC00000ull, RW), 0));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x01000000u, 0x100000000ull, 4 * MiB, RW),
		     -MIO_ENOTSUP));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x100000000ull, RW), -MIO_EINVAL));
	assert_no_leak();
}

Test(vmm_errors, no_large_pages_without_pse, .init = setup_no_pse, .fini = teardown)
{
	struct vmm_mapping m;

	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x00800000u, RW), -MIO_ENOTSUP));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00801000u, 0x00800000u, RW), -MIO_EINVAL),
		  "malformed is reported before unsupported");
	/* The range helper falls back to 4 KiB pages everywhere. */
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00800000u, 8 * MiB, RW), 0));
	cr_assert(eq(int, vmm_lookup(&vmm, 0x00800000u, &m), 0));
	cr_assert(eq(sz, m.size, PAGE_SIZE));
	cr_assert(eq(sz, vmm_check(&vmm), 2));
	assert_no_leak();
}

/* ==== errors: out of frames, and rollback ==== */

Test(vmm_errors, out_of_frames_for_a_table, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	vmm_sim_fail_after(&sim, 0);
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00801000u, 0x00123000u, RW), -MIO_ENOMEM));
	cr_assert(eq(u32, pde_at(0x00800000u), 0), "nothing half-built");
	cr_assert(not(vmm_page_mapped(&vmm, 0x00801000u)));
	cr_assert(eq(sz, sim.failed_allocs, 1));
	/* Where a table exists no frame is needed. */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00402000u, 0x00124000u, RW), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0x00800000u, RW), 0));
	assert_no_leak();
}

Test(vmm_errors, range_rolls_back_when_frames_run_out, .init = setup, .fini = teardown)
{
	size_t before;

	/* One page already in the first slot: its table must survive the rollback. */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00400000u, 0x1000u, RW), 0));
	before = sim.frames_out;
	vmm_sim_fail_after(&sim, 2);
	vmm_sim_clear_log(&sim);
	/* 4 KiB pages only (phys is not 4 MiB aligned) over four slots: needs 3 new tables. */
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00401000u, 0x00002000u, 16 * MiB - PAGE_SIZE, RW),
		     -MIO_ENOMEM));
	cr_assert(eq(sz, sim.allocs, 1 + 1 + 2), "directory, first table, then two more");
	cr_assert(eq(sz, sim.frames_out, before), "every table it built is back");
	cr_assert(not(vmm_page_mapped(&vmm, 0x00401000u)));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00C00000u)));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00400000u), 0x1000u));
	cr_assert(eq(sz, vmm_check(&vmm), 1));
	assert_no_leak();
}

Test(vmm_errors, range_rolls_back_on_a_mapping_in_the_way, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x01005000u, 0x1000u, RW), 0));
	/* 4 MiB, 4 MiB, then 4 KiB pages until 0x01005000, which is taken. */
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00800000u, 10 * MiB, RW), -MIO_EEXIST));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00800000u)));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00C00000u)));
	cr_assert(not(vmm_page_mapped(&vmm, 0x01004000u)));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x01005000u), 0x1000u), "the page in the way stays");
	cr_assert(eq(sz, vmm_check(&vmm), 1));
	assert_no_leak();
}

Test(vmm_errors, init_failures)
{
	struct vmm_sim s;
	struct vmm v;
	struct vmm_config cfg;

	vmm_sim_init(&s, 4, SIM_RAM_BASE);
	cfg = vmm_sim_config(&s, (struct vmm_caps){ .pse = false, .pse36 = true, .phys_bits = 36 });
	cr_assert(eq(int, vmm_init(&v, &cfg), -MIO_EINVAL), "PSE-36 without PSE");
	cfg.caps = (struct vmm_caps){ .pse = true, .pse36 = true, .phys_bits = 41 };
	cr_assert(eq(int, vmm_init(&v, &cfg), -MIO_EINVAL), "more than 40 bits");
	cfg.caps = (struct vmm_caps){ .pse = true, .phys_bits = 36 };
	cr_assert(eq(int, vmm_init(&v, &cfg), -MIO_EINVAL), "high bits without PSE-36");
	cfg.caps = caps_full;
	vmm_sim_fail_after(&s, 0);
	cr_assert(eq(int, vmm_init(&v, &cfg), -MIO_ENOMEM));
	cr_assert(eq(sz, s.frames_out, 0));
	vmm_sim_destroy(&s);
}

Test(vmm_errors, init_without_a_machine_or_a_frame_source_panics)
{
	struct vmm_sim s;
	struct vmm v;
	struct vmm_config cfg;

	vmm_sim_init(&s, 4, SIM_RAM_BASE);
	cfg = vmm_sim_config(&s, caps_full);
	cfg.frames = NULL;
	ASSERT_PANICS((vmm_init(&v, &cfg)));
	cfg = vmm_sim_config(&s, caps_full);
	cfg.machine = NULL;
	ASSERT_PANICS((vmm_init(&v, &cfg)));
	cr_assert(eq(sz, s.frames_out, 0));
	vmm_sim_destroy(&s);
}

Test(vmm, init_accepts_pse36_with_32_to_40_physical_bits)
{
	static const unsigned widths[] = { 32, 36, 40 };

	for (unsigned i = 0; i < ARRAY_SIZE(widths); i++) {
		struct vmm_sim s;
		struct vmm v;
		struct vmm_config cfg;

		vmm_sim_init(&s, 4, SIM_RAM_BASE);
		cfg = vmm_sim_config(&s, (struct vmm_caps){ .pse = true, .pse36 = true,
							     .phys_bits = widths[i] });
		cr_assert(eq(int, vmm_init(&v, &cfg), 0), "PSE-36 with %u bits", widths[i]);
		cr_assert(eq(sz, vmm_check(&v), 0));
		vmm_sim_destroy(&s);
	}
}

/* ==== the range helper's page sizes ==== */

static size_t size_at(uint32_t va)
{
	struct vmm_mapping m;
	cr_assert(eq(int, vmm_lookup(&vmm, va, &m), 0), "0x%08x not mapped", va);
	return m.size;
}

Test(vmm_range, large_pages_where_alignment_allows, .init = setup, .fini = teardown)
{
	/* 2 x 4 KiB up to the 4 MiB line, 2 x 4 MiB, then 3 x 4 KiB. */
	uint32_t va = 0x00C00000u - 8 * KiB;
	phys_addr_t pa = 0x10000000u - 8 * KiB;
	size_t size = 8 * KiB + 8 * MiB + 12 * KiB;

	cr_assert(eq(int, vmm_map_range(&vmm, va, pa, size, RW), 0));
	cr_assert(eq(sz, size_at(0x00BFE000u), PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x00BFF000u), PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x00C00000u), LARGE_PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x01000000u), LARGE_PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x01400000u), PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x01402000u), PAGE_SIZE));
	cr_assert(not(vmm_page_mapped(&vmm, 0x01403000u)));
	cr_assert(not(vmm_page_mapped(&vmm, 0x00BFD000u)));
	for (uint64_t off = 0; off < size; off += PAGE_SIZE)
		cr_assert(eq(u64, vmm_virt_to_phys(&vmm, va + off + 0x10), pa + off + 0x10));
	cr_assert(eq(sz, vmm_check(&vmm), 2), "tables only for the 4 KiB ends");

	vmm_sim_clear_log(&sim);
	cr_assert(eq(int, vmm_unmap_range(&vmm, va, size), 0));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00BFE000u), 1));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x00C00000u), 1));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x01000000u), 1));
	cr_assert(eq(sz, vmm_sim_invlpg_count(&sim, 0x01402000u), 1));
	cr_assert(eq(sz, sim.frames_out, 1));
	assert_no_leak();
}

Test(vmm_range, small_pages_when_virt_and_phys_disagree, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00801000u, 8 * MiB, RW), 0));
	cr_assert(eq(sz, size_at(0x00800000u), PAGE_SIZE));
	cr_assert(eq(sz, size_at(0x00C00000u), PAGE_SIZE));
	cr_assert(eq(u64, vmm_virt_to_phys(&vmm, 0x00FFFFFFu), 0x01000FFFu));
	cr_assert(eq(sz, vmm_check(&vmm), 2));
}

Test(vmm_range, a_whole_slot_over_a_mapping_collides, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00BFF000u, 0x1000u, RW), 0));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00800000u, 4 * MiB, RW), -MIO_EEXIST));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x00C00000u, RW), 0));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00C00000u, 0x00C01000u, 4 * MiB, RW), -MIO_EEXIST),
		  "4 KiB pages into a 4 MiB one");
	cr_assert(eq(sz, vmm_check(&vmm), 1));
	assert_no_leak();
}

Test(vmm_range, unmap_range_checks_everything_first, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00800000u, 0x00800000u, 8 * MiB, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x01000000u, 0x1000u, RW), 0));
	vmm_sim_clear_log(&sim);
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00800000u, 8 * MiB + 8 * KiB), -MIO_ENOENT),
		  "0x01001000 is a hole");
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00800000u, 6 * MiB), -MIO_EINVAL),
		  "the second 4 MiB page sticks out");
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00A00000u, 2 * MiB), -MIO_EINVAL),
		  "starts inside a 4 MiB page");
	cr_assert(eq(sz, sim.invlpg_total, 0), "nothing changed");
	cr_assert(vmm_page_mapped(&vmm, 0x00800000u));
	cr_assert(eq(int, vmm_unmap_range(&vmm, 0x00800000u, 8 * MiB + 4 * KiB), 0));
	cr_assert(eq(sz, sim.frames_out, 1));
}

/* ==== the invariant walker catches corruption ==== */

Test(vmm_check, catches_a_wrong_count, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	vmm_sim_frame(&sim, pde_table_phys(pde_at(0x00401000u)))[7] = 0x9000u | PTE_P;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 1 has 2 entries but counts 1"));
}

Test(vmm_check, catches_junk_in_absent_entries_and_stray_bits, .init = setup, .fini = teardown)
{
	uint32_t *pt;

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	pt = vmm_sim_frame(&sim, pde_table_phys(pde_at(0x00401000u)));
	pt[9] = 0xA5A5A5A4u;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: 0x00409000: absent entry 0xa5a5a5a4 is not zero"));
	pt[9] = 0;
	pt[1] |= PTE_PAT;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: 0x00401000: entry 0x00123083 has stray bits"));
}

Test(vmm_check, catches_malformed_or_overlapping_protected_ranges, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_protect(&vmm, 0, PAGE_SIZE), 0));
	cr_assert(eq(int, vmm_protect(&vmm, 0x00400000u, 2 * PAGE_SIZE), 0));
	vmm_check(&vmm);
	vmm.protected_ranges[1].start = 0; /* now covers page 0 as well */
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: protected ranges 0 and 1 overlap"));
	vmm.protected_ranges[1] = (struct vmm_range){ 0x00402000u, 0x00400000u };
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: protected range 1 [0x402000, 0x400000) is malformed"));
}

Test(vmm_check, catches_broken_special_slots, .init = setup_before_paging, .fini = teardown)
{
	uint32_t *pd = vmm_sim_frame(&sim, vmm_directory_phys(&vmm));

	pd[VMM_SCRATCH_PDX] = 0x1003u;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: scratch slot left holding 0x00001003"));
	pd[VMM_SCRATCH_PDX] = 0;
	pd[VMM_RECURSIVE_PDX] |= PTE_U;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(int, strncmp(host_panic_message, "vmm_check: recursive slot holds", 31), 0));
	pd[VMM_RECURSIVE_PDX] &= ~PTE_U;
	pd[5] = pde_make_large(0x100000000ull, PTE_P) | PDE_LARGE_RESERVED;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 5: 4 MiB entry 0x00202081 has stray bits"));
	pd[5] = pde_make_large(0x1000000000ull, PTE_P); /* 2^36: past 36 bits */
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: slot 5 maps 0x1000000000 beyond 36 physical bits"));
}

Test(vmm_check, catches_bad_directory_entries, .init = setup_before_paging, .fini = teardown)
{
	uint32_t *pd = vmm_sim_frame(&sim, vmm_directory_phys(&vmm));

	pd[7] = 0x00000002u; /* not present, but not zero either */
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: empty slot 7 holds 0x00000002, counts 0"));
	pd[7] = 0;
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	pd[1] &= ~PTE_U;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: slot 1: table entry 0x02001003 has the wrong flags"));
	pd[1] |= PTE_U;
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00800000u, 0, RW), 0));
	vmm.table_live[2] = 3;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: slot 2 is a 4 MiB page but counts 3 entries"));
}

Test(vmm_check, catches_a_large_page_without_pse, .init = setup_no_pse, .fini = teardown)
{
	vmm_sim_frame(&sim, vmm_directory_phys(&vmm))[2] = pde_make_large(0, PTE_P);
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 2 holds a 4 MiB page without PSE"));
}

Test(vmm_check, catches_an_empty_table_and_a_shared_one, .init = setup_before_paging,
     .fini = teardown)
{
	uint32_t *pd = vmm_sim_frame(&sim, vmm_directory_phys(&vmm));

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x00123000u, RW), 0));
	pd[2] = pd[1];
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 2 has 1 entries but counts 0"));
	vmm.table_live[2] = 1;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slots 1 and 2 share a table"));
	pd[2] = 0;
	vmm.table_live[2] = 0;
	vmm_sim_frame(&sim, pde_table_phys(pd[1]))[1] = 0;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 1 keeps an empty page table"));
}

Test(vmm_check, catches_a_table_shared_with_slot_0, .init = setup_before_paging, .fini = teardown)
{
	uint32_t *pd = vmm_sim_frame(&sim, vmm_directory_phys(&vmm));

	cr_assert(eq(int, vmm_map_page(&vmm, 0x00001000u, 0x00123000u, RW), 0));
	pd[2] = pd[0];
	vmm.table_live[2] = 1;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slots 0 and 2 share a table"));
}

Test(vmm_check, catches_a_slot_that_uses_the_directory_as_its_table, .init = setup_before_paging,
     .fini = teardown)
{
	uint32_t *pd = vmm_sim_frame(&sim, vmm_directory_phys(&vmm));

	pd[3] = pde_make_table(vmm_directory_phys(&vmm), PTE_P | PTE_W | PTE_U);
	vmm.table_live[3] = 2; /* the directory's present entries: slot 3 and the recursive slot */
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message, "vmm_check: slot 3 uses the directory's frame as a table"));
}

Test(vmm_check, catches_an_empty_protected_range, .init = setup, .fini = teardown)
{
	cr_assert(eq(int, vmm_protect(&vmm, 0x00400000u, PAGE_SIZE), 0));
	vmm_check(&vmm);
	vmm.protected_ranges[0].end = vmm.protected_ranges[0].start;
	ASSERT_PANICS((vmm_check(&vmm)));
	cr_assert(eq(str, host_panic_message,
		     "vmm_check: protected range 0 [0x400000, 0x400000) is malformed"));
}

Test(vmm_check, a_bad_frame_from_the_frame_source_panics)
{
	struct vmm_sim s;
	struct vmm v;
	struct vmm_config cfg;

	vmm_sim_init(&s, 4, 0x100000000ull); /* "RAM" above 4 GiB: unusable for tables */
	cfg = vmm_sim_config(&s, caps_full);
	ASSERT_PANICS((vmm_init(&v, &cfg)));
	cr_assert(eq(str, host_panic_message,
		     "vmm: frame source gave 0x100000000, not a 4 KiB frame below 4 GiB"));
	vmm_sim_destroy(&s);
}

/* ==== walking, printing, the kernel's wrappers ==== */

struct collected {
	struct vmm_mapping m[8];
	size_t n;
};

static void collect(const struct vmm_mapping *m, void *arg)
{
	struct collected *c = arg;
	cr_assert(lt(sz, c->n, ARRAY_SIZE(c->m)));
	c->m[c->n++] = *m;
}

Test(vmm, walk_reports_every_mapping_in_order, .init = setup, .fini = teardown)
{
	struct collected c = { .n = 0 };

	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00C00000u, 0x07000000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00402000u, 0x2000u, VMM_USER), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x00401000u, 0x1000u, RW), 0));
	vmm_walk(&vmm, collect, &c);
	cr_assert(eq(sz, c.n, 3));
	cr_assert(eq(u64, c.m[0].virt, 0x00401000u));
	cr_assert(eq(u64, c.m[1].virt, 0x00402000u));
	cr_assert(eq(u32, c.m[1].flags, VMM_PRESENT | VMM_USER));
	cr_assert(eq(u64, c.m[2].virt, 0x00C00000u));
	cr_assert(eq(u64, c.m[2].phys, 0x07000000u));
	cr_assert(eq(sz, c.m[2].size, LARGE_PAGE_SIZE));
}

Test(vmm, print_merges_runs, .init = setup, .fini = teardown)
{
	char out[1024];

	cr_assert(eq(int, vmm_map_protected(&vmm, 0x00001000u, 0x00001000u, 0x3FF000u, RW | VMM_GLOBAL),
		     0));
	cr_assert(eq(int, vmm_map_range(&vmm, 0x00400000u, 0x00400000u, 8 * MiB, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x10000000u, 0xB8000u, RW | VMM_CACHE_DISABLE), 0));
	host_console_capture(out, sizeof(out));
	vmm_print(&vmm);
	host_console_release();
	cr_assert(eq(str, out,
		     "vmm: page directory at 0x2000000, 1 protected range(s); mappings:\n"
		     "vmm:   virt 0x00001000-0x003fffff -> phys 0x000001000  1023 x 4 KiB writable global\n"
		     "vmm:   virt 0x00400000-0x00bfffff -> phys 0x000400000  2 x 4 MiB writable\n"
		     "vmm:   virt 0x10000000-0x10000fff -> phys 0x0000b8000  1 x 4 KiB writable uncached\n"));
}

Test(vmm, print_splits_runs_where_flags_or_page_size_change, .init = setup, .fini = teardown)
{
	char out[1024];
	const char *mappings;

	/* Contiguous in virt and phys throughout: first the flags change, then the page size. */
	cr_assert(eq(int, vmm_map_page(&vmm, 0x003FE000u, 0x003FE000u, RW), 0));
	cr_assert(eq(int, vmm_map_page(&vmm, 0x003FF000u, 0x003FF000u, 0), 0));
	cr_assert(eq(int, vmm_map_page_4mib(&vmm, 0x00400000u, 0x00400000u, 0), 0));
	host_console_capture(out, sizeof(out));
	vmm_print(&vmm);
	host_console_release();
	mappings = strchr(out, '\n'); /* past the header line */
	cr_assert(not(eq(ptr, (void *)mappings, NULL)));
	cr_assert(eq(str, (char *)mappings + 1,
		     "vmm:   virt 0x003fe000-0x003fefff -> phys 0x0003fe000  1 x 4 KiB writable\n"
		     "vmm:   virt 0x003ff000-0x003fffff -> phys 0x0003ff000  1 x 4 KiB read-only\n"
		     "vmm:   virt 0x00400000-0x007fffff -> phys 0x000400000  1 x 4 MiB read-only\n"));
}

Test(vmm, kernel_wrappers_reach_the_kernel_instance)
{
	struct vmm_config cfg;

	vmm_sim_init(&sim, 8, SIM_RAM_BASE);
	cfg = vmm_sim_config(&sim, caps_full);
	cr_assert(eq(int, vmm_init(&kernel_vmm, &cfg), 0));
	vmm_activate(&kernel_vmm);
	vmm_sim_paging_on(&sim);
	cr_assert(eq(int, vmm_alloc_page(0x00401000u, 0x00123000u, RW), 0));
	cr_assert(eq(int, vmm_alloc_page_4mib(0x00800000u, 0x00800000u, RW), 0));
	cr_assert(eq(u64, vmm_translate(0x00401abcu), 0x00123abcu));
	cr_assert(eq(u64, vmm_translate(0x00812345u), 0x00812345u));
	cr_assert(vmm_is_mapped(0x00401000u));
	cr_assert(eq(int, vmm_alloc_page(0x00401000u, 0x1000u, RW), -MIO_EEXIST));
	cr_assert(eq(int, vmm_free_page(0x00401000u), 0));
	cr_assert(not(vmm_is_mapped(0x00401000u)));
	cr_assert(eq(u64, vmm_translate(0x00401000u), VMM_PHYS_NONE));
	cr_assert(eq(int, vmm_free_page(0x00800000u), 0));
	cr_assert(eq(int, vmm_free_page(0x00800000u), -MIO_ENOENT));
	cr_assert(eq(int, vmm_alloc_range(0x01000000u, 0x01000000u, 4 * MiB + 4 * KiB, RW), 0));
	cr_assert(eq(int, vmm_free_range(0x01000000u, 4 * MiB + 4 * KiB), 0));
	cr_assert(eq(sz, sim.frames_out, 1));
	vmm_sim_destroy(&sim);
}
