/*
 * Lockstep driver: runs the same operation on a heap (mm/heap.c) and on the
 * reference model (heap_ref.c) and checks that both return the same block
 * offsets, that the heap's counters agree with the model's, that every live
 * block keeps its contents, and that heap_check() stays clean. Shared by the
 * differential host test and the libFuzzer harness.
 */
#ifndef MIO_TESTS_MODEL_HEAP_DIFF_H
#define MIO_TESTS_MODEL_HEAP_DIFF_H

#include "mm/heap.h"
#include "tests/model/heap_ref.h"

#define HEAP_DIFF_SLOTS 64
/* Aligned requests go up to this; both arenas agree on addresses modulo it. */
#define HEAP_DIFF_MAX_ALIGN ((size_t)1 << 16)

enum heap_diff_op {
	HEAP_DIFF_ALLOC,   /* slot = heap_alloc(size) (frees the slot first if taken) */
	HEAP_DIFF_CALLOC,  /* slot = heap_calloc(arg, size) */
	HEAP_DIFF_ALIGNED, /* slot = heap_alloc_aligned(size, arg) */
	HEAP_DIFF_REALLOC, /* slot = heap_realloc(slot, size) */
	HEAP_DIFF_FREE,    /* heap_free(slot) */
	HEAP_DIFF_OPS
};

struct heap_diff {
	struct heap *heap;
	struct heap_ref ref;
	uint8_t *heap_arena;
	void *hp[HEAP_DIFF_SLOTS], *rp[HEAP_DIFF_SLOTS];
	size_t len[HEAP_DIFF_SLOTS];  /* bytes written with the slot's tag */
	uint8_t tag[HEAP_DIFF_SLOTS];
	unsigned steps, nulls;        /* operations run, of which returned NULL */
	bool check_every_step;        /* heap_check() after each step (else call it yourself) */
};

/*
 * Builds a heap over [heap_region, + heap_size) and the model in ref_buf,
 * which needs heap_size + HEAP_DIFF_MAX_ALIGN bytes. Returns false when the
 * heap cannot be built.
 */
bool heap_diff_init(struct heap_diff *d, void *heap_region, size_t heap_size, void *ref_buf,
		    size_t ref_buf_size);

/*
 * Runs one operation on both; returns NULL when they agree, else a
 * description of the first disagreement (valid until the next call).
 * Panics (through heap_check or the heap itself) on a broken heap.
 */
const char *heap_diff_step(struct heap_diff *d, enum heap_diff_op op, unsigned slot, size_t size,
			   size_t arg);

/* Frees every slot on both sides (checking contents), then compares once more. */
const char *heap_diff_drain(struct heap_diff *d);

#endif
