/*
 * The kernel's heap: one global struct heap behind kmalloc and friends.
 * Portable: the kernel attaches it to its physical range at boot
 * (kernel/kheap_init.c), host tests attach it to a buffer.
 */
#include "lib/panic.h"
#include "mm/heap.h"

static struct heap *kheap;

struct heap *kheap_attach(void *base, size_t size)
{
	struct heap *h = heap_init(base, size);
	if (!h)
		panic("kheap: %zu bytes at %p cannot hold a heap", size, base);
	kheap = h;
	return h;
}

struct heap *kheap_instance(void)
{
	return kheap;
}

static inline struct heap *the_heap(void)
{
	if (!kheap)
		panic("kheap: used before kheap_attach()");
	return kheap;
}

void *kmalloc(size_t size) { return heap_alloc(the_heap(), size); }
void *kcalloc(size_t num, size_t size) { return heap_calloc(the_heap(), num, size); }
void *krealloc(void *ptr, size_t size) { return heap_realloc(the_heap(), ptr, size); }
void *kmalloc_aligned(size_t size, size_t align) { return heap_alloc_aligned(the_heap(), size, align); }
void kheap_stats(struct heap_stats *out) { heap_stats(the_heap(), out); }
void kheap_check(void) { heap_check(the_heap()); }
void kheap_dump(void) { heap_dump(the_heap()); }

void kfree(void *ptr)
{
	if (ptr)
		heap_free(the_heap(), ptr);
}
