/*
 * The VMM on real paging hardware (QEMU's MMU): what only a CPU walking our
 * tables can prove. Each test takes its frames from the PMM and its virtual
 * addresses from the free ranges the boot left, and gives both back.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/trap.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/pmm_boot.h"
#include "kernel/recover.h"
#include "kernel/vmm_boot.h"
#include "lib/kprintf.h"
#include "lib/string.h"
#include "mm/pmm.h"
#include "mm/vmm.h"
#include "tests/kernel/kt_pmm.h"
#include "tests/kernel/kt_vmm.h"

static uint32_t *frame_ptr(phys_addr_t frame) /* identity-mapped: its address is its pointer */
{
	return (uint32_t *)(uintptr_t)frame;
}

/* Reads a word through va; for run_catching. */
static volatile uint32_t sink;
static void read_word(void *va)
{
	sink = *(volatile uint32_t *)va;
}
static void write_word(void *va)
{
	*(volatile uint32_t *)va = 0x600dbeef;
}

static struct pmm_stats pmm_now(void)
{
	struct pmm_stats s;
	pmm_stats(&kernel_pmm, &s, NULL, 0);
	return s;
}

KTEST(identity_map_covers_the_kernel_heap_pmm_loader_data_and_usable_ram)
{
	const struct memmap_range *usable;
	size_t n = pmm_boot_usable(&usable);
	phys_addr_t probes[] = {
		kernel_phys_start(), kernel_phys_end() - 1,
		KERNEL_PHYS_BASE + KHEAP_OFFSET, KERNEL_PHYS_BASE + KHEAP_OFFSET + KHEAP_SIZE - 1,
		pmm_boot_metadata_start(), pmm_boot_metadata_end() - 1,
	};
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		KT_EXPECT_EQ(vmm_translate((virt_addr_t)probes[i]), probes[i]);
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		KT_EXPECT_EQ(vmm_translate((virt_addr_t)r->start), r->start);
		KT_EXPECT_EQ(vmm_translate((virt_addr_t)(r->end - 1)), r->end - 1);
	}
	for (size_t i = 0; i < n && usable[i].start < ((phys_addr_t)1 << 32); i++) {
		phys_addr_t first = MAX(usable[i].start, (phys_addr_t)PAGE_SIZE);
		KT_EXPECT_EQ(vmm_translate((virt_addr_t)first), first);
		KT_EXPECT_EQ(vmm_translate((virt_addr_t)(usable[i].end - 1)), usable[i].end - 1);
	}
	/* Text is read-only, data writable. */
	struct vmm_mapping m;
	KT_ASSERT_EQ(vmm_lookup(&kernel_vmm, (virt_addr_t)kernel_phys_start(), &m), 0);
	KT_EXPECT_EQ(m.flags & VMM_WRITABLE, 0);
	KT_ASSERT_EQ(vmm_lookup(&kernel_vmm, (virt_addr_t)&sink, &m), 0);
	KT_EXPECT(m.flags & VMM_WRITABLE);
}

KTEST(frames_from_the_pmm_stay_usable_as_pointers)
{
	uint32_t *frame = pmm_alloc_frame(3);
	KT_ASSERT(frame != NULL);
	for (size_t i = 0; i < 3 * PAGE_SIZE / sizeof(uint32_t); i += 97)
		frame[i] = (uint32_t)i * 2654435761u;
	for (size_t i = 0; i < 3 * PAGE_SIZE / sizeof(uint32_t); i += 97)
		KT_EXPECT_EQ(frame[i], (uint32_t)i * 2654435761u);
	KT_EXPECT_EQ(vmm_translate((virt_addr_t)frame), (phys_addr_t)(uintptr_t)frame);
	pmm_free_frame(frame);
}

KTEST(a_fresh_frame_maps_reads_and_writes)
{
	phys_addr_t frame = (uintptr_t)pmm_alloc_frame(1);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_ASSERT(frame != 0 && va != 0);
	frame_ptr(frame)[5] = 0x12345678;

	KT_ASSERT_EQ(vmm_alloc_page(va, frame, VMM_WRITABLE), 0);
	KT_EXPECT(vmm_is_mapped(va));
	KT_EXPECT_EQ(vmm_translate(va + 0x14), frame + 0x14);
	volatile uint32_t *p = (volatile uint32_t *)va;
	KT_EXPECT_EQ(p[5], 0x12345678);          /* the frame's contents show through */
	p[6] = 0xcafef00d;                       /* and a write lands in the frame */
	KT_EXPECT_EQ(frame_ptr(frame)[6], 0xcafef00d);

	/* The entry itself, read through the recursive slot as the CPU reads it. */
	const pte_t *pt = (const pte_t *)(uintptr_t)(VMM_TABLE_WINDOW + pdx(va) * PAGE_SIZE);
	KT_EXPECT_EQ(pt[ptx(va)] & ~(PTE_A | PTE_D), (uint32_t)frame | PTE_P | PTE_W);
	KT_EXPECT(pt[ptx(va)] & PTE_D); /* the CPU marked the page dirty */

	KT_EXPECT_EQ(vmm_free_page(va), 0);
	pmm_free_frame(frame_ptr(frame));
}

KTEST(an_unmapped_page_faults_with_cr2_at_the_address)
{
	phys_addr_t frame = (uintptr_t)pmm_alloc_frame(1);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	struct trap_record rec;
	KT_ASSERT(frame != 0 && va != 0);
	KT_ASSERT_EQ(vmm_alloc_page(va, frame, VMM_WRITABLE), 0);
	read_word((void *)(va + 8)); /* cached in the TLB now */
	KT_ASSERT_EQ(vmm_free_page(va), 0);
	KT_EXPECT(!vmm_is_mapped(va));

	KT_ASSERT_EQ(run_catching(read_word, (void *)(va + 8), &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_PF);
	KT_EXPECT_EQ(rec.cr2, va + 8);
	KT_EXPECT_EQ(rec.error_code & (PF_ERR_PRESENT | PF_ERR_WRITE | PF_ERR_USER), 0);

	KT_ASSERT_EQ(run_catching(write_word, (void *)va, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.cr2, va);
	KT_EXPECT_EQ(rec.error_code & (PF_ERR_PRESENT | PF_ERR_WRITE), PF_ERR_WRITE);
	KT_EXPECT_EQ(vmm_free_page(va), -MIO_ENOENT);
	pmm_free_frame(frame_ptr(frame));
}

KTEST(remapping_a_page_shows_the_new_frame)
{
	uint32_t *a = pmm_alloc_frame(1), *b = pmm_alloc_frame(1);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_ASSERT(a && b && va);
	a[0] = 0xaaaaaaaa;
	b[0] = 0xbbbbbbbb;

	KT_ASSERT_EQ(vmm_alloc_page(va, (uintptr_t)a, VMM_WRITABLE), 0);
	KT_EXPECT_EQ(*(volatile uint32_t *)va, 0xaaaaaaaa); /* now in the TLB */
	KT_ASSERT_EQ(vmm_free_page(va), 0);
	KT_ASSERT_EQ(vmm_alloc_page(va, (uintptr_t)b, VMM_WRITABLE), 0);
	/* Without the invlpg in vmm_free_page the stale translation would still read a. */
	KT_EXPECT_EQ(*(volatile uint32_t *)va, 0xbbbbbbbb);
	KT_EXPECT_EQ(vmm_translate(va), (phys_addr_t)(uintptr_t)b);
	KT_EXPECT_EQ(vmm_free_page(va), 0);
	pmm_free_frame(a);
	pmm_free_frame(b);
}

KTEST(a_4mib_page_maps_and_translates)
{
	phys_addr_t run;
	virt_addr_t va = free_va(LARGE_PAGE_SIZE, LARGE_PAGE_SIZE);
	KT_ASSERT(va != 0);
	int rc = pmm_alloc_phys(&kernel_pmm, 1024, LARGE_PAGE_SIZE, PMM_LIMIT_4GIB, &run);
	if (kt_rightly_out_of_room(rc, 1024, LARGE_PAGE_SIZE, PMM_LIMIT_4GIB))
		return;
	KT_ASSERT_EQ(rc, 0);
	const size_t off = 0x123454; /* somewhere deep inside, word-aligned */
	frame_ptr(run)[off / 4] = 0x4d1b4d1b;

	if (!kernel_vmm.cfg.caps.pse) { /* make test boots -cpu qemu32,-pse for this */
		size_t tables = vmm_check(&kernel_vmm);
		KT_EXPECT_EQ(vmm_alloc_page_4mib(va, run, VMM_WRITABLE), -MIO_ENOTSUP);
		KT_EXPECT(!vmm_is_mapped(va) && !vmm_is_mapped(va + off));
		KT_EXPECT_EQ(vmm_check(&kernel_vmm), tables);
		pmm_free_phys(&kernel_pmm, run);
		return;
	}
	KT_ASSERT_EQ(vmm_alloc_page_4mib(va, run, VMM_WRITABLE), 0);
	KT_EXPECT_EQ(vmm_translate(va + off + 1), run + off + 1);
	KT_EXPECT_EQ(vmm_translate(va + LARGE_PAGE_SIZE - 1), run + LARGE_PAGE_SIZE - 1);
	KT_EXPECT_EQ(*(volatile uint32_t *)(va + off), 0x4d1b4d1b);
	*(volatile uint32_t *)(va + LARGE_PAGE_SIZE - 4) = 0x1a57;
	KT_EXPECT_EQ(frame_ptr(run)[(LARGE_PAGE_SIZE - 4) / 4], 0x1a57);
	const pde_t *pd = (const pde_t *)(uintptr_t)VMM_DIRECTORY_WINDOW;
	KT_EXPECT(pde_is_large(pd[pdx(va)]));
	/* A 4 KiB mapping inside it is refused; so is a second 4 MiB one. */
	KT_EXPECT_EQ(vmm_alloc_page(va + PAGE_SIZE, run, 0), -MIO_EEXIST);
	KT_EXPECT_EQ(vmm_alloc_page_4mib(va, run, 0), -MIO_EEXIST);

	KT_ASSERT_EQ(vmm_free_page(va), 0);
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(read_word, (void *)(va + off), &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.cr2, va + off);
	pmm_free_phys(&kernel_pmm, run);
}

KTEST(a_null_dereference_faults)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(read_word, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_PF);
	KT_EXPECT_EQ(rec.cr2, 0);
	KT_EXPECT_EQ(rec.error_code & PF_ERR_PRESENT, 0);
	KT_ASSERT_EQ(run_catching(write_word, (void *)0xffc, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.cr2, 0xffc);
	KT_EXPECT(!vmm_is_mapped(0));
}

KTEST(a_write_to_a_read_only_page_faults_with_wp)
{
	uint32_t *frame = pmm_alloc_frame(1);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	struct trap_record rec;
	KT_ASSERT(frame && va);
	frame[1] = 77;
	KT_ASSERT_EQ(vmm_alloc_page(va, (uintptr_t)frame, 0), 0); /* not VMM_WRITABLE */
	KT_EXPECT_EQ(run_catching(read_word, (void *)(va + 4), &rec), TRAP_NONE);
	KT_EXPECT_EQ(sink, 77);
	KT_ASSERT_EQ(run_catching(write_word, (void *)(va + 4), &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_PF);
	KT_EXPECT_EQ(rec.cr2, va + 4);
	KT_EXPECT_EQ(rec.error_code & (PF_ERR_PRESENT | PF_ERR_WRITE | PF_ERR_USER),
		     PF_ERR_PRESENT | PF_ERR_WRITE); /* a protection fault, in kernel mode */
	KT_EXPECT_EQ(frame[1], 77);
	KT_EXPECT_EQ(vmm_free_page(va), 0);
	pmm_free_frame(frame);

	/* The kernel's own text is read-only too. */
	KT_ASSERT_EQ(run_catching(write_word, (void *)(uintptr_t)kernel_phys_start(), &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.cr2, kernel_phys_start());
}

KTEST(the_api_refuses_the_identity_map_page_0_and_the_vmm_slots)
{
	virt_addr_t kernel = (virt_addr_t)kernel_phys_start();
	virt_addr_t heap = KERNEL_PHYS_BASE + KHEAP_OFFSET;
	KT_EXPECT_EQ(vmm_alloc_page(kernel, 0x1000, VMM_WRITABLE), -MIO_EPERM);
	KT_EXPECT_EQ(vmm_free_page(heap), -MIO_EPERM);
	KT_EXPECT_EQ(vmm_free_page(0), -MIO_EPERM);
	KT_EXPECT_EQ(vmm_alloc_page(0, 0x1000, 0), -MIO_EPERM);
	KT_EXPECT_EQ(vmm_alloc_page(VMM_TABLE_WINDOW, 0x1000, 0), -MIO_EPERM);
	KT_EXPECT_EQ(vmm_free_page(VMM_DIRECTORY_WINDOW), -MIO_EPERM);
	/* Without PSE every 4 MiB request is refused as such first (see vmm_map_page_4mib). */
	KT_EXPECT_EQ(vmm_alloc_page_4mib(VMM_RESERVED_BASE, 0, 0),
		     kernel_vmm.cfg.caps.pse ? -MIO_EPERM : -MIO_ENOTSUP);
	KT_EXPECT_EQ(vmm_translate(VMM_DIRECTORY_WINDOW), VMM_PHYS_NONE);
	/* Misaligned or unmapped input is an error, never a crash. */
	virt_addr_t va = free_va(LARGE_PAGE_SIZE, LARGE_PAGE_SIZE);
	KT_ASSERT(va != 0);
	KT_EXPECT_EQ(vmm_alloc_page(va + 1, 0x1000, 0), -MIO_EINVAL);
	KT_EXPECT_EQ(vmm_alloc_page(va, 0x1001, 0), -MIO_EINVAL);
	KT_EXPECT_EQ(vmm_alloc_page_4mib(va + PAGE_SIZE, 0, 0), -MIO_EINVAL);
	KT_EXPECT_EQ(vmm_free_page(va), -MIO_ENOENT);
}

KTEST(a_page_table_goes_back_to_the_pmm_when_empty)
{
	virt_addr_t va = free_va(LARGE_PAGE_SIZE, LARGE_PAGE_SIZE); /* a slot with no table yet */
	uint32_t *frame = pmm_alloc_frame(1);
	KT_ASSERT(va && frame);
	struct pmm_stats before = pmm_now();
	size_t tables = vmm_check(&kernel_vmm);

	KT_ASSERT_EQ(vmm_alloc_page(va + 5 * PAGE_SIZE, (uintptr_t)frame, VMM_WRITABLE), 0);
	KT_EXPECT_EQ(pmm_now().allocated, before.allocated + 1); /* the new page table */
	KT_EXPECT_EQ(vmm_check(&kernel_vmm), tables + 1);
	KT_ASSERT_EQ(vmm_free_page(va + 5 * PAGE_SIZE), 0);
	KT_EXPECT_EQ(pmm_now().allocated, before.allocated);
	KT_EXPECT_EQ(vmm_check(&kernel_vmm), tables);
	pmm_free_frame(frame);
}

KTEST(a_range_uses_4mib_pages_where_aligned)
{
	phys_addr_t run;
	virt_addr_t va = free_va(3 * LARGE_PAGE_SIZE, LARGE_PAGE_SIZE);
	KT_ASSERT(va != 0);
	int rc = pmm_alloc_phys(&kernel_pmm, 2048, LARGE_PAGE_SIZE, PMM_LIMIT_4GIB, &run);
	if (kt_rightly_out_of_room(rc, 2048, LARGE_PAGE_SIZE, PMM_LIMIT_4GIB))
		return;
	KT_ASSERT_EQ(rc, 0);
	/*
	 * 8 MiB + 8 KiB from a 4 MiB-aligned start: two large pages and two
	 * small ones; without PSE, 2050 small ones.
	 */
	size_t size = 2 * LARGE_PAGE_SIZE + 2 * PAGE_SIZE;
	KT_ASSERT_EQ(vmm_alloc_range(va, run, size, VMM_WRITABLE), 0);
	struct vmm_mapping m;
	KT_ASSERT_EQ(vmm_lookup(&kernel_vmm, va + LARGE_PAGE_SIZE, &m), 0);
	KT_EXPECT_EQ(m.size, kernel_vmm.cfg.caps.pse ? LARGE_PAGE_SIZE : PAGE_SIZE);
	KT_EXPECT_EQ(vmm_translate(va + LARGE_PAGE_SIZE + 5 * PAGE_SIZE + 3),
		     run + LARGE_PAGE_SIZE + 5 * PAGE_SIZE + 3);
	KT_ASSERT_EQ(vmm_lookup(&kernel_vmm, va + 2 * LARGE_PAGE_SIZE + PAGE_SIZE, &m), 0);
	KT_EXPECT_EQ(m.size, PAGE_SIZE);
	*(volatile uint32_t *)(va + 2 * LARGE_PAGE_SIZE + PAGE_SIZE) = 0xf00;
	KT_EXPECT_EQ(vmm_free_range(va, size), 0);
	KT_EXPECT(!vmm_is_mapped(va) && !vmm_is_mapped(va + 2 * LARGE_PAGE_SIZE));
	pmm_free_phys(&kernel_pmm, run);
}

/*
 * Memory above 4 GiB through a 4 MiB page: with PSE-36 (make test boots
 * -cpu qemu32,+pse36 -m 5G for this) a pattern written through the page
 * reads back; without it the VMM refuses the mapping.
 */
KTEST(a_frame_above_4gib_maps_through_a_4mib_page_with_pse36)
{
	virt_addr_t va = free_va(LARGE_PAGE_SIZE, LARGE_PAGE_SIZE);
	phys_addr_t run;
	KT_ASSERT(va != 0);
	if (pmm_alloc_phys_range(&kernel_pmm, 1024, LARGE_PAGE_SIZE, PMM_LIMIT_4GIB, PMM_LIMIT_NONE,
				 &run) != 0) {
		/* No RAM above 4 GiB: the entry format still must not accept it without PSE-36. */
		int want = kernel_vmm.cfg.caps.pse36 ? 0 : -MIO_ENOTSUP;
		KT_EXPECT_EQ(vmm_alloc_page_4mib(va, (phys_addr_t)1 << 32, VMM_WRITABLE), want);
		if (want == 0)
			KT_EXPECT_EQ(vmm_free_page(va), 0); /* mapped, never touched: there is no RAM */
		return;
	}
	KT_EXPECT(run >= ((phys_addr_t)1 << 32));
	if (!kernel_vmm.cfg.caps.pse36) {
		KT_EXPECT_EQ(vmm_alloc_page_4mib(va, run, VMM_WRITABLE), -MIO_ENOTSUP);
		KT_EXPECT_EQ(vmm_alloc_page(va, run, VMM_WRITABLE), -MIO_EINVAL);
		pmm_free_phys(&kernel_pmm, run);
		return;
	}
	KT_ASSERT_EQ(vmm_alloc_page_4mib(va, run, VMM_WRITABLE), 0);
	KT_EXPECT_EQ(vmm_translate(va + 0x2345), run + 0x2345);
	volatile uint32_t *p = (volatile uint32_t *)va;
	for (uint32_t i = 0; i < LARGE_PAGE_SIZE / 4; i += 4093)
		p[i] = i ^ 0x5eed5eed;
	bool same = true;
	for (uint32_t i = 0; i < LARGE_PAGE_SIZE / 4; i += 4093)
		same &= p[i] == (i ^ 0x5eed5eed);
	KT_EXPECT(same);
	/* Read through a second mapping of the same frames: the data is in that RAM. */
	virt_addr_t va2 = va + LARGE_PAGE_SIZE;
	if (!vmm_is_mapped(va2) && vmm_alloc_page_4mib(va2, run, 0) == 0) {
		KT_EXPECT_EQ(*(volatile uint32_t *)(va2 + 4093 * 4), 4093u ^ 0x5eed5eed);
		KT_EXPECT_EQ(vmm_free_page(va2), 0);
	}
	kprintf("     pattern written and read back at phys 0x%llx through a 4 MiB page at %p\n",
		run, (void *)va);
	KT_EXPECT_EQ(vmm_free_page(va), 0);
	pmm_free_phys(&kernel_pmm, run);
}

/* ---- the boot stack's guard page ---- */

static void read_guard(void *arg)
{
	(void)arg;
	sink = *(volatile uint32_t *)(uintptr_t)kernel_stack_guard();
}

KTEST(the_page_below_the_stack_is_an_unmapped_guard)
{
	virt_addr_t guard = (virt_addr_t)kernel_stack_guard();
	struct trap_record rec;
	KT_EXPECT(!vmm_is_mapped(guard));
	KT_ASSERT_EQ(run_catching(read_guard, NULL, &rec), TRAP_FAULT);
	KT_EXPECT_EQ(rec.vector, X86_VEC_PF);
	KT_EXPECT_EQ(rec.cr2, guard);
	/* Nobody maps it by accident either. */
	KT_EXPECT_EQ(vmm_alloc_page(guard, guard, VMM_WRITABLE), -MIO_EPERM);
}

static volatile uint32_t overflow_depth;

__attribute__((noinline)) static void recurse_until_the_stack_runs_out(void *arg)
{
	volatile uint8_t frame[512];
	frame[0] = (uint8_t)overflow_depth++;
	if (overflow_depth < 100000) /* 16 KiB of stack ends long before */
		recurse_until_the_stack_runs_out(arg);
	frame[1] = frame[0]; /* work after the call: no tail call to turn into a loop */
}

KTEST(a_kernel_stack_overflow_is_a_double_fault_on_its_own_stack)
{
	uint32_t guard = (uint32_t)kernel_stack_guard();
	/* Twice: the double-fault task must be ready again after the first. */
	for (int round = 0; round < 2; round++) {
		struct trap_record rec;
		overflow_depth = 0;
		KT_ASSERT_EQ(run_catching(recurse_until_the_stack_runs_out, NULL, &rec), TRAP_FAULT);
		KT_EXPECT_EQ(rec.vector, X86_VEC_DF);
		/* It stopped at the guard: nothing below the guard page was written. */
		KT_EXPECT(rec.esp >= guard && rec.esp <= guard + PAGE_SIZE + 64);
		KT_EXPECT(overflow_depth > 8 && overflow_depth < 100000);
	}
}
