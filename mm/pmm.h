/*
 * Physical memory manager: hands out runs of contiguous 4 KiB frames.
 *
 * Design. The usable RAM (memmap_usable()'s output, minus everything below
 * a floor) is kept as an address-ordered linked list of regions: normally
 * the low one from the kernel's physical base and the high one from 4 GiB.
 * Each region tracks its frames in two bit planes, so every frame is in one
 * of four states: free, first frame of an allocated run, later frame of an
 * allocated run, reserved. The "first frame" marks are how pmm_free_frame()
 * knows the length of the run it is given back.
 * Over the free frames sit two summaries (about 11 KiB per GiB together).
 * A free-frame bitmap (a bit per 64-frame word that has a free frame, a bit
 * per 64 of those, up to one word) gives the lowest free frame at or after
 * any frame with a few bit scans: all a single frame needs. A run tree with
 * fan-out 8 gives the lowest run of n >= 2 frames: every entry (a 64-frame
 * word, or a node over 8 entries) summarises its span by its free prefix,
 * its free suffix and its middle run (the longest free run touching neither
 * end), and first fit is one descent from the root that takes at each
 * level the first child where the run starts (the free frames carried from
 * its left plus its prefix) or lies (its middle run or suffix holds n). So
 * it costs O(8 * log8(N)) and never walks the frames.
 * Splitting a free run and merging a freed run with its free neighbours
 * happen implicitly: they are bit flips, then the summaries above the
 * touched words are brought up to date. The bitmap changes only when a word
 * fills up or stops being full. The tree changes only when a word's prefix,
 * suffix or middle run does; middle runs of one frame are not recorded, so
 * a lone frame taken from or given back to a fragmented word leaves it
 * alone. Then each node above follows from the one child that changed and
 * that child's neighbours, in O(1), unless the node's longest middle run
 * went through that child and shrank (its 8 children are recombined), and
 * the walk stops at the first node that comes out unchanged. A fill (each
 * frame taken from the start of the free run that ends the region) only
 * moves suffixes: O(1) per level. Single-frame alloc and free are
 * O(log N) at worst; a run of n frames adds O(n / 64) word updates.
 * Alignment is a loop of searches that moves past each misaligned
 * candidate (one search unless misaligned runs long enough for the request
 * come first); an address limit is one check on the first fit, a lower
 * bound where the search starts.
 *
 * Metadata. The PMM never maps memory and never uses the heap: the caller
 * asks pmm_metadata_size() how many bytes the bit planes, the summaries and
 * the region list take (2 bits + about 0.35 bits per frame: ~377 KiB for 5 GiB),
 * provides that memory (the kernel carves it out of usable RAM below 4 GiB
 * and reserves it, host tests use malloc) and keeps it for the PMM's life.
 *
 * Address types. Physical addresses are phys_addr_t (64-bit). The void *
 * API (pmm_alloc_frame, pmm_alloc) serves frames below 4 GiB only, whose
 * address is their pointer while paging is off or RAM is identity-mapped.
 * pmm_alloc_phys() also reaches frames above 4 GiB (for 4 MiB pages with
 * PSE-36), takes an alignment and an upper address limit.
 * Frame 0 is never managed, so a NULL pointer never names a frame.
 *
 * Misuse that would corrupt memory panics, naming the address: freeing a
 * frame that is not the first frame of an allocated run (never allocated,
 * reserved, inside a run, outside every region), a double free
 * ("double free of frame 0x..."), an unaligned address.
 * pmm_free_frame(NULL) and pmm_free(pmm, NULL) do nothing, as free(NULL) does.
 *
 * Concurrency: none. One caller at a time per struct pmm; the kernel has
 * one CPU and takes no frames in interrupt handlers.
 */
#ifndef MIO_MM_PMM_H
#define MIO_MM_PMM_H

#include "lib/types.h"
#include "mm/memmap.h"

/*
 * Frames at or above this address are not managed: 2^36 is what PSE-36
 * (the only way this 32-bit kernel can reach memory above 4 GiB) addresses.
 */
#define PMM_MAX_PHYS ((phys_addr_t)1 << 36)

/* Upper address limits for pmm_alloc_phys(): the run must end at or below the limit. */
#define PMM_LIMIT_16MIB ((phys_addr_t)16 << 20) /* ISA DMA */
#define PMM_LIMIT_4GIB ((phys_addr_t)1 << 32)   /* reachable through a 32-bit pointer */
#define PMM_LIMIT_NONE UINT64_MAX

/* How many named reservations the PMM remembers for its log (frames are reserved regardless). */
#define PMM_MAX_RESERVATIONS 64

struct pmm_region; /* one usable range; see mm/pmm_internal.h */

/* A range the PMM was told to keep out of every allocation. */
struct pmm_reservation {
	phys_addr_t start, end; /* as requested, in bytes: [start, end) */
	const char *what;       /* not copied: must outlive the PMM */
	size_t frames;          /* frames this reservation took from the free ones */
};

/*
 * One physical memory manager. Everything is private: use the functions
 * below. The struct itself may live anywhere (static, stack); its regions
 * live in the metadata area handed to pmm_init().
 */
struct pmm {
	struct pmm_region *regions; /* address order */
	size_t region_count;
	phys_addr_t floor;          /* nothing below it is managed */
	void *metadata;
	size_t metadata_size;
	uint64_t unmanaged_frames;  /* usable frames below the floor or above PMM_MAX_PHYS */
	size_t reservation_count;
	size_t reservations_unrecorded; /* reserved, but past the table's end */
	struct pmm_reservation reservations[PMM_MAX_RESERVATIONS];
};

/* Frame counts. total = free + allocated + reserved; used = allocated + reserved. */
struct pmm_stats {
	uint64_t total, free, used, allocated, reserved;
	uint64_t largest_free_run; /* frames */
};

struct pmm_region_stats {
	phys_addr_t start, end; /* the region: [start, end) */
	struct pmm_stats stats;
};

/* What one frame is, as pmm_frame_state() sees it. */
enum pmm_frame_state {
	PMM_FRAME_UNMANAGED, /* in no region */
	PMM_FRAME_FREE,
	PMM_FRAME_RUN_START, /* first frame of an allocated run */
	PMM_FRAME_RUN_BODY,  /* a later frame of an allocated run */
	PMM_FRAME_RESERVED,
};

/* ---- setting up ---- */

/*
 * Bytes of metadata a PMM over usable[0..count) needs when nothing below
 * floor is managed. usable must be sorted, disjoint, page-aligned and
 * non-empty ranges (memmap_usable() output is; pmm_init() panics otherwise). The result is a multiple of 8.
 * Panics "pmm: no usable memory above 0x..." when no whole frame remains
 * at or above floor (and below PMM_MAX_PHYS): such a machine cannot run.
 */
size_t pmm_metadata_size(const struct memmap_range *usable, size_t count, phys_addr_t floor);

/*
 * Makes *pmm manage usable[0..count), every frame free, minus what lies
 * below floor (frame 0 is never managed) or at or above PMM_MAX_PHYS.
 * metadata (8-byte aligned, metadata_size >= pmm_metadata_size() bytes)
 * becomes the PMM's until the PMM is no longer used; the caller must make
 * sure its frames are never handed out (the kernel reserves them).
 * Panics on: no usable memory above floor (as pmm_metadata_size), metadata
 * too small or misaligned, usable ranges unsorted, overlapping, unaligned
 * or empty ("pmm: usable range N [...) is not page-aligned, sorted and
 * disjoint").
 */
void pmm_init(struct pmm *pmm, const struct memmap_range *usable, size_t count,
	      phys_addr_t floor, void *metadata, size_t metadata_size);

/*
 * Keeps the frames overlapping the byte range [start, end) out of every
 * future allocation (rounded outward to whole frames). Parts outside every
 * region are ignored, frames already reserved stay reserved. `what` names
 * the range in the log and dump; it is not copied.
 * Returns the number of frames that went from free to reserved.
 * Panics if a frame in the range is allocated: reserve before allocating.
 */
size_t pmm_reserve(struct pmm *pmm, phys_addr_t start, phys_addr_t end, const char *what);

/* ---- allocating and freeing ---- */

/*
 * Allocates `frames` contiguous frames: the lowest-addressed free run whose
 * first address is a multiple of align (bytes, a power of two; 0 means
 * PAGE_SIZE) and which ends at or below limit (PMM_LIMIT_*, or any byte
 * address). Stores its address in *out and returns 0.
 * Returns -MIO_EINVAL for 0 frames or an align that is not a power of two,
 * -MIO_ENOMEM when no run fits; nothing changes then.
 */
int pmm_alloc_phys(struct pmm *pmm, size_t frames, phys_addr_t align, phys_addr_t limit,
		   phys_addr_t *out);

/*
 * pmm_alloc_phys() restricted to runs that start at or above min (rounded
 * up to a frame): the lowest-addressed fitting run in [min, limit). This is
 * how a caller asks for memory above 4 GiB (min = PMM_LIMIT_4GIB), e.g. for
 * a 4 MiB page through PSE-36. Same returns as pmm_alloc_phys().
 */
int pmm_alloc_phys_range(struct pmm *pmm, size_t frames, phys_addr_t align, phys_addr_t min,
			 phys_addr_t limit, phys_addr_t *out);

/*
 * Frees the whole run that was allocated at addr and returns its length in
 * frames. Panics, naming the address, when addr is not 4 KiB-aligned, lies
 * in no region, is free ("double free of frame 0x..."), reserved, or inside
 * a run but not its first frame.
 */
size_t pmm_free_phys(struct pmm *pmm, phys_addr_t addr);

/*
 * The void * API of one PMM: pmm_alloc_phys(pmm, frames, PAGE_SIZE,
 * PMM_LIMIT_4GIB) as a pointer, NULL when frames is 0 or nothing fits.
 * pmm_free(pmm, NULL) does nothing; any other pointer is pmm_free_phys().
 */
void *pmm_alloc(struct pmm *pmm, size_t frames);
void pmm_free(struct pmm *pmm, void *ptr);

/* ---- the kernel's instance ---- */

/* The PMM the kernel sets up at boot (kernel/pmm_boot.c) and the two calls below use. */
extern struct pmm kernel_pmm;

/*
 * Allocates num_blocks contiguous 4 KiB frames below 4 GiB from kernel_pmm,
 * lowest address first. Returns NULL when num_blocks is 0 or no run fits
 * (nothing changes then).
 */
void *pmm_alloc_frame(size_t num_blocks);

/*
 * Returns the run that pmm_alloc_frame() gave out at ptr, all of it.
 * NULL: does nothing. Panics on anything else that is not the first frame
 * of an allocated run (see pmm_free_phys).
 */
void pmm_free_frame(void *ptr);

/* ---- looking inside ---- */

/* What the frame containing addr is. */
enum pmm_frame_state pmm_frame_state(const struct pmm *pmm, phys_addr_t addr);

/*
 * Fills *total with the counts over all regions and per_region[0..cap)
 * with each region's (may be NULL when cap is 0). Returns the region count.
 */
size_t pmm_stats(const struct pmm *pmm, struct pmm_stats *total,
		 struct pmm_region_stats *per_region, size_t cap);

/*
 * Verifies every invariant: region order and bounds, the bit planes (no run
 * body without a run before it, padding bits fixed), every counter, every
 * summary in the tree against what it summarises. Panics with
 * "pmm_check: ..." naming the region and the broken invariant. O(N): for
 * tests, fuzzers and debugging, never the allocation path.
 */
void pmm_check(const struct pmm *pmm);

/*
 * A maximal run of frames in one state: [start, end), st one of
 * PMM_FRAME_FREE, PMM_FRAME_RUN_START (one allocated run, all of it) or
 * PMM_FRAME_RESERVED.
 */
typedef void (*pmm_run_fn)(phys_addr_t start, phys_addr_t end, enum pmm_frame_state st, void *arg);

/*
 * Calls fn for every run of every region in address order: consecutive
 * free or reserved frames as one run each, every allocated run on its own.
 * O(frames / 64 + runs). fn must not allocate or free.
 */
void pmm_walk_runs(const struct pmm *pmm, pmm_run_fn fn, void *arg);

/*
 * Prints the regions with their stats, the reservations, and, when
 * max_runs > 0, up to max_runs runs (free, allocated, reserved) per region.
 */
void pmm_dump(const struct pmm *pmm, size_t max_runs);

#endif
