/*
 * Reference model of the PMM: one bit per frame and a linear first-fit scan.
 * Obviously correct and slow (O(frames) per allocation); host tests, fuzzers
 * and the benchmark compare mm/pmm.c against it. Never linked into the kernel.
 *
 * It follows the PMM's contract (mm/pmm.h) from first principles:
 *   - frames below the floor (at least frame 1), at or above PMM_MAX_PHYS,
 *     or in no usable range are never handed out;
 *   - a run lies within one usable range (a range's first frame never
 *     continues a run), starts at a multiple of the alignment and ends at or
 *     below the limit; the lowest-addressed such run wins;
 *   - a free gives back the whole run allocated at that address.
 */
#ifndef MIO_TESTS_MODEL_PMM_MODEL_H
#define MIO_TESTS_MODEL_PMM_MODEL_H

#include "lib/types.h"
#include "mm/memmap.h"
#include "mm/pmm.h"

struct pmm_model {
	phys_addr_t base; /* address of the model's frame 0 */
	size_t frames;
	uint8_t *used;        /* bit per frame: not allocatable (allocated, reserved, unmanaged) */
	uint8_t *managed;     /* bit per frame: in a usable range, above the floor */
	uint8_t *reserved;    /* bit per frame */
	uint8_t *range_first; /* bit per frame: first frame of a usable range */
	uint32_t *run_len;    /* frames of the run allocated at each frame, 0 if none starts there */
};

/* Builds the model over usable[0..count) (memmap_usable() output) above floor; all free. */
void pmm_model_init(struct pmm_model *m, const struct memmap_range *usable, size_t count,
		    phys_addr_t floor);
void pmm_model_destroy(struct pmm_model *m);

/* What pmm_frame_state() must answer for addr. */
enum pmm_frame_state pmm_model_state(const struct pmm_model *m, phys_addr_t addr);

/* True when pmm_reserve(start, end) would panic (an allocated frame in the range). */
bool pmm_model_reserve_would_panic(const struct pmm_model *m, phys_addr_t start, phys_addr_t end);
/* pmm_reserve's effect; returns the frames that went from free to reserved. */
size_t pmm_model_reserve(struct pmm_model *m, phys_addr_t start, phys_addr_t end);

/* pmm_alloc_phys's contract, by linear scan: 0 and *out, -MIO_EINVAL or -MIO_ENOMEM. */
int pmm_model_alloc(struct pmm_model *m, size_t frames, phys_addr_t align, phys_addr_t limit,
		    phys_addr_t *out);

/* pmm_alloc_phys_range's contract: as pmm_model_alloc, runs starting below min excluded. */
int pmm_model_alloc_range(struct pmm_model *m, size_t frames, phys_addr_t align, phys_addr_t min,
			  phys_addr_t limit, phys_addr_t *out);

/*
 * Marks the n frames at addr allocated as one run without searching (they
 * must be free): lets a benchmark build a large state quickly.
 */
void pmm_model_take(struct pmm_model *m, phys_addr_t addr, size_t n);

/* Why pmm_free_phys(addr) must panic, or PMM_MODEL_FREE_OK. */
enum pmm_model_free_verdict {
	PMM_MODEL_FREE_OK,
	PMM_MODEL_FREE_UNALIGNED,
	PMM_MODEL_FREE_UNMANAGED,
	PMM_MODEL_FREE_DOUBLE,
	PMM_MODEL_FREE_RESERVED,
	PMM_MODEL_FREE_INSIDE_RUN,
};
enum pmm_model_free_verdict pmm_model_free_verdict(const struct pmm_model *m, phys_addr_t addr);

/* Frees the run at addr (verdict must be OK); returns its length in frames. */
size_t pmm_model_free(struct pmm_model *m, phys_addr_t addr);

/* Frame counts over the managed frames. */
void pmm_model_stats(const struct pmm_model *m, struct pmm_stats *s);

#endif
