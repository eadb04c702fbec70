/*
 * Reference model of the VMM: a plain table from every 4 KiB virtual page
 * to (phys, flags, page size), with the rules of mm/vmm.h written out
 * directly, checked in the documented order. No page tables: whether the
 * real VMM needs a page table for a slot is derived (it needs one exactly
 * when the slot holds a 4 KiB mapping), which is also how the fuzzer
 * predicts running out of frames and counts the tables the VMM must hold.
 *
 * Where the real VMM would allocate a page table, the model takes one from
 * *budget (allocations still allowed; VMM_SIM_UNLIMITED-style SIZE_MAX for
 * no limit) and fails with -MIO_ENOMEM when it is 0, as the VMM does. A
 * rolled-back range keeps what it took, like the frame source's counter.
 */
#ifndef MIO_TESTS_MODEL_VMM_REF_H
#define MIO_TESTS_MODEL_VMM_REF_H

#include "mm/vmm.h"

#define VMM_REF_PAGES ((size_t)1 << 20) /* 4 KiB pages in 4 GiB */

struct vmm_ref_page {
	uint32_t pfn;   /* physical frame number of this 4 KiB piece (phys >> 12) */
	uint16_t flags; /* VMM_* flags, VMM_PRESENT included; 0 = unmapped */
	uint8_t large;  /* part of a 4 MiB page */
};

struct vmm_ref {
	struct vmm_caps caps;
	struct vmm_ref_page *pages; /* VMM_REF_PAGES entries */
	/* Per directory slot, kept by the one function that writes pages: */
	uint16_t used[PT_ENTRIES];  /* mapped 4 KiB pieces (a 4 MiB page counts 1024) */
	uint16_t small[PT_ENTRIES]; /* of which 4 KiB pages */
	size_t protected_count;
	struct vmm_range protected_ranges[VMM_PROTECTED_MAX];
};

void vmm_ref_init(struct vmm_ref *ref, struct vmm_caps caps);
void vmm_ref_destroy(struct vmm_ref *ref);
/* Back to the state vmm_ref_init() leaves, without reallocating (cheap: clears used slots only). */
void vmm_ref_reset(struct vmm_ref *ref, struct vmm_caps caps);

int vmm_ref_protect(struct vmm_ref *ref, virt_addr_t virt, size_t size);
int vmm_ref_map_protected(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, size_t size,
			  uint32_t flags, size_t *budget);
int vmm_ref_map_page(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, uint32_t flags,
		     size_t *budget);
int vmm_ref_map_page_4mib(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys,
			  uint32_t flags);
int vmm_ref_unmap_page(struct vmm_ref *ref, virt_addr_t virt);
int vmm_ref_map_range(struct vmm_ref *ref, virt_addr_t virt, phys_addr_t phys, size_t size,
		      uint32_t flags, size_t *budget);
int vmm_ref_unmap_range(struct vmm_ref *ref, virt_addr_t virt, size_t size);
int vmm_ref_lookup(const struct vmm_ref *ref, virt_addr_t virt, struct vmm_mapping *out);

/* Calls fn per mapping in ascending order, as vmm_walk() does. */
void vmm_ref_walk(const struct vmm_ref *ref, void (*fn)(const struct vmm_mapping *m, void *arg),
		  void *arg);

/* The page tables the VMM must hold: directory slots with at least one 4 KiB mapping. */
size_t vmm_ref_tables(const struct vmm_ref *ref);

#endif
