/* The VMM's reference model: see vmm_ref.h. Plain loops over a flat table. */
#include "tests/model/vmm_ref.h"

#include <stdlib.h>
#include <string.h>

#define K4 ((uint64_t)PAGE_SIZE)
#define M4 ((uint64_t)LARGE_PAGE_SIZE)
#define G4 ((uint64_t)1 << 32)
#define PAGES_PER_SLOT 1024u
#define SLOTS_USABLE (VMM_RESERVED_BASE / M4) /* slots below the reserved top */

void vmm_ref_init(struct vmm_ref *ref, struct vmm_caps caps)
{
	memset(ref, 0, sizeof(*ref));
	ref->caps = caps;
	ref->pages = calloc(VMM_REF_PAGES, sizeof(*ref->pages));
	if (!ref->pages)
		abort();
}

void vmm_ref_reset(struct vmm_ref *ref, struct vmm_caps caps)
{
	for (size_t slot = 0; slot < PT_ENTRIES; slot++)
		if (ref->used[slot])
			memset(&ref->pages[slot * PAGES_PER_SLOT], 0,
			       PAGES_PER_SLOT * sizeof(*ref->pages));
	memset(ref->used, 0, sizeof(ref->used));
	memset(ref->small, 0, sizeof(ref->small));
	ref->protected_count = 0;
	ref->caps = caps;
}

void vmm_ref_destroy(struct vmm_ref *ref)
{
	free(ref->pages);
	ref->pages = NULL;
}

static bool mapped(const struct vmm_ref *ref, uint64_t va)
{
	return ref->pages[va / K4].flags != 0;
}

/* Whether [start, end) touches the reserved top or a protected range. */
static bool forbidden(const struct vmm_ref *ref, uint64_t start, uint64_t end, bool protected_too)
{
	if (end > VMM_RESERVED_BASE)
		return true;
	if (!protected_too)
		return false;
	for (size_t i = 0; i < ref->protected_count; i++)
		if (start < ref->protected_ranges[i].end && ref->protected_ranges[i].start < end)
			return true;
	return false;
}

/* Whether the directory slot holding va has any 4 KiB mapping (= a page table). */
static bool slot_has_small_pages(const struct vmm_ref *ref, uint64_t va)
{
	return ref->small[va / M4] != 0;
}

static bool slot_empty(const struct vmm_ref *ref, uint64_t va)
{
	return ref->used[va / M4] == 0;
}

/* The only writer of ref->pages: keeps the per-slot counts with it. */
static void set_page(struct vmm_ref *ref, uint64_t va, struct vmm_ref_page p)
{
	struct vmm_ref_page *old = &ref->pages[va / K4];
	uint64_t slot = va / M4;

	if (old->flags) {
		ref->used[slot]--;
		ref->small[slot] -= !old->large;
	}
	if (p.flags) {
		ref->used[slot]++;
		ref->small[slot] += !p.large;
	}
	*old = p;
}

static bool take_frame(size_t *budget)
{
	if (*budget == 0)
		return false;
	if (*budget != SIZE_MAX)
		(*budget)--;
	return true;
}

/* ---- single pages, protection check optional (the range helpers check the whole range) ---- */

static int map_small(struct vmm_ref *ref, uint64_t va, phys_addr_t pa, uint32_t flags,
		     size_t *budget, bool protected_too)
{
	if ((flags & ~VMM_FLAGS_ALL) || va >= G4 || va % K4 || pa % K4 || pa >= G4)
		return -MIO_EINVAL;
	if (forbidden(ref, va, va + K4, protected_too))
		return -MIO_EPERM;
	if (mapped(ref, va))
		return -MIO_EEXIST;
	if (!slot_has_small_pages(ref, va) && !take_frame(budget))
		return -MIO_ENOMEM;
	set_page(ref, va, (struct vmm_ref_page){ (uint32_t)(pa / K4), (uint16_t)(flags | VMM_PRESENT), 0 });
	return 0;
}

static int map_large(struct vmm_ref *ref, uint64_t va, phys_addr_t pa, uint32_t flags,
		     bool protected_too)
{
	if ((flags & ~VMM_FLAGS_ALL) || va >= G4 || va % M4 || pa % M4 ||
	    pa >= ((phys_addr_t)1 << 40))
		return -MIO_EINVAL;
	if (!ref->caps.pse || (pa >= G4 && !ref->caps.pse36) ||
	    pa >= ((phys_addr_t)1 << ref->caps.phys_bits))
		return -MIO_ENOTSUP;
	if (forbidden(ref, va, va + M4, protected_too))
		return -MIO_EPERM;
	if (!slot_empty(ref, va))
		return -MIO_EEXIST;
	for (uint64_t i = 0; i < PAGES_PER_SLOT; i++)
		set_page(ref, va + i * K4, (struct vmm_ref_page){ (uint32_t)(pa / K4 + i),
								  (uint16_t)(flags | VMM_PRESENT), 1 });
	return 0;
}

/* Clears the page at va (mapped; a large one by its first address) and returns its size. */
static uint64_t clear_page(struct vmm_ref *ref, uint64_t va)
{
	uint64_t n = ref->pages[va / K4].large ? PAGES_PER_SLOT : 1;

	for (uint64_t i = 0; i < n; i++)
		set_page(ref, va + i * K4, (struct vmm_ref_page){ 0, 0, 0 });
	return n * K4;
}

int vmm_ref_map_page(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, uint32_t flags,
		     size_t *budget)
{
	return map_small(ref, virt, phys, flags, budget, true);
}

int vmm_ref_map_page_4mib(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys,
			  uint32_t flags)
{
	return map_large(ref, virt, phys, flags, true);
}

int vmm_ref_unmap_page(struct vmm_ref *ref, virt_addr_t virt)
{
	if ((uint64_t)virt >= G4 || virt % K4)
		return -MIO_EINVAL;
	if (forbidden(ref, virt, (uint64_t)virt + K4, true))
		return -MIO_EPERM;
	if (!mapped(ref, virt))
		return -MIO_ENOENT;
	if (ref->pages[virt / K4].large && virt % M4)
		return -MIO_EINVAL;
	if (ref->pages[virt / K4].large && forbidden(ref, virt, (uint64_t)virt + M4, true))
		return -MIO_EPERM;
	clear_page(ref, virt);
	return 0;
}

/* ---- ranges ---- */

static int check_range(const struct vmm_ref *ref, uint64_t va, uint64_t size)
{
	if (size == 0 || size % K4 || va % K4 || va >= G4 || size > G4 - va)
		return -MIO_EINVAL;
	if (forbidden(ref, va, va + size, true))
		return -MIO_EPERM;
	return 0;
}

static int map_range(struct vmm_ref *ref, uint64_t va, phys_addr_t pa, uint64_t size,
		     uint32_t flags, size_t *budget)
{
	int err;

	if ((flags & ~VMM_FLAGS_ALL) || pa % K4)
		return -MIO_EINVAL;
	err = check_range(ref, va, size);
	if (err)
		return err;
	for (uint64_t off = 0; off < size;) {
		bool large = ref->caps.pse && (va + off) % M4 == 0 && (pa + off) % M4 == 0 &&
			     size - off >= M4;
		err = large ? map_large(ref, va + off, pa + off, flags, false)
			    : map_small(ref, va + off, pa + off, flags, budget, false);
		if (err) {
			for (uint64_t undo = 0; undo < off;)
				undo += clear_page(ref, va + undo);
			return err;
		}
		off += large ? M4 : K4;
	}
	return 0;
}

int vmm_ref_map_range(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, size_t size,
		      uint32_t flags, size_t *budget)
{
	return map_range(ref, virt, phys, size, flags, budget);
}

int vmm_ref_unmap_range(struct vmm_ref *ref, virt_addr_t virt, size_t size)
{
	int err = check_range(ref, virt, size);

	if (err)
		return err;
	for (uint64_t off = 0; off < size;) {
		uint64_t va = virt + off;
		if (!mapped(ref, va))
			return -MIO_ENOENT;
		if (ref->pages[va / K4].large) {
			if (va % M4 || size - off < M4)
				return -MIO_EINVAL;
			off += M4;
		} else {
			off += K4;
		}
	}
	for (uint64_t off = 0; off < size;)
		off += clear_page(ref, virt + off);
	return 0;
}

int vmm_ref_protect(struct vmm_ref *ref, virt_addr_t virt, size_t size)
{
	int err = check_range(ref, virt, size);

	if (err)
		return err;
	if (ref->protected_count == VMM_PROTECTED_MAX)
		return -MIO_ENOMEM;
	ref->protected_ranges[ref->protected_count++] =
		(struct vmm_range){ virt, (uint64_t)virt + size };
	return 0;
}

int vmm_ref_map_protected(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, size_t size,
			  uint32_t flags, size_t *budget)
{
	int err;

	if (ref->protected_count == VMM_PROTECTED_MAX)
		return -MIO_ENOMEM;
	err = map_range(ref, virt, phys, size, flags, budget);
	return err ? err : vmm_ref_protect(ref, virt, size);
}

/* ---- queries ---- */

int vmm_ref_lookup(const struct vmm_ref *ref, virt_addr_t virt, struct vmm_mapping *out)
{
	const struct vmm_ref_page *p;
	uint64_t first;

	if ((uint64_t)virt >= G4)
		return -MIO_EINVAL;
	if (virt >= VMM_RESERVED_BASE)
		return -MIO_EPERM;
	if (!mapped(ref, virt))
		return -MIO_ENOENT;
	p = &ref->pages[virt / K4];
	first = p->large ? virt / M4 * M4 : virt / K4 * K4;
	*out = (struct vmm_mapping){
		.virt = first,
		.phys = (phys_addr_t)ref->pages[first / K4].pfn * K4,
		.size = p->large ? M4 : K4,
		.flags = p->flags,
	};
	return 0;
}

void vmm_ref_walk(const struct vmm_ref *ref, void (*fn)(const struct vmm_mapping *m, void *arg),
		  void *arg)
{
	for (uint64_t va = 0; va < VMM_RESERVED_BASE;) {
		struct vmm_mapping m;
		if (slot_empty(ref, va)) {
			va = (va / M4 + 1) * M4;
			continue;
		}
		if (vmm_ref_lookup(ref, va, &m) != 0) {
			va += K4;
			continue;
		}
		fn(&m, arg);
		va += m.size;
	}
}

size_t vmm_ref_tables(const struct vmm_ref *ref)
{
	size_t n = 0;

	for (uint64_t slot = 0; slot < SLOTS_USABLE; slot++)
		n += slot_has_small_pages(ref, slot * M4);
	return n;
}
