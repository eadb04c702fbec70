/*
 * Turning paging on at boot: the kernel's address space (kernel_vmm,
 * mm/vmm.h) with everything the kernel needs identity-mapped.
 *
 * Identity map (virtual = physical), all global, protected from the public
 * vmm_* API:
 *   - every usable RAM range below 4 GiB in the sanitised map, page 0 excepted,
 *     with 4 MiB pages where alignment allows: so the kernel, its stack, the
 *     heap, the PMM's metadata, the page tables' frames and every frame that
 *     pmm_alloc_frame() returns stay usable through their address;
 *   - every range of loader data (Multiboot info, memory map, command line,
 *     modules), even where the map does not call it usable;
 *   - the kernel's text and rodata read-only, the rest writable.
 * Page 0 stays unmapped (and protected), so a NULL dereference faults.
 * Everything else below 0xFF800000 is free for vmm_alloc_page() callers:
 * vmm_boot_free_ranges() lists it and the boot log prints it. The top
 * 8 MiB belong to the VMM (scratch and recursive slots).
 */
#ifndef MIO_KERNEL_VMM_BOOT_H
#define MIO_KERNEL_VMM_BOOT_H

#include "mm/vmm.h"

/* The most disjoint pieces the identity map may take (mm/vmm.h allows 32 protected ranges). */
#define VMM_BOOT_MAX_PIECES 24

/*
 * Builds kernel_vmm with page tables from kernel_pmm, identity-maps what the
 * kernel needs, turns paging on (CR4.PSE/PGE, CR3, CR0.PG|WP) and logs the
 * mappings. Call once, after pmm_boot_init(). Panics with the VMM's error
 * when a mapping fails (out of frames, too many map pieces).
 */
void vmm_boot_init(void);

/*
 * Fills out[0..cap) with the virtual ranges vmm_alloc_page() callers may use
 * ([start, end), ascending) and returns how many there are (possibly more
 * than cap).
 */
size_t vmm_boot_free_ranges(struct vmm_range *out, size_t cap);

#endif
