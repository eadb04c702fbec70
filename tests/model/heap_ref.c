/*
 * Linear first fit over an address-ordered free list; see heap_ref.h.
 * Block at offset o: a 32-bit word at o holds size | 1 when used; a free
 * block keeps the offset of the next free block in the word after it.
 */
#include "tests/model/heap_ref.h"

#include "lib/string.h"
#include "mm/heap.h"

#define USED 1u

static uint32_t *word(const struct heap_ref *r, uint32_t o) { return (uint32_t *)(r->arena + o); }
static uint32_t size_of(const struct heap_ref *r, uint32_t o) { return *word(r, o) & ~USED; }
static uint32_t *next_of(const struct heap_ref *r, uint32_t o) { return word(r, o + 4); }
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

/* The link that points at free block o (the head or a predecessor's next word). */
static uint32_t *link_to(struct heap_ref *r, uint32_t o)
{
	uint32_t *link = &r->free_head;
	while (*link != o)
		link = next_of(r, *link);
	return link;
}

/* Puts a free block [o, o + size) on the list, merging with free neighbours. */
static void insert_free(struct heap_ref *r, uint32_t o, uint32_t size)
{
	uint32_t pred = HEAP_REF_NONE, succ = r->free_head;
	while (succ != HEAP_REF_NONE && succ < o) {
		pred = succ;
		succ = *next_of(r, succ);
	}
	r->free_blocks++;
	if (succ != HEAP_REF_NONE && o + size == succ) { /* absorb the successor */
		size += size_of(r, succ);
		succ = *next_of(r, succ);
		r->free_blocks--;
	}
	if (pred != HEAP_REF_NONE && pred + size_of(r, pred) == o) { /* grow the predecessor */
		*word(r, pred) = size_of(r, pred) + size;
		*next_of(r, pred) = succ;
		r->free_blocks--;
		return;
	}
	*word(r, o) = size;
	*next_of(r, o) = succ;
	if (pred == HEAP_REF_NONE)
		r->free_head = o;
	else
		*next_of(r, pred) = o;
}

/* Takes need bytes from the front of free block o (all of it if the rest is too small). */
static uint32_t take_front(struct heap_ref *r, uint32_t o, uint32_t need)
{
	uint32_t *link = link_to(r, o);
	uint32_t size = size_of(r, o), next = *next_of(r, o);
	if (size - need >= HEAP_MIN_BLOCK) {
		*link = o + need;
		*word(r, o + need) = size - need;
		*next_of(r, o + need) = next;
		return need;
	}
	*link = next;
	r->free_blocks--;
	return size;
}

static void *use(struct heap_ref *r, uint32_t o, uint32_t size)
{
	*word(r, o) = size | USED;
	r->used_blocks++;
	r->used_bytes += size;
	return payload_of(r, o);
}

static uint32_t first_fit(const struct heap_ref *r, uint32_t need)
{
	uint32_t o = r->free_head;
	while (o != HEAP_REF_NONE && size_of(r, o) < need)
		o = *next_of(r, o);
	return o;
}

void heap_ref_init(struct heap_ref *r, void *arena, size_t bytes)
{
	*r = (struct heap_ref){ .arena = arena, .bytes = (uint32_t)bytes, .free_blocks = 1 };
	*word(r, 0) = (uint32_t)bytes;
	*next_of(r, 0) = HEAP_REF_NONE;
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
	void *p = heap_ref_alloc(r, num * size);
	if (p)
		memset(p, 0, num * size);
	return p;
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
	if (gap != 0) { /* [o, o + gap) stays free; the rest becomes the next free block */
		uint32_t size = size_of(r, o);
		*word(r, o + gap) = size - gap;
		*next_of(r, o + gap) = *next_of(r, o);
		*word(r, o) = gap;
		*next_of(r, o) = o + gap;
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
	insert_free(r, o, size);
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
			*word(r, o) = need | USED;
			r->used_bytes -= size - need;
			insert_free(r, o + need, size - need);
		}
		return p;
	}
	if (next < r->bytes && !(*word(r, next) & USED) && size + size_of(r, next) >= need) {
		uint32_t taken = take_front(r, next, need - size);
		*word(r, o) = (size + taken) | USED;
		r->used_bytes += taken;
		return p;
	}
	void *q = heap_ref_alloc(r, n);
	if (!q)
		return NULL;
	memcpy(q, p, MIN((size_t)size - HEAP_HEADER_SIZE, n));
	heap_ref_free(r, p);
	return q;
}

size_t heap_ref_largest_free(const struct heap_ref *r)
{
	uint32_t largest = 0;
	for (uint32_t o = r->free_head; o != HEAP_REF_NONE; o = *next_of(r, o))
		largest = MAX(largest, size_of(r, o));
	return largest;
}
