/*
 * The PMM's data layout, shared by mm/pmm.c and the tests that corrupt it
 * on purpose to prove pmm_check() notices. Nothing else should include it.
 *
 * Frame states in the two bit planes (bit i of each is frame i of the region):
 *
 *     idle  mark   state
 *      1     0     free
 *      0     1     first frame of an allocated run
 *      0     0     later frame of an allocated run (the run's body)
 *      1     1     reserved; also the padding bits past the region's end
 *
 * so free = idle & ~mark, "in an allocated run" = ~idle, run body =
 * ~idle & ~mark. A run ends at the first frame after its start that is not
 * body, which is how a free finds the run's length.
 *
 * Two summaries sit over the planes:
 *
 * The free-frame bitmap (single frames): avail[0] has bit w set when word w
 * has a free frame; avail[k] has bit j set when word j of avail[k - 1] is
 * not zero; the last level is one word. Bits past the last entry are zero.
 *
 * The run tree (runs of PMM_MIN_TRACKED_RUN frames or more): each entry
 * summarises its span by three free runs: the prefix (from its first
 * frame), the suffix (to its last frame) and the middle run (the longest
 * one touching neither end; 0 when the span is wholly free). Level 0 is one
 * entry per 64-frame word, of which only the middle run is stored
 * (leaf_mid, one byte; prefix and suffix come from the word with one bit
 * scan). Level l >= 1 has one pmm_node per 8 entries of level l - 1, up to
 * a single root; a node spans 64 * 8^l frames. The region's end ends the
 * last entry of every level (the last word's padding bits, the missing
 * children of the last nodes are outside it), so the free run that reaches
 * the region's end is a suffix all the way up, like any other run that ends
 * a span: "wholly free" means every frame of the entry in the region is.
 *
 * Why a middle run rather than the longest run: taking the first frame of
 * the free run at the end of a span (a fill) or giving one back there only
 * moves the suffix, so every level above updates in O(1) from the child
 * that changed and its neighbours (update_node) instead of recombining all
 * eight children. Middle runs are stored as 0 when shorter than
 * PMM_MIN_TRACKED_RUN: a lone free frame is the free-frame bitmap's
 * business, so taking or freeing one in the middle of a word that has no
 * other free frame next to it changes no summary in the tree. Prefixes and
 * suffixes are always exact: they join across entries.
 */
#ifndef MIO_MM_PMM_INTERNAL_H
#define MIO_MM_PMM_INTERNAL_H

#include "mm/pmm.h"

enum {
	PMM_WORD_FRAMES = 64,  /* frames per bitmap word */
	/*
	 * 8 children per node: a scan reads 96 bytes. Measured against 16 and 4
	 * on bench_pmm, before and after the middle-run update: 4 pays for more
	 * levels and more metadata, 16 for twice the children per recombine
	 * (it wins the fill by a tenth, loses the mixed runs by as much).
	 */
	PMM_FANOUT_SHIFT = 3,
	PMM_FANOUT = 1 << PMM_FANOUT_SHIFT,
	/* Node levels above the words: 2^24 frames (64 GiB) = 2^18 words need 6. */
	PMM_MAX_LEVELS = 6,
	/* Free-frame bitmap levels: 2^18 words -> 4096 bits -> 64 bits -> 1 word. */
	PMM_AVAIL_LEVELS = 3,
	/* The shortest run the tree records (see above); single frames use avail. */
	PMM_MIN_TRACKED_RUN = 2,
};

/* Free prefix, free suffix and middle free run (0 below PMM_MIN_TRACKED_RUN), in frames. */
struct pmm_node {
	uint32_t pre, suf, mid;
};

struct pmm_region {
	struct pmm_region *next; /* the next region up, or NULL */
	phys_addr_t base;        /* address of frame 0 of the region */
	size_t frames;           /* frames in the region */
	size_t words;            /* bitmap words: frames / 64 rounded up */
	size_t free, allocated, reserved; /* frame counts by state */
	uint64_t *idle, *mark;   /* the bit planes */
	unsigned avail_levels;   /* levels of the free-frame bitmap, 1 to PMM_AVAIL_LEVELS */
	size_t avail_bits[PMM_AVAIL_LEVELS];   /* entries per level; avail_bits[0] = words */
	uint64_t *avail[PMM_AVAIL_LEVELS];     /* the free-frame bitmap, level by level */
	uint8_t *leaf_mid;       /* level 0 of the tree: each word's middle run */
	unsigned levels;         /* node levels above the words; the root is at this level */
	size_t count[PMM_MAX_LEVELS + 1];             /* entries per level; count[0] = words */
	struct pmm_node *nodes[PMM_MAX_LEVELS + 1];   /* nodes[l] for 1 <= l <= levels */
};

#endif
