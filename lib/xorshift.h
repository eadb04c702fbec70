/*
 * xorshift64 (Marsaglia): the seeded generator the tests, fuzz models and
 * benchmarks draw their random operations from. Cheap enough not to show
 * in a benchmark's figures, and the same sequence on every run and target.
 * The state must not start at 0 (it would stay 0).
 */
#ifndef MIO_LIB_XORSHIFT_H
#define MIO_LIB_XORSHIFT_H

#include "lib/types.h"

/* Advances *s and returns the new state. */
static inline uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
