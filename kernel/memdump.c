#include "kernel/memdump.h"

#include "kernel/boot.h"
#include "kernel/pmm_boot.h"
#include "lib/kprintf.h"
#include "lib/string.h"
#include "mm/heap.h"
#include "mm/pmm.h"
#include "mm/vmm.h"

static void zone(phys_addr_t start, phys_addr_t end, const char *kind, const char *label)
{
	kprintf("memdump: zone 0x%llx 0x%llx %s%s%s\n", start, end, kind, label ? " " : "",
		label ? label : "");
}

static void allocated_run(phys_addr_t start, phys_addr_t end, enum pmm_frame_state st, void *arg)
{
	(void)arg;
	if (st == PMM_FRAME_RUN_START)
		kprintf("memdump: frames 0x%llx 0x%llx\n", start, end);
}

/* The page directory and every page table's frame, read through the recursive slot. */
static void page_table_zones(void)
{
	const pde_t *pd = (const pde_t *)(uintptr_t)VMM_DIRECTORY_WINDOW;
	phys_addr_t dir = vmm_directory_phys(&kernel_vmm);

	zone(dir, dir + PAGE_SIZE, "pagetables", "directory");
	for (unsigned i = 0; i < VMM_SCRATCH_PDX; i++) {
		if (pde_is_table(pd[i]))
			zone(pde_table_phys(pd[i]), pde_table_phys(pd[i]) + PAGE_SIZE, "pagetables",
			     NULL);
	}
}

static void heap_block(void *start, size_t bytes, bool used, void *arg)
{
	(void)arg;
	kprintf("memdump: heapblock 0x%llx 0x%llx %s\n", (phys_addr_t)(uintptr_t)start,
		(phys_addr_t)(uintptr_t)start + bytes, used ? "used" : "free");
}

void memdump_print(void)
{
	kprintf("memdump: begin\n");
	for (size_t i = 0; i < boot_info.mmap_count; i++) {
		const struct boot_mmap_entry *e = &boot_info.mmap[i];
		phys_addr_t end = e->base + e->length < e->base ? UINT64_MAX : e->base + e->length;
		kprintf("memdump: ram 0x%llx 0x%llx %s\n", e->base, end, memmap_type_name(e->type));
	}
	zone(kernel_phys_start(), kernel_phys_end(), "kernel", NULL);
	zone(KERNEL_PHYS_BASE + KHEAP_OFFSET, KERNEL_PHYS_BASE + KHEAP_OFFSET + KHEAP_SIZE, "heap",
	     NULL);
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		bool module = strcmp(r->what, "module") == 0;
		zone(r->start, r->end, module ? "module" : "loader", r->what);
	}
	zone(pmm_boot_metadata_start(), pmm_boot_metadata_end(), "pmm", "metadata");
	page_table_zones();
	pmm_walk_runs(&kernel_pmm, allocated_run, NULL);
	heap_walk(kheap_instance(), heap_block, NULL);
	kprintf("memdump: end\n");
}
