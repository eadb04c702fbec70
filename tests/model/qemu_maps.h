/*
 * The memory maps GRUB hands over under QEMU, exactly as the kernel logged
 * them on this project's machines (see shared PLATFORM.md): fixtures for
 * host tests and benchmarks.
 */
#ifndef MIO_TESTS_MODEL_QEMU_MAPS_H
#define MIO_TESTS_MODEL_QEMU_MAPS_H

#include "mm/memmap.h"

struct qemu_map {
	const char *name;
	const struct memmap_entry *entries;
	size_t count;
};

extern const struct qemu_map qemu_map_32m, qemu_map_128m, qemu_map_3g, qemu_map_5g;
/* qemu-system-x86_64 adds a reserved entry at 0xfd_0000_0000, 12 GiB long. */
extern const struct qemu_map qemu_map_x86_64_128m, qemu_map_x86_64_5g;

#endif
