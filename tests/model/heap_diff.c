/* Lockstep driver for the heap and its reference model; see heap_diff.h. */
#include "tests/model/heap_diff.h"

#include "lib/kprintf.h"
#include "lib/string.h"

static char why[256];

#define DISAGREE(...) (ksnprintf(why, sizeof(why), __VA_ARGS__), why)

bool heap_diff_init(struct heap_diff *d, void *heap_region, size_t heap_size, void *ref_buf,
		    size_t ref_buf_size)
{
	struct heap_stats st;

	memset(d, 0, sizeof(*d));
	d->check_every_step = true;
	d->heap = heap_init(heap_region, heap_size);
	if (!d->heap)
		return false;
	heap_stats(d->heap, &st);
	d->heap_arena = st.arena;
	/* Put the model's arena at the same address modulo the largest alignment. */
	uintptr_t want = (uintptr_t)st.arena % HEAP_DIFF_MAX_ALIGN;
	uintptr_t base = (uintptr_t)ref_buf;
	uintptr_t arena = base - base % HEAP_DIFF_MAX_ALIGN + want;
	if (arena < base)
		arena += HEAP_DIFF_MAX_ALIGN;
	if (arena + st.arena_bytes > base + ref_buf_size)
		return false;
	heap_ref_init(&d->ref, (void *)arena, st.arena_bytes);
	return true;
}

static size_t heap_offset(const struct heap_diff *d, const void *p)
{
	return (size_t)((const uint8_t *)p - d->heap_arena);
}

static size_t ref_offset(const struct heap_diff *d, const void *p)
{
	return (size_t)((const uint8_t *)p - d->ref.arena);
}

/* Fills the first len bytes of a slot's heap block with its tag. */
static void stamp(struct heap_diff *d, unsigned slot, size_t len)
{
	d->tag[slot] = (uint8_t)(d->steps * 31 + slot + 1);
	d->len[slot] = len;
	memset(d->hp[slot], d->tag[slot], len);
}

/* The first n bytes of the slot still carry its tag? */
static const char *verify(const struct heap_diff *d, unsigned slot, size_t n)
{
	const uint8_t *p = d->hp[slot];
	/* All n bytes equal when the first is the tag and each equals the next: one memcmp. */
	if (n == 0 || (p[0] == d->tag[slot] && memcmp(p, p + 1, n - 1) == 0))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] != d->tag[slot])
			return DISAGREE("slot %u: byte %zu of the block at offset %zu changed", slot, i,
					heap_offset(d, p));
	}
	return NULL;
}

static const char *compare_results(const struct heap_diff *d, const char *what, const void *h,
				   const void *r)
{
	if ((h == NULL) != (r == NULL) || (h && heap_offset(d, h) != ref_offset(d, r)))
		return DISAGREE("step %u %s: heap gave %s%zu, reference %s%zu", d->steps, what,
				h ? "offset " : "NULL ", h ? heap_offset(d, h) : 0,
				r ? "offset " : "NULL ", r ? ref_offset(d, r) : 0);
	if (h && (uintptr_t)h % HEAP_GRANULE != 0)
		return DISAGREE("step %u %s: %p is not 16-byte aligned", d->steps, what, h);
	return NULL;
}

static const char *compare_state(const struct heap_diff *d)
{
	struct heap_stats st;

	heap_stats(d->heap, &st);
	if (st.used_blocks != d->ref.used_blocks || st.free_blocks != d->ref.free_blocks ||
	    st.used_bytes != d->ref.used_bytes || st.largest_free != heap_ref_largest_free(&d->ref))
		return DISAGREE("step %u: heap has %zu used (%zu bytes), %zu free, largest %zu; "
				"reference %zu used (%zu bytes), %zu free, largest %zu",
				d->steps, st.used_blocks, st.used_bytes, st.free_blocks, st.largest_free,
				d->ref.used_blocks, d->ref.used_bytes, d->ref.free_blocks,
				heap_ref_largest_free(&d->ref));
	if (d->check_every_step)
		heap_check(d->heap);
	return NULL;
}

static const char *free_slot(struct heap_diff *d, unsigned slot)
{
	const char *bad = verify(d, slot, d->len[slot]);
	if (bad)
		return bad;
	heap_free(d->heap, d->hp[slot]);
	heap_ref_free(&d->ref, d->rp[slot]);
	d->hp[slot] = d->rp[slot] = NULL;
	d->len[slot] = 0;
	return NULL;
}

static const char *run(struct heap_diff *d, enum heap_diff_op op, unsigned slot, size_t size,
		       size_t arg)
{
	const char *bad;
	void *h, *r;

	if (op == HEAP_DIFF_FREE || op == HEAP_DIFF_REALLOC) {
		if (op == HEAP_DIFF_FREE)
			return d->hp[slot] ? free_slot(d, slot) : NULL;
		if ((bad = verify(d, slot, d->len[slot])) != NULL)
			return bad;
		h = heap_realloc(d->heap, d->hp[slot], size);
		r = heap_ref_realloc(&d->ref, d->rp[slot], size);
		if ((bad = compare_results(d, "realloc", h, r)) != NULL)
			return bad;
		if (!h && size != 0) { /* failed: the old block stays */
			d->nulls++;
			return NULL;
		}
		size_t kept = MIN(d->len[slot], size);
		d->hp[slot] = h;
		d->rp[slot] = r;
		d->len[slot] = kept;
		if (h && (bad = verify(d, slot, kept)) != NULL)
			return bad;
		if (h)
			memset((uint8_t *)h + kept, d->tag[slot], size - kept);
		d->len[slot] = h ? size : 0;
		return NULL;
	}
	if (d->hp[slot] && (bad = free_slot(d, slot)) != NULL)
		return bad;
	switch (op) {
	case HEAP_DIFF_ALLOC:
		h = heap_alloc(d->heap, size);
		r = heap_ref_alloc(&d->ref, size);
		break;
	case HEAP_DIFF_CALLOC:
		h = heap_calloc(d->heap, arg, size);
		r = heap_ref_calloc(&d->ref, arg, size);
		size = h ? arg * size : 0; /* no overflow when it succeeded */
		for (size_t i = 0; i < size; i++) {
			if (((uint8_t *)h)[i] != 0)
				return DISAGREE("step %u calloc: byte %zu is not zero", d->steps, i);
		}
		break;
	default:
		h = heap_alloc_aligned(d->heap, size, arg);
		r = heap_ref_alloc_aligned(&d->ref, size, arg);
		if (h && (uintptr_t)h % arg != 0)
			return DISAGREE("step %u: %p is not %zu-aligned", d->steps, h, arg);
		break;
	}
	if ((bad = compare_results(d, "allocation", h, r)) != NULL)
		return bad;
	d->nulls += h == NULL;
	d->hp[slot] = h;
	d->rp[slot] = r;
	if (h)
		stamp(d, slot, size);
	return NULL;
}

const char *heap_diff_step(struct heap_diff *d, enum heap_diff_op op, unsigned slot, size_t size,
			   size_t arg)
{
	const char *bad = run(d, op, slot % HEAP_DIFF_SLOTS, size, arg);
	if (bad)
		return bad;
	d->steps++;
	return compare_state(d);
}

const char *heap_diff_drain(struct heap_diff *d)
{
	for (unsigned s = 0; s < HEAP_DIFF_SLOTS; s++) {
		const char *bad = d->hp[s] ? free_slot(d, s) : NULL;
		if (bad)
			return bad;
	}
	return compare_state(d);
}
