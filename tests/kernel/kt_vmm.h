/* For kernel tests that need virtual addresses nothing maps. */
#ifndef MIO_TESTS_KERNEL_KT_VMM_H
#define MIO_TESTS_KERNEL_KT_VMM_H

#include "kernel/vmm_boot.h"
#include "mm/vmm.h"

/*
 * The lowest virtual address at or above 4 MiB, aligned to align, with
 * `size` bytes free after it (0 when there is none). Free means outside the
 * identity map and the VMM's own slots, and not mapped by an earlier test.
 */
static inline virt_addr_t free_va(size_t size, size_t align)
{
	struct vmm_range r[VMM_BOOT_MAX_PIECES + 2];
	size_t n = MIN(vmm_boot_free_ranges(r, ARRAY_SIZE(r)), ARRAY_SIZE(r));

	for (size_t i = 0; i < n; i++) {
		uint64_t start = ALIGN_UP(MAX(r[i].start, (uint64_t)4 << 20), (uint64_t)align);
		if (start + size > r[i].end)
			continue;
		/* Skip what an earlier test may still hold: every page of the slot unmapped. */
		bool clear = true;
		for (uint64_t a = start; a < start + size && clear; a += PAGE_SIZE)
			clear = !vmm_is_mapped((virt_addr_t)a);
		if (clear)
			return (virt_addr_t)start;
	}
	return 0;
}

#endif
