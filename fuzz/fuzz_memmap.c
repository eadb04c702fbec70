/*
 * libFuzzer harness: random memory maps (unsorted, overlapping, empty,
 * wrapping, across 4 GiB and 2^52, every type) through memmap_resolve and
 * memmap_usable, compared with the brute-force model granule by granule.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tests/model/memmap_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct memmap_entry raw[MEMMAP_MODEL_MAX_ENTRIES];
	struct memmap_window w;
	char why[320];

	size_t n = memmap_model_decode(data, size, &w, raw, ARRAY_SIZE(raw));
	if (!memmap_model_compare(raw, n, &w, why, sizeof(why))) {
		fprintf(stderr, "memmap differs from the model: %s\n", why);
		abort();
	}
	return 0;
}
