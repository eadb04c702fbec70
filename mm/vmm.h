/*
 * Virtual memory manager: 32-bit x86 paging with 4 KiB and 4 MiB pages.
 *
 * Design
 * - A struct vmm owns one page directory. Its last slot maps the directory
 *   itself (the recursive slot), so once paging is on the table of directory
 *   slot i is visible at VMM_TABLE_WINDOW + i * 4 KiB and the directory at
 *   VMM_DIRECTORY_WINDOW, wherever their frames lie in physical memory.
 * - The slot below it is the scratch slot: a fresh table frame is zeroed
 *   through it before it is installed, so a table never goes live holding
 *   garbage (the CPU may cache translations from any present entry, even
 *   speculatively). Together the two slots make the top 8 MiB
 *   (VMM_RESERVED_BASE and up) the VMM's own: the API refuses them.
 * - Everything is built on one walker (xv6's walkpgdir idea): find the
 *   entry for an address, creating its table on demand.
 * - Page tables come from a frame source and go back to it the moment they
 *   become empty (a per-slot count of present entries says when), so a
 *   present table always maps something.
 * - The VMM reaches the machine only through struct vmm_machine_ops (where
 *   a table can be read and written right now, invlpg, CR3): host tests
 *   plug in simulated RAM and a recorder, the kernel plugs in
 *   arch/x86/vmm_arch.c. This is an ops struct inside struct vmm rather than
 *   link-time functions so that every test and fuzzer instance has its own
 *   simulated RAM and its own log side by side, and so "before paging"
 *   (tables reached by physical address) and "after paging" (reached
 *   through the recursive slot) is the machine's business, not the VMM's.
 *   The price is one indirect call per table access, noise next to invlpg.
 * - The kernel's own identity map is a protected range: mapped once at
 *   init with vmm_map_protected(), refused to the public API afterwards.
 *
 * Virtual space for vmm_map_page() callers: [0, VMM_RESERVED_BASE) minus
 * the protected ranges.
 *
 * Errors are negative -MIO_E* codes (lib/types.h). When an input has
 * several faults, the first in this order is reported, unless a function's
 * own list orders them otherwise (faults found only by walking the tables,
 * page by page, come in the order the walk meets them):
 *   -MIO_EINVAL   malformed: unknown flags, misaligned, outside the 32-bit
 *                 space, or a physical address the entry format cannot hold;
 *   -MIO_ENOTSUP  this CPU cannot do it (no PSE, no PSE-36, above MAXPHYADDR);
 *   -MIO_EPERM    the reserved top 8 MiB or a protected range;
 *   -MIO_EEXIST / -MIO_ENOENT   something is / nothing is mapped there;
 *   -MIO_ENOMEM   the frame source ran dry (nothing is left half-mapped).
 * Nothing changes when a call fails.
 *
 * Panics: only on a broken invariant (vmm_check) or a frame source that
 * hands out an unusable frame. Not reentrant: callers serialise (the kernel
 * has one CPU and calls it with interrupts as they are; it never enables
 * them).
 */
#ifndef MIO_MM_VMM_H
#define MIO_MM_VMM_H

#include "lib/types.h"
#include "mm/paging.h"

/* ---- mapping flags (the hardware bit positions, the same for 4 KiB and 4 MiB pages) ---- */

#define VMM_PRESENT PTE_P           /* implied: every mapping is present; accepted for clarity */
#define VMM_WRITABLE PTE_W          /* writable, also for the kernel once CR0.WP is set */
#define VMM_USER PTE_U              /* CPL 3 may access */
#define VMM_WRITE_THROUGH PTE_PWT   /* write-through caching */
#define VMM_CACHE_DISABLE PTE_PCD   /* uncached (device memory) */
#define VMM_GLOBAL PTE_G            /* kept across CR3 loads when CR4.PGE is on */
#define VMM_FLAGS_ALL (VMM_PRESENT | VMM_WRITABLE | VMM_USER | VMM_WRITE_THROUGH | \
		       VMM_CACHE_DISABLE | VMM_GLOBAL)

/* ---- the fixed layout ---- */

#define VMM_RECURSIVE_PDX (PT_ENTRIES - 1) /* the directory maps itself here */
#define VMM_SCRATCH_PDX (PT_ENTRIES - 2)   /* fresh tables are zeroed through here */
#define VMM_TABLE_WINDOW 0xFFC00000u       /* table i at VMM_TABLE_WINDOW + i * PAGE_SIZE */
#define VMM_DIRECTORY_WINDOW 0xFFFFF000u   /* = the window page of the recursive slot */
#define VMM_RESERVED_BASE 0xFF800000u      /* scratch slot + recursive slot: the VMM's own */

#define VMM_PROTECTED_MAX 32               /* protected ranges a vmm can hold */

/* vmm_virt_to_phys() / vmm_translate() for an unmapped address: no physical address is all ones. */
#define VMM_PHYS_NONE ((phys_addr_t)-1)

/* ---- what the VMM needs from its surroundings ---- */

/* The machine: register and instruction access, and where tables can be reached. */
struct vmm_machine_ops {
	/*
	 * Returns a pointer through which the page table in directory slot
	 * pdx, whose frame is at table_phys, can be read and written now.
	 * pdx == VMM_RECURSIVE_PDX asks for the directory itself (table_phys
	 * is then the directory's frame), pdx == VMM_SCRATCH_PDX for the frame
	 * the VMM just put in the scratch slot. Before paging: the physical
	 * address itself. After paging: VMM_TABLE_WINDOW + pdx * PAGE_SIZE.
	 */
	void *(*table)(void *ctx, unsigned pdx, phys_addr_t table_phys);
	/* Drops the TLB entry (and paging-structure caches) for virt. */
	void (*invlpg)(void *ctx, virt_addr_t virt);
	/* Makes the directory at directory_phys the current one. */
	void (*load_cr3)(void *ctx, phys_addr_t directory_phys);
};

/*
 * Where page-table frames come from. In the kernel: a small adapter over the
 * PMM (pmm_alloc_frame(1) / pmm_free_frame); the PMM never calls the VMM.
 */
struct vmm_frame_ops {
	/*
	 * Stores one free 4 KiB frame below 4 GiB in *frame (contents need
	 * not be zero) and returns 0, or returns -MIO_ENOMEM.
	 */
	int (*alloc)(void *ctx, phys_addr_t *frame);
	/* Takes back a frame alloc handed out. */
	void (*free)(void *ctx, phys_addr_t frame);
};

/* What the CPU can do (arch/x86: x86_paging_caps() reads it from CPUID). */
struct vmm_caps {
	bool pse;           /* 4 MiB pages (CR4.PSE) */
	bool pse36;         /* 4 MiB pages above 4 GiB; needs pse */
	bool pge;           /* global pages (CR4.PGE); VMM_GLOBAL is ignored by CPUs without it */
	unsigned phys_bits; /* physical address bits a 4 MiB page may use: 32, or
			       with PSE-36 min(40, MAXPHYADDR) */
};

struct vmm_config {
	const struct vmm_machine_ops *machine;
	void *machine_ctx;
	const struct vmm_frame_ops *frames;
	void *frames_ctx;
	struct vmm_caps caps;
};

/* One mapping as vmm_lookup() and vmm_walk() report it. */
struct vmm_mapping {
	virt_addr_t virt;  /* first address of the page */
	phys_addr_t phys;  /* first physical address of the page */
	size_t size;       /* PAGE_SIZE or LARGE_PAGE_SIZE */
	uint32_t flags;    /* VMM_* flags, VMM_PRESENT included */
};

struct vmm_range {
	uint64_t start, end; /* [start, end) */
};

/* An address space. Fields are private to mm/vmm.c; read them through the functions below. */
struct vmm {
	struct vmm_config cfg;
	phys_addr_t directory;              /* physical address of the page directory */
	uint16_t table_live[PT_ENTRIES];    /* present entries in the table of each slot */
	size_t protected_count;
	struct vmm_range protected_ranges[VMM_PROTECTED_MAX];
};

/* ---- instance API ---- */

/*
 * Builds an empty address space: allocates and zeroes the page directory
 * and points its last slot at itself. Call it before paging is on (the
 * directory is reached by its physical address). Does not load CR3.
 * Returns 0, -MIO_EINVAL for inconsistent caps (pse36 without pse,
 * phys_bits outside 32..40, or other than 32 without pse36), or
 * -MIO_ENOMEM when no frame is left for the directory.
 */
int vmm_init(struct vmm *vmm, const struct vmm_config *config);

/*
 * Maps [virt, virt + size) to [phys, phys + size) like vmm_map_range()
 * and makes it a protected range: the public API, this function included,
 * refuses to map or unmap anything in it afterwards, so protected ranges
 * never overlap. For the kernel's own identity map, at init.
 * Returns vmm_map_range()'s errors (-MIO_EPERM when the range overlaps the
 * reserved top or a protected range), or -MIO_ENOMEM when all
 * VMM_PROTECTED_MAX ranges are in use (checked first).
 */
int vmm_map_protected(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, size_t size,
		      uint32_t flags);

/*
 * Protects [virt, virt + size) without mapping anything (e.g. page 0, so
 * that NULL keeps faulting). What is mapped there already stays mapped,
 * now out of the public API's reach. Returns 0, -MIO_EINVAL (misaligned,
 * empty, beyond 4 GiB), -MIO_EPERM (overlaps the reserved top or a
 * protected range) or -MIO_ENOMEM (all VMM_PROTECTED_MAX ranges in use).
 */
int vmm_protect(struct vmm *vmm, virt_addr_t virt, size_t size);

/*
 * Maps the 4 KiB page at virt to the frame at phys with flags (VMM_*).
 * Returns 0 or:
 *   -MIO_EINVAL  flags outside VMM_FLAGS_ALL; virt or phys not 4 KiB
 *                aligned; virt at or above 4 GiB; phys at or above 4 GiB
 *                (a page-table entry has 32 address bits);
 *   -MIO_EPERM   virt in the reserved top 8 MiB or a protected range;
 *   -MIO_EEXIST  virt is already mapped, by a 4 KiB page or inside a 4 MiB one;
 *   -MIO_ENOMEM  a page table was needed and the frame source had none.
 * No invlpg: nothing was mapped there, and the TLB never caches absent entries.
 */
int vmm_map_page(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, uint32_t flags);

/*
 * Maps the 4 MiB page at virt to phys with flags (VMM_*). Returns 0 or:
 *   -MIO_EINVAL   flags outside VMM_FLAGS_ALL; virt or phys not 4 MiB
 *                 aligned; virt at or above 4 GiB; phys at or above 2^40;
 *   -MIO_ENOTSUP  no PSE; phys at or above 4 GiB without PSE-36; phys at
 *                 or above 2^caps.phys_bits;
 *   -MIO_EPERM    the 4 MiB overlap the reserved top or a protected range;
 *   -MIO_EEXIST   the slot holds a 4 MiB page or a page table (which maps
 *                 something: empty tables are freed).
 */
int vmm_map_page_4mib(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, uint32_t flags);

/*
 * Unmaps the page at virt, 4 KiB or 4 MiB, and invalidates its TLB entry
 * with invlpg. A page table left empty goes back to the frame source. The
 * frame that was mapped is the caller's: nothing is freed but tables.
 * Returns 0 or:
 *   -MIO_EINVAL  virt not 4 KiB aligned or at or above 4 GiB;
 *   -MIO_EPERM   the 4 KiB page at virt is in the reserved top 8 MiB or a
 *                protected range;
 *   -MIO_ENOENT  nothing is mapped at virt;
 *   -MIO_EINVAL  virt is inside a 4 MiB page but not its first address;
 *   -MIO_EPERM   a protected range covers part of that 4 MiB page.
 */
int vmm_unmap_page(struct vmm *vmm, virt_addr_t virt);

/*
 * Maps size bytes at virt to phys: a 4 MiB page wherever the CPU has PSE,
 * virt and phys are both 4 MiB aligned and at least 4 MiB remain; 4 KiB
 * pages elsewhere. All or nothing: on any
 * failure every page this call mapped is unmapped again and every table it
 * created is freed. Returns 0 or:
 *   -MIO_EINVAL  flags outside VMM_FLAGS_ALL; virt, phys or size not 4 KiB
 *                aligned; size 0; the range passes 4 GiB;
 *   -MIO_EPERM   the range overlaps the reserved top or a protected range;
 *   then the first error a page of the range meets, lowest address first
 *   (vmm_map_page() / vmm_map_page_4mib(): -MIO_EINVAL for a 4 KiB page
 *   above 4 GiB, -MIO_ENOTSUP, -MIO_EEXIST, -MIO_ENOMEM).
 */
int vmm_map_range(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, size_t size,
		  uint32_t flags);

/*
 * Unmaps every page in [virt, virt + size), which must be mapped without a
 * hole, with invlpg for each page. All or nothing: the whole range is
 * checked before anything changes. Returns 0 or:
 *   -MIO_EINVAL  virt or size not 4 KiB aligned; size 0; the range passes
 *                4 GiB;
 *   -MIO_EPERM   the range overlaps the reserved top or a protected range;
 *   then, scanning upwards from virt, whichever of these comes first:
 *   -MIO_EINVAL  a 4 MiB page that sticks out of the range;
 *   -MIO_ENOENT  a page of the range that is not mapped (a hole).
 */
int vmm_unmap_range(struct vmm *vmm, virt_addr_t virt, size_t size);

/*
 * Describes the mapping that covers virt (any address inside the page) in
 * *out. Returns 0, -MIO_EINVAL (virt at or above 4 GiB), -MIO_EPERM (the
 * reserved top: the recursive window is the VMM's view of its tables, not
 * a mapping) or -MIO_ENOENT (not mapped).
 */
int vmm_lookup(const struct vmm *vmm, virt_addr_t virt, struct vmm_mapping *out);

/* The physical address virt maps to, offset included, or VMM_PHYS_NONE (vmm_lookup() fails). */
phys_addr_t vmm_virt_to_phys(const struct vmm *vmm, virt_addr_t virt);

/* Whether vmm_lookup() finds a mapping for virt. */
bool vmm_page_mapped(const struct vmm *vmm, virt_addr_t virt);

/*
 * Calls fn once per mapping, in ascending virtual order (protected ones
 * included, the reserved top never). fn must not change the address space.
 */
void vmm_walk(const struct vmm *vmm, void (*fn)(const struct vmm_mapping *m, void *arg),
	      void *arg);

/* Prints the mapped regions, runs of contiguous pages of one size and flags merged, via kprintf. */
void vmm_print(const struct vmm *vmm);

/* Loads this address space's directory into CR3 (through the machine). */
void vmm_activate(const struct vmm *vmm);

/* The physical address of the page directory (what CR3 must hold). */
phys_addr_t vmm_directory_phys(const struct vmm *vmm);

/*
 * Checks every invariant: the recursive and scratch slots, each directory
 * entry's format (reserved bits, PSE-36 bits within caps), that each
 * present table maps something and its count is right, that absent
 * entries are all zero, that protected ranges are well formed, below the
 * reserved top and disjoint. Panics naming the slot (or range) on the
 * first violation.
 * Returns the number of page tables present (directory not counted), so a
 * caller can compare it with the frames it handed out.
 */
size_t vmm_check(const struct vmm *vmm);

/* ---- the kernel's address space ---- */

/* The kernel's instance: phase-2 boot code fills it with vmm_init(). */
extern struct vmm kernel_vmm;

/* vmm_map_page(&kernel_vmm, ...) */
int vmm_alloc_page(virt_addr_t virt, phys_addr_t phys, uint32_t flags);
/* vmm_map_page_4mib(&kernel_vmm, ...) */
int vmm_alloc_page_4mib(virt_addr_t virt, phys_addr_t phys, uint32_t flags);
/* vmm_unmap_page(&kernel_vmm, ...) */
int vmm_free_page(virt_addr_t virt);
/* vmm_virt_to_phys(&kernel_vmm, ...): the physical address, or VMM_PHYS_NONE. */
phys_addr_t vmm_translate(virt_addr_t virt);
/* vmm_page_mapped(&kernel_vmm, ...) */
bool vmm_is_mapped(virt_addr_t virt);
/* vmm_map_range(&kernel_vmm, ...) */
int vmm_alloc_range(virt_addr_t virt, phys_addr_t phys, size_t size, uint32_t flags);
/* vmm_unmap_range(&kernel_vmm, ...) */
int vmm_free_range(virt_addr_t virt, size_t size);

#endif
