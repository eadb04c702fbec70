/*
 * Linear first fit over the block list; see heap_ref.h.
 *
 * The arena is tiled by blocks in address order (the textbook implicit
 * list with boundary tags, kept in the model's own arena). A block at
 * offset o starts with a 32-bit word holding its size (a multiple of 16) |
 * USED | PREV_FREE; a free block also ends with its size, so freeing merges
 * with both neighbours in O(1). Its payload starts HEAP_HEADER_SIZE bytes
 * in (over the tag when that is 0: nobody writes to the model's blocks). Allocation walks the whole block
 * list from the first block and takes the first free block large enough.
 */
#include "tests/model/heap_ref.h"

#include "mm/heap.h"

#define USED 1u
#define PREV_FREE 2u
#define FLAGS (USED | PREV_FREE)

static uint32_t *word(const struct heap_ref *r, uint32_t o) { return (uint32_t *)(r->arena + o); }
static uint32_t size_of(const struct heap_ref *r, uint32_t o) { return *word(r, o) & ~FLAGS; }
static bool used(const struct heap_ref *r, uint32_t o) { return *word(r, o) & USED; }
static void *payload_of(const struct heap_ref *r, uint32_t o) { return r->arena + o + HEAP_HEADER_SIZE; }
static uint32_t offset_of(const struct heap_ref *r, void *p)
{
	return (uint32_t)((uint8_t *)p - r->arena - HEAP_HEADER_SIZE);
}

/* Block bytes for a request: header, payload, red zone, rounded to granules. 0 if invalid. */
static uint32_t need_for(size_t n)
{
	if (n == 0 || n > HEAP_MAX_ARENA)
		return 0;
	size_t need = n + HEAP_HEADER_SIZE + HEAP_REDZONE_MIN;
	need = (need + HEAP_GRANULE - 1) / HEAP_GRANULE * HEAP_GRANULE;
	return (uint32_t)(need < HEAP_MIN_BLOCK ? HEAP_MIN_BLOCK : need);
}

/* The first free block of at least need bytes, or HEAP_REF_NONE. */
static uint32_t first_fit(const struct heap_ref *r, uint32_t need)
{
	for (uint32_t o = 0; o < r->bytes; o += size_of(r, o)) {
		if (!used(r, o) && size_of(r, o) >= need)
			return o;
	}
	return HEAP_REF_NONE;
}

/* Writes a free block's header (the block before it is used) and footer. */
static void set_free(struct heap_ref *r, uint32_t o, uint32_t size, uint32_t flags)
{
	*word(r, o) = size | flags;
	*word(r, o + size - 4) = size;
}

/* Sets or clears the PREV_FREE flag of the block at o, if there is one. */
static void mark_prev(struct heap_ref *r, uint32_t o, bool free)
{
	if (o < r->bytes)
		*word(r, o) = free ? *word(r, o) | PREV_FREE : *word(r, o) & ~PREV_FREE;
}

/* Takes need bytes from the front of free block o (all of it if the rest is too small). */
static uint32_t take_front(struct heap_ref *r, uint32_t o, uint32_t need)
{
	uint32_t size = size_of(r, o);
	if (size - need >= HEAP_MIN_BLOCK) {
		set_free(r, o + need, size - need, 0);
		return need;
	}
	mark_prev(r, o + size, false);
	r->free_blocks--;
	return size;
}

static void *use(struct heap_ref *r, uint32_t o, uint32_t size)
{
	*word(r, o) = size | USED | (*word(r, o) & PREV_FREE);
	r->used_blocks++;
	r->used_bytes += size;
	return payload_of(r, o);
}

/*
 * Makes [o, o + size), whose header is still in place, a free block merged
 * with free neighbours on both sides.
 */
static void make_free(struct heap_ref *r, uint32_t o, uint32_t size)
{
	r->free_blocks++;
	if (o + size < r->bytes && !used(r, o + size)) {
		size += size_of(r, o + size);
		r->free_blocks--;
	} else {
		mark_prev(r, o + size, true);
	}
	if (*word(r, o) & PREV_FREE) {
		uint32_t prev_size = *word(r, o - 4);
		o -= prev_size;
		size += prev_size;
		r->free_blocks--;
	}
	set_free(r, o, size, 0);
}

void heap_ref_init(struct heap_ref *r, void *arena, size_t bytes)
{
	*r = (struct heap_ref){ .arena = arena, .bytes = (uint32_t)bytes, .free_blocks = 1 };
	set_free(r, 0, (uint32_t)bytes, 0);
}

void *heap_ref_alloc(struct heap_ref *r, size_t n)
{
	uint32_t need = need_for(n);
	uint32_t o = need ? first_fit(r, need) : HEAP_REF_NONE;
	if (o == HEAP_REF_NONE)
		return NULL;
	return use(r, o, take_front(r, o, need));
}

void *heap_ref_calloc(struct heap_ref *r, size_t num, size_t size)
{
	if (size != 0 && num > SIZE_MAX / size)
		return NULL;
	return heap_ref_alloc(r, num * size); /* placement only: nothing to zero */
}

void *heap_ref_alloc_aligned(struct heap_ref *r, size_t n, size_t align)
{
	if (align == 0 || (align & (align - 1)) != 0)
		return NULL;
	if (align <= HEAP_GRANULE)
		return heap_ref_alloc(r, n);
	uint32_t need = need_for(n);
	if (need == 0 || align > HEAP_MAX_ARENA ||
	    need + align + HEAP_MIN_BLOCK - HEAP_GRANULE > HEAP_MAX_ARENA)
		return NULL;
	uint32_t o = first_fit(r, need + (uint32_t)align + HEAP_MIN_BLOCK - HEAP_GRANULE);
	if (o == HEAP_REF_NONE)
		return NULL;
	uintptr_t p = (uintptr_t)payload_of(r, o);
	uint32_t gap = (uint32_t)((align - p % align) % align);
	if (gap != 0 && gap < HEAP_MIN_BLOCK)
		gap += (uint32_t)align;
	if (gap != 0) { /* [o, o + gap) stays free; the rest becomes a free block of its own */
		set_free(r, o + gap, size_of(r, o) - gap, PREV_FREE);
		set_free(r, o, gap, 0);
		r->free_blocks++;
		o += gap;
	}
	return use(r, o, take_front(r, o, need));
}

void heap_ref_free(struct heap_ref *r, void *p)
{
	if (!p)
		return;
	uint32_t o = offset_of(r, p), size = size_of(r, o);
	r->used_blocks--;
	r->used_bytes -= size;
	make_free(r, o, size);
}

void *heap_ref_realloc(struct heap_ref *r, void *p, size_t n)
{
	if (!p)
		return heap_ref_alloc(r, n);
	if (n == 0) {
		heap_ref_free(r, p);
		return NULL;
	}
	uint32_t need = need_for(n);
	if (need == 0)
		return NULL;
	uint32_t o = offset_of(r, p), size = size_of(r, o), next = o + size;
	if (need <= size) { /* shrink: a tail big enough becomes free memory */
		if (size - need >= HEAP_MIN_BLOCK) {
			*word(r, o) = need | (*word(r, o) & FLAGS);
			*word(r, o + need) = size - need; /* its block before is used */
			r->used_bytes -= size - need;
			make_free(r, o + need, size - need);
		}
		return p;
	}
	if (next < r->bytes && !used(r, next) && size + size_of(r, next) >= need) {
		uint32_t taken = take_front(r, next, need - size); /* grow into the next block */
		*word(r, o) += taken;
		r->used_bytes += taken;
		return p;
	}
	void *q = heap_ref_alloc(r, n); /* placement only: nothing to copy */
	if (!q)
		return NULL;
	heap_ref_free(r, p);
	return q;
}

size_t heap_ref_largest_free(const struct heap_ref *r)
{
	uint32_t largest = 0;
	for (uint32_t o = 0; o < r->bytes; o += size_of(r, o)) {
		if (!used(r, o))
			largest = MAX(largest, size_of(r, o));
	}
	return largest;
}
