/* QEMU's memory maps as GRUB reports them (qemu-system-i386 and -x86_64, GRUB 2.06). */
#include "tests/model/qemu_maps.h"

#define E(base, len, type) { (base), (len), (type) }
#define LOW_ENTRIES                                                                \
	E(0x0, 0x9fc00, MEMMAP_AVAILABLE), E(0x9fc00, 0x400, MEMMAP_RESERVED),     \
		E(0xf0000, 0x10000, MEMMAP_RESERVED)
#define BIOS_ROM E(0xfffc0000, 0x40000, MEMMAP_RESERVED)
#define X86_64_HOLE E(0xfd00000000, 0x300000000, MEMMAP_RESERVED)

static const struct memmap_entry map_32m[] = {
	LOW_ENTRIES,
	E(0x100000, 0x1ee0000, MEMMAP_AVAILABLE),
	E(0x1fe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
};

static const struct memmap_entry map_128m[] = {
	LOW_ENTRIES,
	E(0x100000, 0x7ee0000, MEMMAP_AVAILABLE),
	E(0x7fe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
};

static const struct memmap_entry map_3g[] = {
	LOW_ENTRIES,
	E(0x100000, 0xbfee0000, MEMMAP_AVAILABLE),
	E(0xbffe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
};

static const struct memmap_entry map_5g[] = {
	LOW_ENTRIES,
	E(0x100000, 0xbfee0000, MEMMAP_AVAILABLE),
	E(0xbffe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
	E(0x100000000, 0x80000000, MEMMAP_AVAILABLE),
};

static const struct memmap_entry map_x86_64_128m[] = {
	LOW_ENTRIES,
	E(0x100000, 0x7ee0000, MEMMAP_AVAILABLE),
	E(0x7fe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
	X86_64_HOLE,
};

static const struct memmap_entry map_x86_64_5g[] = {
	LOW_ENTRIES,
	E(0x100000, 0xbfee0000, MEMMAP_AVAILABLE),
	E(0xbffe0000, 0x20000, MEMMAP_RESERVED),
	BIOS_ROM,
	E(0x100000000, 0x80000000, MEMMAP_AVAILABLE),
	X86_64_HOLE,
};

#define MAP(var, arr, label) \
	const struct qemu_map var = { label, arr, sizeof(arr) / sizeof(arr[0]) }

MAP(qemu_map_32m, map_32m, "-m 32M");
MAP(qemu_map_128m, map_128m, "-m 128M");
MAP(qemu_map_3g, map_3g, "-m 3G");
MAP(qemu_map_5g, map_5g, "-m 5G");
MAP(qemu_map_x86_64_128m, map_x86_64_128m, "x86_64 -m 128M");
MAP(qemu_map_x86_64_5g, map_x86_64_5g, "x86_64 -m 5G");
