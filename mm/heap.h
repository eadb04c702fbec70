/*
 * The kernel heap: exact first fit over any region handed to it, found in
 * logarithmic time. Block boundaries live only in the metadata: blocks
 * carry no header (in release builds) and free memory is never written.
 *
 * Placement. A request goes to the lowest-addressed free block that can
 * hold it, carved from that block's front; a remainder of at least
 * HEAP_MIN_BLOCK bytes stays free, a smaller one is handed out with the
 * block. A freed block merges at once with free neighbours on both sides,
 * so two free blocks are never adjacent.
 *
 * Blocks and marks. The arena is a row of 16-byte granules; a block is a
 * whole number of them and its payload is the block itself (16-aligned).
 * Per 1 KiB chunk (64 granules) two 64-bit maps mark the granules where a
 * free block starts and where a live (allocated) block starts; a block ends
 * where the next mark is, and a sentinel mark just past the arena bounds the
 * last one. So a block's size, whether its neighbours are free, and where
 * the block before it starts all come from the maps. A summary (one bit per
 * chunk holding any mark, one per word of that, up to a single word) finds
 * the next or previous mark in a few bit scans however large the free space
 * between; the common cases never need it.
 *
 * The search. Per chunk a 16-bit leaf holds the size of the largest free
 * block starting there (saturating at 512 KiB: only the one block that runs
 * out of a chunk can be that large, and the maps then give its exact size).
 * Above the leaves, exact 32-bit maxima over groups of 64, up to one group:
 * 3 MiB is 3072 chunks, so a single level of 48 above the leaves. First fit
 * for n bytes descends taking at each level the first entry >= n among 64
 * (SSE2 compares on the host; in the kernel, which has no vector registers,
 * the same compares a machine word of 16-bit leaves at a time),
 * which lands on the leftmost chunk holding a free block of n bytes or more;
 * one pass over that chunk's free blocks (at most 32: free blocks never
 * touch) takes the first that fits, and the largest of the others becomes
 * the chunk's leaf once it is carved. Cost: 64 compares per level, O(log
 * size) levels, one chunk's blocks - independent of how many blocks the
 * heap holds, and never amortised. A request of 512 KiB or more lands on
 * the one saturated leaf (one per group at most) under its exact level-1
 * entry.
 *
 * Why no state in blocks: allocation and free read and write only the
 * metadata (about 55 KiB for 3 MiB, mostly cache-resident), never the
 * arena, which is what makes them fast. And an overflow from a block can
 * corrupt other blocks' data but never the allocator: no boundary, size or
 * link is kept where a caller can write, in any build.
 * Per-block overhead: the rounding to 16 bytes only (HEAP_HEADER_SIZE is 0).
 *
 * Hardening, in every build: the live map tells kfree/krealloc a live block
 * from a foreign, interior, misaligned or already freed pointer exactly.
 * With KHEAP_DEBUG=1 (kernel and test builds) each block starts with an
 * 8-byte header recording the requested size (blocks start at 8 mod 16, so
 * payloads stay 16-aligned), every payload is followed by a red zone of at
 * least one byte checked by heap_free and heap_check, and free memory is
 * filled with a poison pattern checked when it is handed out again (use
 * after free). Boundaries come from the maps in both builds; the header only
 * feeds the red-zone check.
 *
 * Metadata lives at the start of the region: struct heap, the two maps
 * (16 bytes per KiB), the summary, the leaves (2 bytes per KiB) and the
 * levels above (1/16 of that): 1.8% of the region, 55 KiB of the kernel's
 * 3 MiB. heap_stats() reports it. The layout is in mm/heap_internal.h.
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
#define HEAP_HEADER_SIZE 8u /* requested size and its complement, for the red-zone check */
#define HEAP_REDZONE_MIN 1u /* at least one red-zone byte after every payload */
#else
#define HEAP_HEADER_SIZE 0u /* no header: the payload is the block */
#define HEAP_REDZONE_MIN 0u
#endif
/* Smallest block, and smallest remainder split off: one granule. */
#define HEAP_MIN_BLOCK 16u
/* Largest arena a heap manages: sizes then fit the 31 bits the tree compares. */
#define HEAP_MAX_ARENA ((size_t)1 << 30)
/* Search structure: a chunk is one 64-bit map word of granules (1 KiB). */
#define HEAP_CHUNK_BYTES ((size_t)64 * HEAP_GRANULE)

/* Debug builds only: what fills free memory and red zones. */
#define HEAP_POISON_BYTE 0xdfu
#define HEAP_REDZONE_BYTE 0xcau

struct heap; /* lives at the start of the region given to heap_init() */

struct heap_stats {
	void *arena;             /* first byte of the first block */
	size_t arena_bytes;      /* bytes managed as blocks */
	size_t metadata_bytes;   /* region bytes spent before the arena (struct, bitmaps, tree) */
	size_t used_bytes;       /* bytes in allocated blocks, debug headers and rounding included */
	size_t free_bytes;       /* bytes in free blocks */
	size_t largest_free;     /* size of the largest free block */
	size_t largest_request;  /* the largest n for which heap_alloc(n) succeeds now (0: none) */
	size_t used_blocks;
	size_t free_blocks;
	size_t header_bytes;     /* bytes before each payload (HEAP_HEADER_SIZE: 0, or 8 with KHEAP_DEBUG) */
};

/*
 * Builds an empty heap over [base, base + size), which the heap owns from now
 * on: struct heap and the metadata sit at its start, blocks fill the rest
 * (at most HEAP_MAX_ARENA bytes of it): the most granules whose metadata
 * leaves room for them, and nothing is ever written outside the region.
 * Returns the heap, or NULL when the region cannot hold the metadata and
 * one minimal block, or when base + size passes the top of the address
 * space (a region may end at its last byte but one). Any alignment of base
 * is accepted. Several heaps may exist side by side.
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
 * at least B + align + HEAP_MIN_BLOCK - HEAP_GRANULE bytes, B being the
 * block heap_alloc(size) would take (size rounded up to whole granules,
 * with the debug header and red zone in KHEAP_DEBUG builds): enough for any
 * offset. It places the payload at the first aligned address in it that
 * leaves either no gap or a gap of HEAP_MIN_BLOCK or more before it, and keeps
 * that gap as a free block. The bound makes the search the same logarithmic
 * one as heap_alloc's; the price is that a smaller free block lower down
 * that happens to hold an aligned spot is passed over (exact aligned first
 * fit would test blocks one by one). The reference model applies the same
 * rule. Returns NULL for align not a power of two, size 0, overflow, or no
 * fitting block. Free the result with heap_free().
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
 * and, with KHEAP_DEBUG, "heap: overflow past block 0x... : red zone
 * changed at 0x..." when bytes past the requested size were written.
 * heap_realloc() panics alike, "krealloc: ..." ("... was already freed").
 */
void heap_free(struct heap *h, void *ptr);

/*
 * Bytes the caller may use at ptr, a live allocation: the block's whole
 * payload, or with KHEAP_DEBUG exactly the size requested (the red zone
 * follows it). Panics on a pointer heap_free() would panic on.
 */
size_t heap_usable_size(struct heap *h, void *ptr);

/* Fills *out in O(1). */
void heap_stats(const struct heap *h, struct heap_stats *out);

/*
 * Walks every block and verifies every invariant, trusting none of the
 * helpers it checks: it scans the maps word by word (no summary, no tree)
 * and derives every block from them. Checked: no granule marked both free
 * and live, the sentinel in place and nothing past it, block 0 at the
 * arena's start, no two free blocks adjacent, the counters, every summary
 * bit against the maps and the level below, every leaf and level-1 entry
 * against the free blocks found, every level above against the one below,
 * and, with KHEAP_DEBUG, every debug header and red zone and the poison in
 * every free block. Panics with "heap_check: ..." (or the red-zone message
 * of heap_free) naming the address of the first violation. Costs a walk of
 * the whole heap: for tests and debugging, never the hot path.
 */
void heap_check(const struct heap *h);

/* Prints the block list (address, size, used/free) and a summary with kprintf; reads only the maps. */
void heap_dump(const struct heap *h);

/* Receives one block: its first byte (header included), its size, whether it is allocated. */
typedef void (*heap_block_fn)(void *start, size_t bytes, bool used, void *arg);

/* Calls fn for every block in address order; the blocks tile the arena. fn must not allocate. */
void heap_walk(const struct heap *h, heap_block_fn fn, void *arg);

/*
 * The kernel's heap: one global instance behind the classic names. The
 * kernel attaches it early in boot (kernel/kheap_init.c); host tests may
 * attach it to any buffer. Every call before kheap_attach() panics, except
 * kfree(NULL), which does nothing as always.
 */
struct heap *kheap_attach(void *base, size_t size); /* heap_init(); panics when too small */
struct heap *kheap_instance(void);                  /* NULL before kheap_attach() */

/* The instance API on the kernel heap; same contracts, returns and panics. */
void *kmalloc(size_t size);                       /* heap_alloc(): NULL for 0 */
void *kcalloc(size_t num, size_t size);           /* heap_calloc() */
void *krealloc(void *ptr, size_t size);           /* heap_realloc() */
void *kmalloc_aligned(size_t size, size_t align); /* heap_alloc_aligned() */
void kfree(void *ptr);                            /* heap_free(): NULL does nothing */
void kheap_stats(struct heap_stats *out);         /* heap_stats() */
void kheap_check(void);                           /* heap_check() */
void kheap_dump(void);                            /* heap_dump(): the block list on serial */

#endif
