/*
 * Bringing up the kernel's physical memory manager (kernel_pmm, mm/pmm.h)
 * from what the loader handed over: the sanitised memory map, metadata
 * carved out of RAM above the heap, and every range that must never be
 * handed out reserved before the first allocation.
 */
#ifndef MIO_KERNEL_PMM_BOOT_H
#define MIO_KERNEL_PMM_BOOT_H

#include "lib/types.h"
#include "mm/memmap.h"

/*
 * Sets up kernel_pmm and logs its regions and reservations. Call once, after
 * boot_info_parse() and before anything allocates frames. Never maps
 * memory: paging may be off or on, as long as the metadata's frames (below)
 * are reachable at their physical address.
 * Panics when the map has no usable memory above the kernel's physical base,
 * or no room below 4 GiB for the PMM's metadata.
 */
void pmm_boot_init(void);

/*
 * Where the PMM's metadata lives: [start, end), page-aligned, below 4 GiB,
 * used through pointers equal to its physical address. The VMM must map it
 * at that address (identity) before it turns paging on.
 */
phys_addr_t pmm_boot_metadata_start(void);
phys_addr_t pmm_boot_metadata_end(void);

/* The usable RAM the PMM was built from (memmap_usable() of the loader's map). */
size_t pmm_boot_usable(const struct memmap_range **ranges);

#endif
