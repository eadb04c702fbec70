/*
 * libFuzzer harness for mm/heap.c: the input is a program of heap
 * operations (allocate, calloc, aligned, realloc, free) run in lockstep on
 * the heap and on the linear reference model (tests/model/heap_diff.c).
 * A finding is: different addresses, different counters, a block whose
 * contents changed, heap_check() failing, or any sanitizer report. Only
 * valid operations are generated (frees of live slots), so the heap never
 * panics on purpose.
 *
 * Input: byte 0 picks the region's offset (0-63) and its size in steps of
 * 256 bytes (4-68 KiB), byte 1 takes 0-255 bytes off that size (so every
 * size is reachable), then 5 bytes per operation:
 *   op  slot  size_lo  size_hi  arg
 *
 * Byte 0 = 0xff asks for a large heap instead: byte 1 picks its size, 1 MiB
 * to 13 MiB in steps of 48 KiB less a few bytes, and its offset, and sizes
 * go up to 8 MiB. Only there do free blocks reach 512 KiB (the saturated
 * leaves and their exact sizes from the maps) and, past 4 MiB, does the
 * tree grow a level above level 1 (a top level of several entries).
 */
#include <sanitizer/asan_interface.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/model/heap_diff.h"

#define SMALL_REGION (68 * 1024)
#define LARGE_REGION ((size_t)13 << 20)
#define LARGE_MODE 0xff

/* Separate, so a small heap poisons 68 KiB of shadow per input, not 13 MiB. */
static uint8_t small_region[SMALL_REGION] __attribute__((aligned(4096)));
static uint8_t large_region[LARGE_REGION] __attribute__((aligned(4096)));
static uint8_t ref_buf[LARGE_REGION + HEAP_DIFF_MAX_ALIGN];
static struct heap_diff d;

/*
 * Sizes: mostly small, a few spanning the heap, a few absurd. A large heap
 * takes the spanning ones in 256-byte steps: up to 8 MiB.
 */
static size_t decode_size(uint8_t lo, uint8_t hi, uint8_t arg, bool large)
{
	size_t raw = (size_t)lo | (size_t)hi << 8;
	if (hi == 0xff && lo >= 0xf0)
		return SIZE_MAX - (size_t)(lo & 0x0f) * (arg + 1); /* overflow paths */
	if (hi & 0x80)
		return (raw & 0x7fff) * (large ? 256 : 1); /* up to 32 KiB, or 8 MiB */
	return raw & 0x1ff;                                /* up to 511 bytes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	bool large = data[0] == LARGE_MODE;
	uint8_t *region = large ? large_region : small_region;
	size_t region_bytes = large ? sizeof(large_region) : sizeof(small_region);
	size_t heap_bytes = large ? ((size_t)1 << 20) + (size_t)data[1] * 48 * 1024 - data[1]
				  : 4096 + (size_t)data[0] * 256 - data[1];
	uint8_t *base = region + ((large ? data[1] : data[0]) & 0x3f);
	/*
	 * Whatever lies outside [base, base + heap_bytes) is poisoned, so ASan
	 * reports any byte the heap writes there, its metadata and debug fill
	 * included. (heap_init once ran the arena past regions of some sizes:
	 * about one in seventy between 4 and 68 KiB.)
	 */
	ASAN_POISON_MEMORY_REGION(region, region_bytes);
	ASAN_UNPOISON_MEMORY_REGION(base, heap_bytes);
	if (!heap_diff_init(&d, base, heap_bytes, ref_buf, sizeof(ref_buf)))
		return 0;
	struct heap_stats st;
	heap_stats(d.heap, &st);
	if ((uint8_t *)st.arena + st.arena_bytes > base + heap_bytes) {
		fprintf(stderr, "fuzz_heap: a %zu-byte region got an arena ending %zu bytes past it\n",
			heap_bytes, (size_t)((uint8_t *)st.arena + st.arena_bytes - (base + heap_bytes)));
		abort();
	}
	for (size_t i = 2; i + 5 <= size; i += 5) {
		const uint8_t *b = &data[i];
		enum heap_diff_op op = (enum heap_diff_op)(b[0] % HEAP_DIFF_OPS);
		size_t n = decode_size(b[2], b[3], b[4], large), arg = b[4];
		if (op == HEAP_DIFF_CALLOC) {
			arg = b[4] == 0xff ? SIZE_MAX / 2 : b[4] % 16;
			n %= 1024;
		} else if (op == HEAP_DIFF_ALIGNED) {
			arg = b[4] & 0x80 ? (size_t)b[4] * 3 : (size_t)1 << (b[4] % 17);
		}
		const char *bad = heap_diff_step(&d, op, b[1], n, arg);
		if (bad) {
			fprintf(stderr, "fuzz_heap: %s\n", bad);
			abort();
		}
	}
	const char *bad = heap_diff_drain(&d);
	if (bad) {
		fprintf(stderr, "fuzz_heap: %s\n", bad);
		abort();
	}
	return 0;
}
