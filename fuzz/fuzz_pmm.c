/*
 * libFuzzer harness: random maps, reservations and sequences of
 * allocations (sizes, alignments, limits, the void * API) and frees (of live
 * runs and of arbitrary addresses) through the PMM and the linear reference
 * model side by side (tests/model/pmm_diff.c). After every operation the
 * same addresses must have come back, pmm_check must pass and every frame
 * must be in the same state. Misuse the model predicts to panic is run
 * under HOST_PANICS and must panic with a message naming the address.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/model/pmm_diff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[400];
	if (size > 3 * 400)
		return 0; /* long inputs only slow the search down */
	if (!pmm_diff_run_bytes(data, size, why, sizeof(why))) {
		fprintf(stderr, "pmm differs from the model: %s\n", why);
		abort();
	}
	return 0;
}
