/*
 * A two-level segregated-fit allocator after the TLSF design (Masmano,
 * Ripoll, Crespo, Real, 2004), written here for the benchmarks only: the
 * well-known O(1) good-fit allocator the heap issue measures kmalloc
 * against, so that both run in the same process on the same workloads. It
 * is not part of the kernel and carries no hardening.
 *
 * The classic parameters: 32 second-level classes per power of two, sizes
 * in machine words (8-byte alignment on x86-64, 4 on i686), one size word
 * in front of every block (a used block's whole overhead), free blocks on
 * doubly linked lists found with two bitmap scans, a request rounded up to
 * the next class so any block on that class's list fits, the remainder
 * split off and neighbours merged at once on free.
 */
#ifndef MIO_BENCH_TLSF_H
#define MIO_BENCH_TLSF_H

#include <stdbool.h>
#include <stddef.h>

struct tlsf;

/*
 * Builds an empty allocator over [base, base + size); its control block
 * sits at the start of the region and counts against it. Returns NULL when
 * the region is too small or 1 GiB or larger.
 */
struct tlsf *tlsf_init(void *base, size_t size);

/* size bytes aligned to sizeof(size_t), or NULL (size 0, too large, no fitting block). */
void *tlsf_alloc(struct tlsf *t, size_t size);

/* Frees a pointer tlsf_alloc returned; NULL does nothing. */
void tlsf_free(struct tlsf *t, void *ptr);

/*
 * Walks every block and every free list and checks that they agree: the
 * blocks tile the pool, no two free blocks touch, every flag and back
 * pointer holds, every free block sits on the list of its class, and the
 * bitmaps say which lists are empty. Returns NULL, or what is wrong.
 * *used_out (when not NULL) receives the number of used blocks.
 */
const char *tlsf_check(const struct tlsf *t, size_t *used_out);

#endif
