/*
 * The kernel heap: exact first fit over any region handed to it, found in
 * logarithmic time, with one 4-byte header per block.
 *
 * Placement. A request goes to the lowest-addressed free block that can
 * hold it, carved from that block's front; a remainder of at least
 * HEAP_MIN_BLOCK bytes stays free, a smaller one is handed out with the
 * block. A freed block merges at once with free neighbours on both sides,
 * so two free blocks are never adjacent.
 *
 * The search (a hierarchical summary, no walk of the block list):
 *  - the arena is cut into chunks of HEAP_CHUNK_BYTES (4 KiB). For every
 *    chunk the heap keeps the size of the largest free block that STARTS in
 *    it (0: none) and the offset of the first free block starting in it;
 *  - a HEAP_FANOUT-ary (16) max-tree sits over the chunk maxima: each entry
 *    is the largest value of the 16 below it. 3 MiB is 768 chunks, so the
 *    tree has 3 levels (768, 48, 3 entries);
 *  - free blocks are also on a doubly linked list in address order.
 *  First fit for n bytes descends the tree taking the leftmost entry >= n at
 *  each level (16 compares per level), reaching the leftmost chunk whose
 *  largest free block fits; the answer is the first block on the list from
 *  that chunk's first free block with size >= n, and it lies in that chunk.
 *  Work per operation: O(16 * levels) = O(log size) for the tree, plus a
 *  walk inside one chunk, bounded by the free blocks a chunk can hold (64 in
 *  a 4 KiB chunk, as free blocks alternate with used ones): no dependence on
 *  the number of blocks in the heap. Updates touch one or two chunks and
 *  their ancestors. Nothing is amortised or randomised.
 *
 * Blocks. A block is a whole number of 16-byte granules. Its 4-byte header
 * (size in bytes | USED | PREV_FREE) sits just before the payload, which is
 * 16-byte aligned. A free block also keeps its list links (two 32-bit
 * granule offsets, the same size on 32- and 64-bit builds) at the payload
 * and its size in its last 4 bytes (the footer) so the block after it can
 * find it; a used block has no footer, its successor's PREV_FREE bit says
 * the predecessor is used. Per-block overhead: 4 bytes of header, plus the
 * rounding of the block to 16 bytes.
 *
 * Hardening, in every build: a bitmap with one bit per granule marks where
 * a live (allocated) block starts, so kfree/krealloc tell a live block from
 * a foreign, interior, misaligned or already freed pointer exactly, never by
 * guessing from header bytes. With KHEAP_DEBUG=1 (kernel and test builds)
 * the header grows to 8 bytes to record the requested size, every block
 * ends in a red zone of at least one byte checked at free and by
 * heap_check, and free memory is filled with a poison pattern checked when
 * it is handed out again (use after free).
 *
 * Metadata lives inside the region: struct heap, the bitmap (1/128 of the
 * arena), the chunk table (5 bytes per 4 KiB) and the tree. For the
 * kernel's 3 MiB that is about 28 KiB (0.9%); heap_stats() reports it.
 *
 * No locking: callers serialise (the kernel is single-threaded for now).
 */
#ifndef MIO_MM_HEAP_H
#define MIO_MM_HEAP_H

#include "lib/types.h"

#ifndef KHEAP_DEBUG
#define KHEAP_DEBUG 0
#endif

/*
 * Placement policy. The reference model in tests/model/heap_ref.c uses these
 * same numbers so that both return the same addresses.
 */
#define HEAP_GRANULE 16u /* block size unit and payload alignment */
#if KHEAP_DEBUG
#define HEAP_HEADER_SIZE 8u /* requested size + size/flags word */
#define HEAP_REDZONE_MIN 1u /* at least one red-zone byte after every payload */
#define HEAP_MIN_BLOCK 32u  /* a free block's header, links and footer */
#else
#define HEAP_HEADER_SIZE 4u /* size/flags word */
#define HEAP_REDZONE_MIN 0u
#define HEAP_MIN_BLOCK 16u /* header 4 + links 8 + footer 4 */
#endif
/* Largest arena a heap manages: sizes then fit the 31 bits the tree compares. */
#define HEAP_MAX_ARENA ((size_t)1 << 30)
/* Search structure tuning: chunk length (4 KiB) and tree fan-out (see above). */
#define HEAP_CHUNK_SHIFT 10
#define HEAP_CHUNK_BYTES ((size_t)1 << HEAP_CHUNK_SHIFT)
#define HEAP_FANOUT 16u

/* Debug builds only: what fills free memory and red zones. */
#define HEAP_POISON_BYTE 0xdfu
#define HEAP_REDZONE_BYTE 0xcau

struct heap; /* lives at the start of the region given to heap_init() */

struct heap_stats {
	void *arena;             /* first byte of the first block */
	size_t arena_bytes;      /* bytes managed as blocks */
	size_t metadata_bytes;   /* region bytes spent before the arena (struct, bitmap, tree) */
	size_t used_bytes;       /* bytes in allocated blocks, headers and rounding included */
	size_t free_bytes;       /* bytes in free blocks */
	size_t largest_free;     /* size of the largest free block, header included */
	size_t largest_request;  /* the largest n for which heap_alloc(n) succeeds now (0: none) */
	size_t used_blocks;
	size_t free_blocks;
	size_t header_bytes;     /* per-block overhead before the payload (HEAP_HEADER_SIZE) */
};

/*
 * Builds an empty heap over [base, base + size), which the heap owns from now
 * on: struct heap and the metadata sit at its start, blocks fill the rest
 * (at most HEAP_MAX_ARENA bytes of it). Returns the heap, or NULL when the
 * region cannot hold the metadata and one minimal block. Any alignment of
 * base is accepted. Several heaps may exist side by side.
 */
struct heap *heap_init(void *base, size_t size);

/*
 * Allocates size bytes from the lowest-addressed free block that can hold
 * them. The pointer is HEAP_GRANULE (16) aligned; the memory is not zeroed.
 * Returns NULL, leaving the heap untouched, when size is 0 (our choice: a
 * zero-size block is no block), when size is too large to represent, or
 * when no free block is large enough.
 */
void *heap_alloc(struct heap *h, size_t size);

/*
 * Allocates an array of num elements of size bytes, zeroed. Returns NULL
 * when num * size overflows, is 0, or does not fit (heap untouched).
 */
void *heap_calloc(struct heap *h, size_t num, size_t size);

/*
 * Allocates size bytes at an address that is a multiple of align, which must
 * be a power of two (any, 16 bytes up to the arena size). Alignments up to 16
 * are plain heap_alloc. Larger ones take the lowest-addressed free block of
 * at least size + align + HEAP_MIN_BLOCK - HEAP_GRANULE bytes (enough for
 * any offset), place the payload at the first aligned address in it that
 * leaves either no gap or a gap of HEAP_MIN_BLOCK or more before it, and keep
 * that gap as a free block. Returns NULL for align not a power of two, size
 * 0, overflow, or no fitting block. Free the result with heap_free().
 */
void *heap_alloc_aligned(struct heap *h, size_t size, size_t align);

/*
 * Resizes the allocation at ptr to size bytes, keeping its contents up to
 * the smaller of the two sizes. ptr NULL: heap_alloc(size). size 0: frees ptr
 * and returns NULL. Shrinking stays in place (the cut-off tail is freed when
 * it makes a block of its own); growing stays in place when the next block is
 * free and large enough, else it allocates (first fit, the old block still
 * held), copies and frees the old block. Returns NULL when the new size
 * cannot be had; ptr is then untouched and still owned by the caller.
 * Panics on a ptr heap_free() would panic on.
 */
void *heap_realloc(struct heap *h, void *ptr, size_t size);

/*
 * Frees the block whose payload starts at ptr; ptr NULL does nothing.
 * Panics (messages name the address, worded as the kernel's kfree):
 *   "kfree: 0x... is not a heap pointer"            outside this heap's arena
 *   "kfree: 0x... is misaligned ..."                 not on a 16-byte boundary
 *   "kfree: 0x... points inside the block at 0x..."  into a live block
 *   "double free of 0x..."                           into free memory
 * and, with KHEAP_DEBUG, when the block's red zone was overwritten.
 */
void heap_free(struct heap *h, void *ptr);

/* Bytes the caller may use at ptr (a live allocation; panics as heap_free). */
size_t heap_usable_size(struct heap *h, void *ptr);

/* Fills *out; O(1) apart from largest_request's O(1) tree read. */
void heap_stats(const struct heap *h, struct heap_stats *out);

/*
 * Walks every block and verifies every invariant: block sizes and tiling,
 * header flags, footers, no adjacent free blocks, the live-block bitmap,
 * the free list (address order, back links, exactly the free blocks), the
 * chunk table and every level of the tree, the counters and, with
 * KHEAP_DEBUG, every red zone and the poison in every free block. Panics
 * with "heap_check: ..." naming the address of the first violation. Costs a
 * walk of the whole heap: for tests and debugging, never the hot path.
 */
void heap_check(const struct heap *h);

/* Prints the block list (address, size, used/free) and a summary with kprintf. */
void heap_dump(const struct heap *h);

/*
 * The kernel's heap: one global instance behind the classic names. The
 * kernel attaches it early in boot (kernel/kheap_init.c); host tests may
 * attach it to any buffer. Every call before kheap_attach() panics.
 */
struct heap *kheap_attach(void *base, size_t size); /* panics when too small */
struct heap *kheap_instance(void);                  /* NULL before kheap_attach() */

void *kmalloc(size_t size);
void *kcalloc(size_t num, size_t size);
void *krealloc(void *ptr, size_t size);
void *kmalloc_aligned(size_t size, size_t align);
void kfree(void *ptr);
void kheap_stats(struct heap_stats *out);
void kheap_check(void);
void kheap_dump(void);

#endif
