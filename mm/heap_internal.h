/*
 * The heap's data layout, shared by mm/heap.c and the host tests that
 * corrupt it on purpose to prove heap_check() notices. Nothing else should
 * include it.
 *
 * Granule g of a heap is the 16 bytes at arena + 16 * g; a block is named by
 * the granule it starts at. Chunk c covers granules [64c, 64c + 64):
 *
 *     map[c].free   bit i set: a free block starts at granule 64c + i
 *     map[c].live   bit i set: an allocated block starts there, or i is the
 *                   sentinel (granule `granules`, just past the arena)
 *
 * A block ends where the next marked granule (free or live) is: the maps
 * are the only record of block boundaries; nothing the heap relies on is
 * kept inside blocks (debug builds keep the requested size there, for the
 * red-zone check only).
 *
 * summary[0] has bit c set when chunk c holds any mark; summary[l + 1] has
 * bit i set when word i of summary[l] is not zero. The top level is one
 * word. So the next (previous) mark after (before) a granule is found with
 * a few bit scans however far away it is.
 *
 * The max-tree, in granules: leaves[c] is the size of the largest free
 * block starting in chunk c, saturated at INT16_MAX; tree[1][i] is the
 * exact largest free block starting in chunks [64i, 64i + 64) (a group of
 * HEAP_LEAF_FANOUT leaves), and tree[l][i] (l >= 2) the largest of entries
 * [64i, 64i + 64) of level l - 1 (HEAP_TREE_FANOUT). Every level is padded
 * with zeros to whole groups; there is at least one level above the
 * leaves, and the top level is a single group.
 */
#ifndef MIO_MM_HEAP_INTERNAL_H
#define MIO_MM_HEAP_INTERNAL_H

#include "mm/heap.h"

/*
 * Fan-outs: leaves under one level-1 entry, and entries under one entry of
 * the levels above. 64 and 64 give arenas up to 4 MiB a single level above
 * the leaves, so a search is one vector round under the (predicted) test of
 * the first top entry. Measured on bench/heap (ns/op, small-1000 / uniform /
 * small-4000): 16,16: 36.9 / 43.7 / 37.3; 64,16: 35.2 / 39.0 / 37.4;
 * 64,64: 31.5 / 37.5 / 36.8.
 */
#define HEAP_LEAF_FANOUT 64
#define HEAP_TREE_FANOUT 64

enum {
	HEAP_CHUNK_SHIFT = 6, /* 64 granules per chunk: one 64-bit word of each map */
	HEAP_CHUNK_GRANULES = 1 << HEAP_CHUNK_SHIFT,
	HEAP_WORD_SHIFT = 6, /* 64 bits per summary word */
	/* HEAP_MAX_ARENA is 2^26 granules, 2^20 chunks: summary words 2^14, 2^8, 4, 1. */
	HEAP_SUMMARY_LEVELS = 4,
	/* 2^20 leaves: at most 6 levels for fan-outs of 16 or more. */
	HEAP_TREE_LEVELS = 6,
};

/* The two marks of one chunk, side by side: a size lookup reads both in one line. */
struct heap_chunk_map {
	uint64_t free;
	uint64_t live;
};

struct heap {
	uint32_t magic;
	uint32_t granules;                 /* arena length; the sentinel mark sits here */
	uint32_t chunks;                   /* map entries: granules / 64 + 1 */
	uint32_t summary_levels;
	uint32_t tree_levels;              /* level 0 is the leaves */
	uint8_t *arena;                    /* granule 0 */
	struct heap_chunk_map *map;
	uint64_t *summary[HEAP_SUMMARY_LEVELS];
	uint32_t summary_words[HEAP_SUMMARY_LEVELS];
	int16_t *leaves;                   /* one per chunk: level 0 of the tree */
	int32_t *tree[HEAP_TREE_LEVELS];   /* levels 1 .. tree_levels - 1; tree[0] is unused */
	uint32_t tree_len[HEAP_TREE_LEVELS]; /* entries per level (tree_len[0]: leaves), multiples of 16 */
	size_t free_blocks, used_blocks;
	size_t used_granules;
	size_t metadata_bytes;
};

/*
 * The bytes from base to the first granule of a heap of `granules` granules
 * built at base: what heap_init() lays out. The tests use it to prove
 * heap_init() picks the largest arena that fits its region.
 */
size_t heap_metadata_bytes_for(const void *base, uint32_t granules);

#endif
