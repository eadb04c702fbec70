/*
 * What the boot loader told us, copied out of the Multiboot structures into
 * kernel memory at the very start of boot, plus where those structures lie
 * (the PMM must not hand their frames out, the VMM maps them).
 */
#ifndef MIO_KERNEL_BOOT_H
#define MIO_KERNEL_BOOT_H

#include "lib/types.h"
#include "mm/memmap.h"

#define BOOT_MMAP_MAX 128
#define BOOT_MODULES_MAX 16
#define BOOT_LOADER_RANGES_MAX (8 + 2 * BOOT_MODULES_MAX)
#define BOOT_CMDLINE_MAX 256


/* One raw memory map entry, exactly as the loader reported it (not sanitised). */
struct boot_mmap_entry {
	phys_addr_t base;
	uint64_t length;
	uint32_t type;
};

/* A physical range [start, end) holding something the loader handed over. */
struct boot_range {
	phys_addr_t start, end;
	const char *what; /* "multiboot info", "memory map", "module", ... */
};

struct boot_module {
	phys_addr_t start, end; /* [start, end) */
	char name[64];          /* the module's command line */
};

struct boot_info {
	unsigned protocol;     /* 1: Multiboot, 2: Multiboot2 */
	phys_addr_t info_addr;
	char cmdline[BOOT_CMDLINE_MAX];
	char loader_name[64];

	size_t mmap_count;
	struct boot_mmap_entry mmap[BOOT_MMAP_MAX];

	size_t module_count;
	struct boot_module modules[BOOT_MODULES_MAX];

	/* Every byte range of loader data, modules included: reserve before allocating. */
	size_t loader_range_count;
	struct boot_range loader_ranges[BOOT_LOADER_RANGES_MAX];
};

/* Filled by boot_info_parse() in kmain, read-only afterwards. */
extern struct boot_info boot_info;

/*
 * Returns the protocol the loader magic names: 1 for Multiboot (0x2badb002),
 * 2 for Multiboot2 (0x36d76289). Panics with a message naming the value for
 * anything else.
 */
unsigned boot_check_magic(uint32_t magic);

/*
 * Copies the loader's information at physical address info_phys, in the
 * format the magic names, into *out. Panics with a clear message when the
 * loader gave no memory map, when an entry or a Multiboot2 tag is malformed
 * (a size too small, or running past the info's end), or when there are more
 * entries or modules than the fixed tables hold (so nothing is silently
 * dropped).
 */
void boot_info_parse(uint32_t magic, phys_addr_t info_phys, struct boot_info *out);

/*
 * Copies the loader's map into out (room for BOOT_MMAP_MAX entries) in the
 * sanitiser's entry type (mm/memmap.h); returns the count.
 */
size_t boot_mmap_entries(const struct boot_info *info, struct memmap_entry *out);

/* True when the kernel command line contains word as a whole word. */
bool boot_cmdline_has(const struct boot_info *info, const char *word);


/*
 * Prints the loader's map e820-style, beside it the clean map (sorted,
 * overlaps resolved) and the usable RAM the PMM gets, then the kernel's
 * extent, modules and command line.
 */
void boot_log_print(const struct boot_info *info);

/* The kernel image's physical extent, from the linker script. */
phys_addr_t kernel_phys_start(void);
phys_addr_t kernel_phys_end(void);
/* The end of its read-only part (text, rodata): [start, ro_end) never needs writing. */
phys_addr_t kernel_phys_ro_end(void);
/* The page below the boot stack (in .bss), left unmapped so an overflow faults. */
phys_addr_t kernel_stack_guard(void);

#endif
