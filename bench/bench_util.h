/*
 * What every benchmark needs the same way: a clock, a seeded generator
 * (xorshift64, from lib/xorshift.h, which the host tests draw from too) and
 * the median that the tables report. Header-only: each bench is one file.
 */
#ifndef MIO_BENCH_UTIL_H
#define MIO_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "lib/xorshift.h"

/* Monotonic nanoseconds; only differences mean anything. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v in place; for an even n, the mean of the two middle samples. */
static inline double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
