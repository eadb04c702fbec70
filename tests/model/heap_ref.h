/*
 * Reference model of the kernel heap: the plainest first-fit allocator that
 * follows the same placement policy as mm/heap.c (HEAP_GRANULE,
 * HEAP_HEADER_SIZE, HEAP_REDZONE_MIN, HEAP_MIN_BLOCK, front carving, the
 * aligned and realloc strategies documented in mm/heap.h), so that for the
 * same operations on arenas of the same length both return the same offsets.
 *
 * Every block, used or free, starts with a size word; operations walk this
 * block list from the start: first fit takes the first free block large
 * enough, free walks to the block before the freed one to merge with it.
 * Linear time, obviously correct, for tests, fuzzers and benchmarks only.
 * It trusts its caller (no validation of pointers, no red zones).
 *
 * The model places blocks; it does not hold data. Its boundary tags live in
 * its own arena, inside the blocks it hands out (in the release build,
 * where HEAP_HEADER_SIZE is 0, a block's tag is where its payload starts),
 * so callers compare its offsets with the heap's and never write to its
 * blocks; heap_ref_calloc and heap_ref_realloc neither zero nor copy.
 */
#ifndef MIO_TESTS_MODEL_HEAP_REF_H
#define MIO_TESTS_MODEL_HEAP_REF_H

#include "lib/types.h"

struct heap_ref {
	uint8_t *arena;     /* first byte of block 0 */
	uint32_t bytes;     /* arena length */
	size_t used_blocks, free_blocks, used_bytes;
};

#define HEAP_REF_NONE UINT32_MAX

/*
 * One free block over [arena, arena + bytes). arena + HEAP_HEADER_SIZE must
 * be 16-aligned and bytes a multiple of 16 (take both from heap_stats()).
 */
void heap_ref_init(struct heap_ref *r, void *arena, size_t bytes);
void *heap_ref_alloc(struct heap_ref *r, size_t n);
void *heap_ref_calloc(struct heap_ref *r, size_t num, size_t size);
void *heap_ref_alloc_aligned(struct heap_ref *r, size_t n, size_t align);
void *heap_ref_realloc(struct heap_ref *r, void *p, size_t n);
void heap_ref_free(struct heap_ref *r, void *p);
/* Size of the largest free block, header included (0 when none). */
size_t heap_ref_largest_free(const struct heap_ref *r);

#endif
