/* The kernel heap's boot-time placement: checked against the loader's map, then built. */
#include "kernel/kheap_init.h"

#include "lib/panic.h"
#include "mm/heap.h"

/* Where map entry e ends; an entry whose end would pass 2^64 runs to the top. */
static phys_addr_t entry_end(const struct boot_mmap_entry *e)
{
	return e->base + e->length < e->base ? UINT64_MAX : e->base + e->length;
}

/* The end of an available map entry covering addr, or 0 when none covers it. */
static phys_addr_t available_run_from(const struct boot_info *info, phys_addr_t addr)
{
	phys_addr_t best = 0;
	for (size_t i = 0; i < info->mmap_count; i++) {
		const struct boot_mmap_entry *e = &info->mmap[i];
		phys_addr_t end = entry_end(e);
		if (e->type == MEMMAP_AVAILABLE && e->base <= addr && addr < end && end > best)
			best = end;
	}
	return best;
}

void kheap_check_placement(const struct boot_info *info, phys_addr_t start, uint64_t size)
{
	phys_addr_t end = start + size;

	if (size == 0 || end < start || end > ((phys_addr_t)1 << 32))
		panic("kheap: heap [0x%llx-0x%llx) must be non-empty and below 4 GiB", start, end);
	/* Walk from start through available entries; adjacent entries may share the job. */
	for (phys_addr_t at = start; at < end;) {
		phys_addr_t run_end = available_run_from(info, at);
		if (run_end == 0)
			panic("kheap: heap [0x%llx-0x%llx) is not inside available RAM: 0x%llx is not "
			      "available in the loader's memory map", start, end, at);
		at = run_end;
	}
	/* Loaders may report overlapping entries: anything not available wins. */
	for (size_t i = 0; i < info->mmap_count; i++) {
		const struct boot_mmap_entry *e = &info->mmap[i];
		if (e->type != MEMMAP_AVAILABLE && ranges_overlap(start, end, e->base, entry_end(e)))
			panic("kheap: heap [0x%llx-0x%llx) overlaps %s memory [0x%llx-0x%llx)", start,
			      end, memmap_type_name(e->type), e->base, entry_end(e));
	}
	if (ranges_overlap(start, end, kernel_phys_start(), kernel_phys_end()))
		panic("kheap: heap [0x%llx-0x%llx) overlaps the kernel image [0x%llx-0x%llx)", start,
		      end, kernel_phys_start(), kernel_phys_end());
	for (size_t i = 0; i < info->loader_range_count; i++) {
		const struct boot_range *r = &info->loader_ranges[i];
		if (ranges_overlap(start, end, r->start, r->end))
			panic("kheap: heap [0x%llx-0x%llx) overlaps loader data (%s) [0x%llx-0x%llx)",
			      start, end, r->what, r->start, r->end);
	}
}

void kheap_init(const struct boot_info *info)
{
	struct heap_stats st;

	kheap_check_placement(info, KHEAP_PHYS_START, KHEAP_PHYS_SIZE);
	/* Paging is off: the physical range is its own address. */
	kheap_attach((void *)(uintptr_t)KHEAP_PHYS_START, (size_t)KHEAP_PHYS_SIZE);
	kheap_stats(&st);
	/* Block boundaries live in the metadata; debug builds add a header for the red-zone check. */
	kprintf("kheap: [mem 0x%016llx-0x%016llx] %llu KiB: %zu KiB of blocks, %zu bytes of "
		"metadata, %zu-byte block headers%s\n",
		KHEAP_PHYS_START, KHEAP_PHYS_START + KHEAP_PHYS_SIZE - 1, KHEAP_PHYS_SIZE / 1024,
		st.arena_bytes / 1024, st.metadata_bytes, st.header_bytes,
		KHEAP_DEBUG ? " (debug), red zones and poison on" : "");
}
