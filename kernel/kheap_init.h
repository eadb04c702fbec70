/*
 * Placing the kernel heap at boot: KHEAP_SIZE bytes at KERNEL_PHYS_BASE +
 * KHEAP_OFFSET (both build-time constants, see the Makefile), checked
 * against what the loader reported before the first byte is written.
 */
#ifndef MIO_KERNEL_KHEAP_INIT_H
#define MIO_KERNEL_KHEAP_INIT_H

#include "kernel/boot.h"

/* Where the kernel heap lives. */
#define KHEAP_PHYS_START ((phys_addr_t)KERNEL_PHYS_BASE + KHEAP_OFFSET)
#define KHEAP_PHYS_SIZE ((uint64_t)KHEAP_SIZE)

/*
 * Checks the heap's placement against info (see kheap_check_placement),
 * builds the heap there (kmalloc and friends work from then on) and logs
 * its extent. Runs once, early in kmain, while paging is off.
 */
void kheap_init(const struct boot_info *info);

/*
 * Panics with a message naming the range and the reason unless
 * [start, start + size) lies below 4 GiB, entirely inside memory the map in
 * info reports available (and no entry reports otherwise), and overlaps
 * neither the kernel image nor any loader data (info->loader_ranges:
 * Multiboot info, memory map, modules, strings).
 */
void kheap_check_placement(const struct boot_info *info, phys_addr_t start, uint64_t size);

#endif
