/*
 * Differential driver: one mm/pmm.c instance and one reference model
 * (pmm_model.h) fed the same operations. After every operation the same
 * addresses must have come back, pmm_check() must pass, the stats must
 * agree, and (when full_compare is set) every frame must be in the same
 * state in both. Misuse the model predicts to panic is run under
 * HOST_PANICS and must panic with a message naming the address, leaving the
 * PMM unchanged. Used by tests/host/test_pmm.c and fuzz/fuzz_pmm.c.
 *
 * Each function returns false on the first disagreement, described in d->why.
 */
#ifndef MIO_TESTS_MODEL_PMM_DIFF_H
#define MIO_TESTS_MODEL_PMM_DIFF_H

#include "mm/pmm.h"
#include "tests/model/pmm_model.h"

struct pmm_diff_run {
	phys_addr_t addr;
	size_t frames;
};

struct pmm_diff {
	struct pmm pmm;
	void *metadata;
	struct pmm_model model;
	struct pmm_diff_run *live; /* allocated runs, in allocation order */
	size_t live_count, live_cap;
	bool full_compare;
	/* pmm_diff_verify checks the state on every check_every-th call only (0, 1: every call) */
	unsigned check_every, unchecked;
	char why[320];
};

/* Sets up both over the same map. Returns false (why set) if the PMM panicked. */
bool pmm_diff_init(struct pmm_diff *d, const struct memmap_range *usable, size_t count,
		   phys_addr_t floor);
void pmm_diff_destroy(struct pmm_diff *d);

bool pmm_diff_reserve(struct pmm_diff *d, phys_addr_t start, phys_addr_t end);
bool pmm_diff_alloc(struct pmm_diff *d, size_t frames, phys_addr_t align, phys_addr_t limit);
/* The same with a lowest start (pmm_alloc_phys_range / pmm_model_alloc_range). */
bool pmm_diff_alloc_range(struct pmm_diff *d, size_t frames, phys_addr_t align, phys_addr_t min,
			  phys_addr_t limit);
/* The void * API: pmm_alloc(frames), compared with the model below 4 GiB. */
bool pmm_diff_alloc_ptr(struct pmm_diff *d, size_t frames);
/* Frees live run number `index % live_count` (nothing when none is live). */
bool pmm_diff_free(struct pmm_diff *d, size_t index);
/* Frees an arbitrary address: must panic exactly when the model says it is misuse. */
bool pmm_diff_free_any(struct pmm_diff *d, phys_addr_t addr);
/* pmm_check, stats and (if full_compare) every frame's state; see check_every. */
bool pmm_diff_verify(struct pmm_diff *d);

/*
 * Runs the scenario arbitrary bytes describe (a map of up to 4 small or
 * large usable ranges, or one huge one, placed low, across 16 MiB or across
 * 4 GiB; a floor; reservations; then operations: allocations with sizes,
 * alignments and limits, frees of live runs, frees of arbitrary addresses,
 * late reservations) through a pmm_diff. Small maps have every frame
 * compared and pmm_check run after every step; larger ones the addresses
 * and stats after every step and pmm_check every few steps and at the end.
 * The fuzzer and the host test share it. Returns false with why set on the
 * first disagreement.
 */
bool pmm_diff_run_bytes(const uint8_t *data, size_t size, char *why, size_t why_size);

#endif
