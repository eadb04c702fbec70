/*
 * Reference model of the memory-map sanitiser, by brute force: every
 * granule of a window of the address space is classified on its own, by
 * looking at every entry, as the type of highest priority among the entries
 * covering it. The clean map and the usable pages then follow by merging
 * neighbours, and are compared with what mm/memmap.c produced.
 *
 * The window: [base, base + granules * granule), base page-aligned, granule
 * a divisor of PAGE_SIZE. For the model to be exact, every entry must start
 * on a granule boundary inside the window and either end on a granule
 * boundary inside it, or reach at least MEMMAP_PHYS_LIMIT (by wrapping past
 * 2^64 or otherwise): then one classification of the window's end stands for
 * everything from there to the limit. memmap_model_decode() builds only such
 * maps; it is what the fuzzer and the host test feed with random bytes.
 */
#ifndef MIO_TESTS_MODEL_MEMMAP_MODEL_H
#define MIO_TESTS_MODEL_MEMMAP_MODEL_H

#include "mm/memmap.h"

struct memmap_window {
	phys_addr_t base;
	uint64_t granule; /* bytes, divides PAGE_SIZE */
	size_t granules;
};

/*
 * The type the byte at addr has, by brute force over all entries: false when
 * no entry covers it (or it lies at or above MEMMAP_PHYS_LIMIT).
 */
bool memmap_model_type_at(const struct memmap_entry *raw, size_t n, phys_addr_t addr,
			  uint32_t *type);

/*
 * Compares memmap_resolve() and memmap_usable() on raw[0..n) with the model
 * over window w. Returns true when both agree exactly; otherwise false with
 * the first difference described in why.
 */
bool memmap_model_compare(const struct memmap_entry *raw, size_t n,
			  const struct memmap_window *w, char *why, size_t why_size);

/* The largest map memmap_model_decode() builds. */
#define MEMMAP_MODEL_MAX_ENTRIES 24

/*
 * Turns arbitrary bytes into a window and a map valid for it: windows at 0,
 * across 4 GiB, across MEMMAP_PHYS_LIMIT, at the top of the 64-bit space and
 * in low memory; entries unsorted, overlapping, empty, ending mid-page,
 * wrapping past 2^64, of every type. Returns the number of entries.
 */
size_t memmap_model_decode(const uint8_t *data, size_t size, struct memmap_window *w,
			   struct memmap_entry *raw, size_t cap);

#endif
