/*
 * kernel_pmm at boot: sanitise the loader's map, find the PMM's metadata a
 * home, initialise, reserve. Runs with paging off: physical addresses below
 * 4 GiB are pointers.
 */
#include "kernel/pmm_boot.h"

#include "kernel/boot.h"
#include "lib/panic.h"
#include "mm/pmm.h"

#define HEAP_START ((phys_addr_t)KERNEL_PHYS_BASE + KHEAP_OFFSET)
#define HEAP_END (HEAP_START + KHEAP_SIZE)

static struct memmap_range usable[BOOT_MMAP_MAX + 1];
static size_t usable_count;
static phys_addr_t metadata_start, metadata_end;

phys_addr_t pmm_boot_metadata_start(void) { return metadata_start; }
phys_addr_t pmm_boot_metadata_end(void) { return metadata_end; }

size_t pmm_boot_usable(const struct memmap_range **ranges)
{
	*ranges = usable;
	return usable_count;
}

/* Everything the metadata must not land on: the kernel, the heap, the loader's data. */
static size_t collect_taken(struct memmap_range *out)
{
	size_t n = 0;
	out[n++] = (struct memmap_range){ kernel_phys_start(), kernel_phys_end() };
	out[n++] = (struct memmap_range){ HEAP_START, HEAP_END };
	for (size_t i = 0; i < boot_info.loader_range_count; i++)
		out[n++] = (struct memmap_range){ boot_info.loader_ranges[i].start,
						  boot_info.loader_ranges[i].end };
	return n;
}

/* The lowest fit above the heap and below 4 GiB, clear of the loader's data. */
static void place_metadata(size_t size)
{
	static struct memmap_range taken[2 + BOOT_LOADER_RANGES_MAX];
	size_t ntaken = collect_taken(taken);
	phys_addr_t at;

	if (memmap_find_free(usable, usable_count, size, HEAP_END, PMM_LIMIT_4GIB, taken, ntaken,
			     &at) != 0)
		panic("pmm: no room below 4 GiB above the heap for %zu bytes of PMM metadata",
		      size);
	metadata_start = at;
	metadata_end = ALIGN_UP(at + size, (phys_addr_t)PAGE_SIZE);
}


void pmm_boot_init(void)
{
	static struct memmap_entry raw[BOOT_MMAP_MAX];
	size_t nraw = boot_mmap_entries(&boot_info, raw);
	int n = memmap_usable(raw, nraw, usable, ARRAY_SIZE(usable));
	if (n < 0)
		panic("pmm: the sanitised memory map does not fit %zu ranges", ARRAY_SIZE(usable));
	usable_count = (size_t)n;

	size_t size = pmm_metadata_size(usable, usable_count, KERNEL_PHYS_BASE);
	place_metadata(size);
	pmm_init(&kernel_pmm, usable, usable_count, KERNEL_PHYS_BASE,
		 (void *)(uintptr_t)metadata_start, size);

	/* Below the floor (real-mode and BIOS areas, early loader data) nothing is managed. */
	pmm_reserve(&kernel_pmm, kernel_phys_start(), kernel_phys_end(), "kernel image");
	pmm_reserve(&kernel_pmm, HEAP_START, HEAP_END, "kernel heap");
	for (size_t i = 0; i < boot_info.loader_range_count; i++)
		pmm_reserve(&kernel_pmm, boot_info.loader_ranges[i].start,
			    boot_info.loader_ranges[i].end, boot_info.loader_ranges[i].what);
	pmm_reserve(&kernel_pmm, metadata_start, metadata_end, "pmm metadata");
	pmm_dump(&kernel_pmm, 0);
}
