/*
 * The 32-bit x86 paging entry format (Intel SDM vol. 3A, section 4.3):
 * the bits of page-directory and page-table entries, the address fields for
 * 4 KiB tables and pages and for 4 MiB pages (PSE-36 high bits included),
 * and the helpers that split a linear address into its directory and table
 * indices.
 *
 * Why this hardware layout lives in mm/ and not in arch/x86/: the page-table
 * logic in mm/vmm.c is portable C that also runs in host tests, and mm/ may
 * never include arch/. The format is pure data (no instruction, no register),
 * so putting it here costs nothing: arch/x86 code may include mm/ headers,
 * the reverse is what is forbidden. Only the instructions (invlpg, CR3, CR0,
 * CR4) stay in arch/x86/.
 *
 * Entries are built and taken apart only through the inline helpers below,
 * so the VMM never does raw bit arithmetic on an entry.
 */
#ifndef MIO_MM_PAGING_H
#define MIO_MM_PAGING_H

#include "lib/types.h"

typedef uint32_t pde_t; /* a page-directory entry */
typedef uint32_t pte_t; /* a page-table entry */

/* ---- address splitting ---- */

#define PT_ENTRIES 1024u      /* entries in a page directory and in a page table */
#define PTX_SHIFT 12          /* a linear address: | PDX:10 | PTX:10 | offset:12 | */
#define PDX_SHIFT 22
#define LARGE_PAGE_SHIFT 22
#define LARGE_PAGE_SIZE ((size_t)1 << LARGE_PAGE_SHIFT) /* 4 MiB, what one PDE spans */

/* The 32-bit linear address space ends at 4 GiB (host builds have wider pointers). */
#define LINEAR_LIMIT ((uint64_t)1 << 32)
/* A page-table entry holds physical address bits 31:12 only. */
#define PTE_PHYS_LIMIT ((phys_addr_t)1 << 32)
/* A 4 MiB PDE holds bits 39:22 with PSE-36 (the SDM caps M at 40). */
#define PDE_LARGE_PHYS_BITS_MAX 40u

static inline unsigned pdx(uint32_t linear) { return linear >> PDX_SHIFT; }
static inline unsigned ptx(uint32_t linear) { return (linear >> PTX_SHIFT) & (PT_ENTRIES - 1); }
/* The first linear address covered by directory slot pdx / by (pdx, ptx). */
static inline uint32_t pd_linear(unsigned pdx_) { return (uint32_t)pdx_ << PDX_SHIFT; }
static inline uint32_t pt_linear(unsigned pdx_, unsigned ptx_)
{
	return pd_linear(pdx_) | (uint32_t)ptx_ << PTX_SHIFT;
}

/* ---- entry bits (the same positions in a PDE and a PTE unless noted) ---- */

#define PTE_P (1u << 0)   /* present: without it the CPU ignores every other bit */
#define PTE_W (1u << 1)   /* writable (supervisor writes too once CR0.WP is set) */
#define PTE_U (1u << 2)   /* user (CPL 3) may access */
#define PTE_PWT (1u << 3) /* write-through caching */
#define PTE_PCD (1u << 4) /* cache disable */
#define PTE_A (1u << 5)   /* accessed: set by the CPU on any access */
#define PTE_D (1u << 6)   /* dirty: set by the CPU on a write (pages only, not tables) */
#define PTE_PS (1u << 7)  /* PDE only: 1 = this entry maps a 4 MiB page (needs CR4.PSE) */
#define PTE_PAT (1u << 7) /* PTE only: PAT index bit (unused here, kept 0) */
#define PTE_G (1u << 8)   /* global: survives CR3 reloads once CR4.PGE is set (pages only) */
#define PDE_LARGE_PAT (1u << 12) /* 4 MiB PDE: PAT index bit (unused here, kept 0) */

/* The bits the CPU writes on its own: ignored when comparing entries. */
#define PTE_HW_UPDATED (PTE_A | PTE_D)

/* ---- address fields ---- */

#define PTE_ADDR_MASK 0xFFFFF000u        /* bits 31:12 of a 4 KiB page or a page table */
#define PTE_FLAGS_MASK 0x00000FFFu
#define PDE_LARGE_ADDR_MASK 0xFFC00000u  /* bits 31:22 of a 4 MiB page */
#define PDE_LARGE_HI_SHIFT 13            /* PSE-36: phys bits 39:32 go in entry bits 20:13 */
#define PDE_LARGE_HI_MASK (0xFFu << PDE_LARGE_HI_SHIFT)
#define PDE_LARGE_RESERVED (1u << 21)    /* always reserved: must be 0 */
#define PDE_LARGE_FLAGS_MASK 0x00001FFFu /* bits 12:0: PAT and the flag bits */

static inline bool entry_present(uint32_t e) { return e & PTE_P; }
static inline bool pde_is_large(pde_t e) { return (e & (PTE_P | PTE_PS)) == (PTE_P | PTE_PS); }
static inline bool pde_is_table(pde_t e) { return (e & (PTE_P | PTE_PS)) == PTE_P; }

/* A PTE mapping the 4 KiB page at phys (< 4 GiB, 4 KiB aligned) with flags (bits 11:0). */
static inline pte_t pte_make(phys_addr_t phys, uint32_t flags)
{
	return ((uint32_t)phys & PTE_ADDR_MASK) | (flags & PTE_FLAGS_MASK);
}
static inline phys_addr_t pte_phys(pte_t e) { return e & PTE_ADDR_MASK; }
static inline uint32_t pte_flags(pte_t e) { return e & PTE_FLAGS_MASK; }

/* A PDE referencing the page table at phys (< 4 GiB, 4 KiB aligned). */
static inline pde_t pde_make_table(phys_addr_t phys, uint32_t flags)
{
	return ((uint32_t)phys & PTE_ADDR_MASK) | ((flags & PTE_FLAGS_MASK) & ~PTE_PS);
}
static inline phys_addr_t pde_table_phys(pde_t e) { return e & PTE_ADDR_MASK; }

/*
 * A PDE mapping the 4 MiB page at phys (4 MiB aligned, below 2^40): bits
 * 31:22 of the address in entry bits 31:22, bits 39:32 (PSE-36) in entry
 * bits 20:13. Whether this CPU accepts the high bits is the caller's check:
 * bits at or above its MAXPHYADDR are reserved and fault when set.
 */
static inline pde_t pde_make_large(phys_addr_t phys, uint32_t flags)
{
	uint32_t lo = (uint32_t)phys & PDE_LARGE_ADDR_MASK;
	uint32_t hi = ((uint32_t)(phys >> 32) << PDE_LARGE_HI_SHIFT) & PDE_LARGE_HI_MASK;
	return lo | hi | (flags & PTE_FLAGS_MASK) | PTE_PS;
}
static inline phys_addr_t pde_large_phys(pde_t e)
{
	phys_addr_t hi = (e & PDE_LARGE_HI_MASK) >> PDE_LARGE_HI_SHIFT;
	return (hi << 32) | (e & PDE_LARGE_ADDR_MASK);
}
/* The flag bits of a 4 MiB PDE (PS included, PAT and address bits excluded). */
static inline uint32_t pde_large_flags(pde_t e) { return e & PTE_FLAGS_MASK; }

#endif
