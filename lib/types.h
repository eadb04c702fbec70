/*
 * Basic types shared by every part of MioOS-C, portable and x86 alike.
 *
 * Addresses carry their kind in their type: a physical address is always
 * 64 bits wide (PAE/PSE-36 machines have RAM above 4 GiB even though the
 * kernel itself is 32-bit), a virtual address is as wide as a pointer.
 * Convert between them only through the explicit helpers below, so a grep
 * finds every place that assumes an identity mapping.
 */
#ifndef MIO_LIB_TYPES_H
#define MIO_LIB_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t phys_addr_t;  /* a physical (bus) address */
typedef uintptr_t virt_addr_t; /* a virtual address in the current space */

#define PAGE_SHIFT 12
#define PAGE_SIZE ((size_t)1 << PAGE_SHIFT) /* 4 KiB */

/* Round x down / up to a multiple of a, which must be a power of two. */
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + ((__typeof__(x))(a) - 1), (a))
#define IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a) - 1)) == 0)
#define IS_POWER_OF_TWO(x) ((x) != 0 && ((x) & ((x) - 1)) == 0)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Whether the half-open ranges [a_start, a_end) and [b_start, b_end) share
 * a byte. An empty range shares none, wherever it lies.
 */
static inline bool ranges_overlap(uint64_t a_start, uint64_t a_end, uint64_t b_start, uint64_t b_end)
{
	return a_start < a_end && b_start < b_end && a_start < b_end && b_start < a_end;
}

/* Error codes returned as negative ints by APIs whose callers can recover. */
enum mio_error {
	MIO_OK = 0,
	MIO_EINVAL = 1,  /* malformed argument: misaligned, out of range */
	MIO_ENOMEM = 2,  /* no memory (frames, heap, page tables) left */
	MIO_EEXIST = 3,  /* something is already there (mapping over a mapping) */
	MIO_ENOENT = 4,  /* nothing is there (unmapping what is not mapped) */
	MIO_EPERM = 5,   /* the target is protected (kernel identity map, recursive slot) */
	MIO_ENOTSUP = 6, /* the CPU lacks the feature the request needs */
};

/* A human-readable name for a (positive or negative) mio_error code. */
const char *mio_strerror(int err);

#endif
