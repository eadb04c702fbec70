/*
 * The console on the real machine: what typed commands may and may not do
 * to the kernel's own memory. Each refusal is checked twice: the command
 * fails, and what it would have damaged is still intact. (The scripted
 * session in tests/console/ checks the words; this checks the memory.)
 */
#include "kernel/console.h"
#include "kernel/ktest.h"
#include "lib/kprintf.h"
#include "mm/heap.h"
#include "mm/paging.h"
#include "mm/pmm.h"
#include "mm/vmm.h"
#include "tests/kernel/kt_vmm.h"

/* Runs one console line, built like printf, and returns its result. */
__attribute__((format(printf, 1, 2))) static int type(const char *fmt, ...)
{
	static char line[96];
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	kprintf("ktest console> %s\n", line);
	return console_execute(line);
}

/* The physical address of the page table behind virt (which lies under one). */
static phys_addr_t table_behind(virt_addr_t virt)
{
	const pde_t *pd = (const pde_t *)(uintptr_t)VMM_DIRECTORY_WINDOW;
	return pde_table_phys(pd[virt >> LARGE_PAGE_SHIFT]);
}

KTEST(console_never_frees_or_maps_writable_a_page_table)
{
	/* The table behind the kernel's first 4 MiB: page 0 and the read-only text need one. */
	phys_addr_t table = table_behind(0x100000);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_ASSERT(table != 0);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, table), PMM_FRAME_RUN_START);

	KT_EXPECT(type("free 0x%llx", table) < 0);
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, table), PMM_FRAME_RUN_START);
	KT_EXPECT(type("map 0x%x 0x%llx", (unsigned)va, table) < 0);
	KT_EXPECT(!vmm_is_mapped(va));
	/* Read-only is harmless: it may look. */
	KT_EXPECT_EQ(type("map 0x%x 0x%llx ro", (unsigned)va, table), 0);
	KT_EXPECT_EQ(vmm_translate(va), table);
	KT_EXPECT_EQ(type("unmap 0x%x", (unsigned)va), 0);
	/* The identity-mapped table itself, and the VMM's window onto it. */
	uint32_t before = *(volatile uint32_t *)(uintptr_t)table;
	KT_EXPECT(type("write 0x%llx 0", table) < 0);
	KT_EXPECT(type("write 0x%x 0", VMM_DIRECTORY_WINDOW) < 0);
	KT_EXPECT(type("write 0x%x 0", VMM_DIRECTORY_WINDOW + 4 * VMM_RECURSIVE_PDX) < 0);
	KT_EXPECT_EQ(*(volatile uint32_t *)(uintptr_t)table, before);
	KT_EXPECT(vmm_is_mapped(0x100000));
	vmm_check(&kernel_vmm);
	pmm_check(&kernel_pmm);
}

KTEST(console_frames_from_alloc_are_the_persons_own)
{
	struct pmm_stats before, after;
	pmm_stats(&kernel_pmm, &before, NULL, 0);
	/* First fit is deterministic: alloc's run lands where a run of 2 taken and given back did. */
	void *probe = pmm_alloc_frame(2);
	KT_ASSERT(probe != NULL);
	pmm_free_frame(probe);
	KT_ASSERT_EQ(type("alloc 2"), 0);
	phys_addr_t run = (phys_addr_t)(uintptr_t)probe;
	KT_EXPECT_EQ(pmm_frame_state(&kernel_pmm, run), PMM_FRAME_RUN_START);
	KT_ASSERT(run != 0);
	virt_addr_t va = free_va(PAGE_SIZE, PAGE_SIZE);
	KT_EXPECT_EQ(type("write 0x%llx 0x12345678", run + PAGE_SIZE + 4), 0);
	KT_EXPECT_EQ(*(volatile uint32_t *)(uintptr_t)(run + PAGE_SIZE + 4), 0x12345678u);
	KT_EXPECT_EQ(type("map 0x%x 0x%llx", (unsigned)va, run), 0);
	KT_EXPECT_EQ(type("unmap 0x%x", (unsigned)va), 0);
	KT_EXPECT_EQ(type("free 0x%llx", run), 0);
	pmm_stats(&kernel_pmm, &after, NULL, 0);
	KT_EXPECT_EQ(after.free, before.free);
	/* Freed, it is no longer the person's: writes to it are refused again. */
	KT_EXPECT(type("write 0x%llx 0", run + PAGE_SIZE + 4) < 0);
}

KTEST(console_kfree_of_a_damaged_block_reports_and_carries_on)
{
	uint8_t *p = kmalloc(100);
	KT_ASSERT(p != NULL);
	uint32_t saved;
	__builtin_memcpy(&saved, p + 100, sizeof(saved));
	/* A write into the heap's arena is allowed: the heap's checks are the point. */
	KT_ASSERT_EQ(type("write 0x%x 0x41414141", (unsigned)(uintptr_t)(p + 100)), 0);
#if KHEAP_DEBUG
	KT_EXPECT(type("kfree 0x%x", (unsigned)(uintptr_t)p) < 0);
	/* Still here: the check after the refusal reported the damage instead of halting. */
	__builtin_memcpy(p + 100, &saved, sizeof(saved));
	kheap_check();
	KT_EXPECT_EQ(type("kfree 0x%x", (unsigned)(uintptr_t)p), 0);
#else
	/* No red zone: bytes 100..111 are the block's rounding, the caller's to spoil. */
	(void)saved;
	KT_EXPECT_EQ(type("kfree 0x%x", (unsigned)(uintptr_t)p), 0);
#endif
	kheap_check();
}
