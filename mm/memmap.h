/*
 * Memory-map sanitiser: firmware maps are input, not truth.
 *
 * A loader hands over a list of (base, length, type) entries (Multiboot v1's
 * mmap, or the BIOS e820 call it comes from). The list may be unsorted,
 * overlap itself, contain empty entries, lengths that wrap past 2^64, and
 * ranges that do not start or end on a page. This module turns it into:
 *
 *   memmap_resolve()  the clean typed map: sorted, non-overlapping, every
 *                     byte carrying the type of highest priority among the
 *                     entries that cover it (reserved beats available, see
 *                     memmap_type_priority), neighbours of one type merged;
 *   memmap_usable()   the RAM that may be handed out: the bytes whose
 *                     resolved type is "available", rounded inward to whole
 *                     4 KiB pages, as sorted, non-adjacent [start, end)
 *                     ranges, split at 4 GiB so no range crosses it.
 *
 * How it works: a sweep over the entries' boundaries. Starting from the
 * lowest base, the next boundary is the nearest entry start or end above the
 * current position, and the interval up to it gets the winning type of the
 * entries covering it. That is O(n^2) for n entries with no scratch memory
 * and no sorting, which suits the at most 128 entries a loader reports.
 *
 * Arithmetic rules, in one place:
 *   - an entry of length 0 covers nothing;
 *   - an entry whose base + length wraps past 2^64 is clamped to end at 2^64;
 *   - nothing at or above MEMMAP_PHYS_LIMIT (2^52, the widest physical
 *     address any x86 CPU can form) is kept, so every end is representable.
 * The loader's entry layout is the same in Multiboot v2 (base_addr, length,
 * type, same type numbers), so a v2 parser only has to fill memmap_entry.
 */
#ifndef MIO_MM_MEMMAP_H
#define MIO_MM_MEMMAP_H

#include "lib/types.h"

/* Nothing at or above this address survives sanitising: x86's MAXPHYADDR is at most 52. */
#define MEMMAP_PHYS_LIMIT ((phys_addr_t)1 << 52)

/* The 4 GiB line: the void * API of the PMM serves only what lies below it. */
#define MEMMAP_4GIB ((phys_addr_t)1 << 32)

/* Entry types, numbered as Multiboot and e820 number them. Others exist (7: persistent memory). */
enum memmap_type {
	MEMMAP_AVAILABLE = 1,
	MEMMAP_RESERVED = 2,
	MEMMAP_ACPI_RECLAIMABLE = 3,
	MEMMAP_ACPI_NVS = 4,
	MEMMAP_BAD = 5,
};

/* One entry of a memory map: [base, base + length) has type `type`. */
struct memmap_entry {
	phys_addr_t base;
	uint64_t length;
	uint32_t type;
};

/* A usable physical range [start, end), both page-aligned, start < end. */
struct memmap_range {
	phys_addr_t start, end;
};

/*
 * Where two entries overlap, the type with the higher priority wins:
 * available (1) < ACPI reclaimable (2) < ACPI NVS (3) < reserved and every
 * unknown type (4) < bad memory (5). Anything that is not plain available
 * RAM therefore always beats available RAM. Between two different types of
 * equal priority (reserved vs. an unknown type) the higher type number wins,
 * so the outcome never depends on the order of the entries.
 */
unsigned memmap_type_priority(uint32_t type);

/* True when type a beats type b where they overlap (the rule above). */
bool memmap_type_beats(uint32_t a, uint32_t b);

/*
 * Writes the clean typed map of raw[0..n) into out: sorted by base,
 * non-overlapping, no zero lengths, adjacent entries of one type merged, all
 * below MEMMAP_PHYS_LIMIT. Byte-exact: nothing is rounded. raw is not
 * modified and may be in any order.
 * Returns the number of entries written, or -MIO_ENOMEM when more than cap
 * would be needed (out then holds the first cap). cap >= 2 * n always suffices.
 */
int memmap_resolve(const struct memmap_entry *raw, size_t n, struct memmap_entry *out,
		   size_t cap);

/*
 * Writes the usable RAM of raw[0..n) into out: the resolved "available"
 * bytes, rounded inward to whole pages, as sorted ranges that neither
 * overlap nor touch, except that a range reaching across 4 GiB is split
 * there into two ranges that touch at MEMMAP_4GIB.
 * Returns the number of ranges, or -MIO_ENOMEM when more than cap would be
 * needed (out then holds the first cap). cap >= n + 1 always suffices.
 */
int memmap_usable(const struct memmap_entry *raw, size_t n, struct memmap_range *out,
		  size_t cap);

/*
 * The lowest page-aligned address a such that [a, a + size) lies inside one
 * of usable[0..count), at or above min, ends at or below max, and overlaps
 * none of avoid[0..navoid) (byte ranges, any order; an empty range avoids
 * nothing, and a size of 0 overlaps nothing). The kernel uses it to
 * carve the PMM's metadata out of RAM before there is any allocator.
 * Stores a in *out and returns 0, or returns -MIO_ENOMEM when nothing fits.
 */
int memmap_find_free(const struct memmap_range *usable, size_t count, uint64_t size,
		     phys_addr_t min, phys_addr_t max, const struct memmap_range *avoid,
		     size_t navoid, phys_addr_t *out);

/* "available", "reserved", "ACPI reclaimable", "ACPI NVS", "bad memory", else "unknown type". */
const char *memmap_type_name(uint32_t type);

/* Total bytes in ranges[0..n). */
uint64_t memmap_range_bytes(const struct memmap_range *ranges, size_t n);

#endif
