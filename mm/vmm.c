/*
 * The virtual memory manager's page-table logic: portable C over the
 * abstract machine in struct vmm_machine_ops (see mm/vmm.h for the design).
 * Every operation finds its entries with walk(); tables are created on the
 * first mapping in a slot and freed with the last unmapping.
 */
#include "mm/vmm.h"

#include "lib/kprintf.h"
#include "lib/panic.h"
#include "lib/string.h"

/*
 * A directory entry referencing a page table is permissive (writable, user):
 * the CPU combines both levels, so the table entry alone decides.
 */
#define PDE_TABLE_FLAGS (PTE_P | PTE_W | PTE_U)
/* The recursive slot is supervisor-only: user code never sees page tables. */
#define PDE_RECURSIVE_FLAGS (PTE_P | PTE_W)
/*
 * Entry bits a mapping may carry: its flags plus what the CPU sets by itself.
 * Directory entries get A and D too: through the recursive slot the
 * directory is also the page table of the window, so a write to a table's
 * window page marks the directory entry "dirty".
 */
#define PTE_ALLOWED (VMM_FLAGS_ALL | PTE_HW_UPDATED)

_Static_assert(VMM_TABLE_WINDOW == (uint32_t)VMM_RECURSIVE_PDX << PDX_SHIFT,
	       "the table window is what the recursive slot covers");
_Static_assert(VMM_RESERVED_BASE == (uint32_t)VMM_SCRATCH_PDX << PDX_SHIFT,
	       "the reserved top starts at the scratch slot");
_Static_assert(VMM_DIRECTORY_WINDOW == VMM_TABLE_WINDOW + VMM_RECURSIVE_PDX * PAGE_SIZE,
	       "the directory is the recursive slot's own window page");

/* ---- the machine ---- */

static void *machine_table(const struct vmm *vmm, unsigned slot, phys_addr_t frame)
{
	return vmm->cfg.machine->table(vmm->cfg.machine_ctx, slot, frame);
}

static pde_t *directory(const struct vmm *vmm)
{
	return machine_table(vmm, VMM_RECURSIVE_PDX, vmm->directory);
}

static pte_t *table_of(const struct vmm *vmm, unsigned slot, pde_t pde)
{
	return machine_table(vmm, slot, pde_table_phys(pde));
}

static void flush(const struct vmm *vmm, uint32_t va)
{
	vmm->cfg.machine->invlpg(vmm->cfg.machine_ctx, va);
}

/* Where the table of a slot shows through the recursive slot once paging is on. */
static uint32_t window_of(unsigned slot)
{
	return VMM_TABLE_WINDOW + (uint32_t)slot * PAGE_SIZE;
}

/* ---- argument checks (no state read) ---- */

static bool in_space(virt_addr_t virt)
{
	return (uint64_t)virt < LINEAR_LIMIT;
}

static bool flags_ok(uint32_t flags)
{
	return (flags & ~VMM_FLAGS_ALL) == 0;
}

/* -MIO_EINVAL for a malformed 4 KiB mapping request (see vmm_map_page). */
static int check_page_args(virt_addr_t virt, phys_addr_t phys, uint32_t flags)
{
	if (!flags_ok(flags) || !in_space(virt) || !IS_ALIGNED(virt, PAGE_SIZE) ||
	    !IS_ALIGNED(phys, PAGE_SIZE) || phys >= PTE_PHYS_LIMIT)
		return -MIO_EINVAL;
	return 0;
}

/* -MIO_EINVAL, then -MIO_ENOTSUP, for a 4 MiB mapping request (see vmm_map_page_4mib). */
static int check_large_page_args(const struct vmm *vmm, virt_addr_t virt, phys_addr_t phys,
				 uint32_t flags)
{
	const struct vmm_caps *caps = &vmm->cfg.caps;

	if (!flags_ok(flags) || !in_space(virt) || !IS_ALIGNED(virt, LARGE_PAGE_SIZE) ||
	    !IS_ALIGNED(phys, LARGE_PAGE_SIZE) || phys >= (phys_addr_t)1 << PDE_LARGE_PHYS_BITS_MAX)
		return -MIO_EINVAL;
	if (!caps->pse || (phys >= PTE_PHYS_LIMIT && !caps->pse36) ||
	    phys >= (phys_addr_t)1 << caps->phys_bits)
		return -MIO_ENOTSUP;
	return 0;
}

/* True when [start, end) touches the reserved top or a protected range. */
static bool forbidden(const struct vmm *vmm, uint64_t start, uint64_t end)
{
	if (end > VMM_RESERVED_BASE)
		return true;
	for (size_t i = 0; i < vmm->protected_count; i++) {
		const struct vmm_range *r = &vmm->protected_ranges[i];
		if (ranges_overlap(start, end, r->start, r->end))
			return true;
	}
	return false;
}

/* ---- the walker and the tables ---- */

struct walk {
	unsigned slot; /* directory index */
	pde_t *pde;    /* the directory entry covering the address */
	pte_t *pte;    /* its table entry, or NULL when the slot holds no page table */
};

/*
 * The one walker: finds the directory entry covering va and, when that
 * entry references a page table, the table entry for va. Creates nothing.
 */
static void walk(const struct vmm *vmm, uint32_t va, struct walk *w)
{
	w->slot = pdx(va);
	w->pde = &directory(vmm)[w->slot];
	w->pte = pde_is_table(*w->pde) ? &table_of(vmm, w->slot, *w->pde)[ptx(va)] : NULL;
}

/*
 * Zeroes a fresh table frame through the scratch slot, so the frame never
 * becomes a live table with garbage in it. The scratch slot's window page
 * is flushed after use: the next frame to pass through must not be
 * reached through a stale translation.
 */
static void zero_table_frame(struct vmm *vmm, phys_addr_t frame)
{
	pde_t *pd = directory(vmm);

	pd[VMM_SCRATCH_PDX] = pde_make_table(frame, PDE_RECURSIVE_FLAGS);
	memset(machine_table(vmm, VMM_SCRATCH_PDX, frame), 0, PAGE_SIZE);
	pd[VMM_SCRATCH_PDX] = 0;
	flush(vmm, window_of(VMM_SCRATCH_PDX));
}

/* Takes a frame for a directory or table from the frame source: 0 or -MIO_ENOMEM. */
static int alloc_table_frame(struct vmm *vmm, phys_addr_t *frame)
{
	if (vmm->cfg.frames->alloc(vmm->cfg.frames_ctx, frame) != 0)
		return -MIO_ENOMEM;
	if (*frame >= PTE_PHYS_LIMIT || !IS_ALIGNED(*frame, PAGE_SIZE))
		panic("vmm: frame source gave 0x%llx, not a 4 KiB frame below 4 GiB",
		      (unsigned long long)*frame);
	return 0;
}

/* Gives empty slot `slot` a zeroed page table. */
static int table_create(struct vmm *vmm, unsigned slot)
{
	phys_addr_t frame;
	int err = alloc_table_frame(vmm, &frame);

	if (err)
		return err;
	zero_table_frame(vmm, frame);
	/* Absent before, so no translation of the slot or its window can be cached. */
	directory(vmm)[slot] = pde_make_table(frame, PDE_TABLE_FLAGS);
	vmm->table_live[slot] = 0;
	return 0;
}

/*
 * Empties a directory slot. Its window page is flushed: it translated to
 * the old table (or, for a 4 MiB page, into the page itself, and then as a
 * global translation if the page had VMM_GLOBAL, since bit 8 of the entry
 * reads as G for the window page), and the next table in this slot must not
 * be reached through that. invlpg also drops the CPU's cached copies of
 * directory entries, global or not.
 */
static void slot_clear(struct vmm *vmm, struct walk *w)
{
	*w->pde = 0;
	flush(vmm, window_of(w->slot));
}

static void table_release(struct vmm *vmm, struct walk *w)
{
	phys_addr_t frame = pde_table_phys(*w->pde);

	slot_clear(vmm, w);
	vmm->cfg.frames->free(vmm->cfg.frames_ctx, frame);
}

/* ---- mapping and unmapping, arguments already checked ---- */

/* 4 KiB pages from va to the end of its directory slot. */
static size_t pages_left_in_slot(uint32_t va)
{
	return PT_ENTRIES - ptx(va);
}

/*
 * Maps n 4 KiB pages from va, all in va's directory slot, to consecutive
 * frames from phys, creating the slot's table if needed. Stops at the first
 * page it cannot map; *done says how many it mapped. The first page is
 * checked before a table is created, so a new table is never left empty.
 */
static int install_pages(struct vmm *vmm, uint32_t va, phys_addr_t phys, size_t n,
			 uint32_t flags, size_t *done)
{
	struct walk w;
	size_t i;
	int err = 0;

	*done = 0;
	walk(vmm, va, &w);
	if (phys >= PTE_PHYS_LIMIT)
		return -MIO_EINVAL;
	if (pde_is_large(*w.pde))
		return -MIO_EEXIST;
	if (!w.pte) {
		err = table_create(vmm, w.slot);
		if (err)
			return err;
		walk(vmm, va, &w);
	}
	for (i = 0; i < n; i++, phys += PAGE_SIZE) {
		if (phys >= PTE_PHYS_LIMIT) {
			err = -MIO_EINVAL;
			break;
		}
		if (entry_present(w.pte[i])) {
			err = -MIO_EEXIST;
			break;
		}
		w.pte[i] = pte_make(phys, flags | PTE_P);
	}
	vmm->table_live[w.slot] += i;
	*done = i;
	return err;
}

static int install_large_page(struct vmm *vmm, uint32_t va, phys_addr_t phys, uint32_t flags)
{
	struct walk w;

	walk(vmm, va, &w);
	if (entry_present(*w.pde))
		return -MIO_EEXIST;
	*w.pde = pde_make_large(phys, flags | PTE_P);
	return 0;
}

/*
 * Finds the run of mappings at va that one removal can take, at most max
 * bytes: a whole 4 MiB page, or the 4 KiB pages present without a hole from
 * va to the end of its slot. Returns -MIO_EINVAL for a 4 MiB page that va
 * does not start or that is longer than max, -MIO_ENOENT if nothing is
 * mapped at va.
 */
static int mapped_run(const struct vmm *vmm, uint32_t va, uint64_t max, struct walk *w,
		      uint64_t *len)
{
	size_t n, i;

	walk(vmm, va, w);
	if (pde_is_large(*w->pde)) {
		if (!IS_ALIGNED(va, LARGE_PAGE_SIZE) || max < LARGE_PAGE_SIZE)
			return -MIO_EINVAL;
		*len = LARGE_PAGE_SIZE;
		return 0;
	}
	if (!w->pte || !entry_present(w->pte[0]))
		return -MIO_ENOENT;
	n = (size_t)MIN(max / PAGE_SIZE, (uint64_t)pages_left_in_slot(va));
	for (i = 1; i < n && entry_present(w->pte[i]); i++)
		;
	*len = (uint64_t)i * PAGE_SIZE;
	return 0;
}

/*
 * Unmaps the run of len bytes at va (w: its walk), which is mapped: a 4 MiB
 * page, or 4 KiB pages in one slot. invlpg for every page; a page table
 * left empty goes back to the frame source.
 */
static void remove_run(struct vmm *vmm, struct walk *w, uint32_t va, uint64_t len)
{
	size_t n = (size_t)(len / PAGE_SIZE);

	if (pde_is_large(*w->pde)) {
		slot_clear(vmm, w);
		flush(vmm, va);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		w->pte[i] = 0;
		flush(vmm, va + (uint32_t)(i * PAGE_SIZE));
	}
	vmm->table_live[w->slot] -= (uint16_t)n;
	if (vmm->table_live[w->slot] == 0)
		table_release(vmm, w);
}

/* Unmaps all of [va, va + size), which must be mapped without a hole. */
static void unmap_all(struct vmm *vmm, uint32_t va, uint64_t size)
{
	for (uint64_t off = 0, len; off < size; off += len) {
		struct walk w;
		if (mapped_run(vmm, va + (uint32_t)off, size - off, &w, &len) != 0)
			panic("vmm: 0x%llx should be mapped", (unsigned long long)(va + off));
		remove_run(vmm, &w, va + (uint32_t)off, len);
	}
}

/*
 * Whether the range mapper uses a 4 MiB page at va. (An occupied slot needs
 * no test here: the range covers all of it, so any mapping there collides
 * whichever page size is tried.)
 */
static bool large_page_fits(const struct vmm *vmm, uint32_t va, phys_addr_t phys,
			    uint64_t remaining)
{
	return vmm->cfg.caps.pse && IS_ALIGNED(va, LARGE_PAGE_SIZE) &&
	       IS_ALIGNED(phys, LARGE_PAGE_SIZE) && remaining >= LARGE_PAGE_SIZE;
}

/* -MIO_EINVAL / -MIO_EPERM for a range request (see vmm_map_range / vmm_unmap_range). */
static int check_range(const struct vmm *vmm, virt_addr_t virt, size_t size)
{
	/*
	 * Start and size are checked apart: on a 64-bit host virt + size can
	 * wrap past 2^64 and look like a small range.
	 */
	if (size == 0 || !IS_ALIGNED(size, PAGE_SIZE) || !IS_ALIGNED(virt, PAGE_SIZE) ||
	    !in_space(virt) || (uint64_t)size > LINEAR_LIMIT - (uint64_t)virt)
		return -MIO_EINVAL;
	if (forbidden(vmm, virt, (uint64_t)virt + size))
		return -MIO_EPERM;
	return 0;
}

static int map_range(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, size_t size,
		     uint32_t flags)
{
	int err;

	if (!flags_ok(flags) || !IS_ALIGNED(phys, PAGE_SIZE))
		return -MIO_EINVAL;
	err = check_range(vmm, virt, size);
	if (err)
		return err;
	for (uint64_t off = 0; off < size;) {
		uint32_t va = (uint32_t)(virt + off);
		phys_addr_t pa = phys + off;

		if (large_page_fits(vmm, va, pa, size - off)) {
			err = check_large_page_args(vmm, va, pa, flags);
			if (!err)
				err = install_large_page(vmm, va, pa, flags);
			if (!err)
				off += LARGE_PAGE_SIZE;
		} else {
			size_t n = (size_t)MIN((size - off) / PAGE_SIZE,
					       (uint64_t)pages_left_in_slot(va));
			size_t done;
			err = install_pages(vmm, va, pa, n, flags, &done);
			off += (uint64_t)done * PAGE_SIZE;
		}
		if (err) {
			unmap_all(vmm, (uint32_t)virt, off);
			return err;
		}
	}
	return 0;
}

/* ---- the public API ---- */

static bool caps_ok(const struct vmm_caps *caps)
{
	if (caps->pse36)
		return caps->pse && caps->phys_bits >= 32 && caps->phys_bits <= PDE_LARGE_PHYS_BITS_MAX;
	return caps->phys_bits == 32;
}

int vmm_init(struct vmm *vmm, const struct vmm_config *config)
{
	phys_addr_t frame;
	pde_t *pd;
	int err;

	ASSERT(config->machine && config->frames);
	if (!caps_ok(&config->caps))
		return -MIO_EINVAL;
	memset(vmm, 0, sizeof(*vmm));
	vmm->cfg = *config;
	err = alloc_table_frame(vmm, &frame);
	if (err)
		return err;
	vmm->directory = frame;
	pd = directory(vmm);
	memset(pd, 0, PAGE_SIZE);
	pd[VMM_RECURSIVE_PDX] = pde_make_table(frame, PDE_RECURSIVE_FLAGS);
	return 0;
}

int vmm_protect(struct vmm *vmm, virt_addr_t virt, size_t size)
{
	/* Protected ranges stay disjoint: each is one piece of the identity map or one hole. */
	int err = check_range(vmm, virt, size);

	if (err)
		return err;
	if (vmm->protected_count == VMM_PROTECTED_MAX)
		return -MIO_ENOMEM;
	vmm->protected_ranges[vmm->protected_count++] =
		(struct vmm_range){ .start = virt, .end = (uint64_t)virt + size };
	return 0;
}

int vmm_map_protected(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, size_t size,
		      uint32_t flags)
{
	int err;

	if (vmm->protected_count == VMM_PROTECTED_MAX)
		return -MIO_ENOMEM;
	err = map_range(vmm, virt, phys, size, flags);
	if (err)
		return err;
	return vmm_protect(vmm, virt, size); /* cannot fail: map_range checked the same */
}

int vmm_map_page(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, uint32_t flags)
{
	int err = check_page_args(virt, phys, flags);
	size_t done;

	if (err)
		return err;
	if (forbidden(vmm, virt, (uint64_t)virt + PAGE_SIZE))
		return -MIO_EPERM;
	return install_pages(vmm, (uint32_t)virt, phys, 1, flags, &done);
}

int vmm_map_page_4mib(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, uint32_t flags)
{
	int err = check_large_page_args(vmm, virt, phys, flags);

	if (err)
		return err;
	if (forbidden(vmm, virt, (uint64_t)virt + LARGE_PAGE_SIZE))
		return -MIO_EPERM;
	return install_large_page(vmm, (uint32_t)virt, phys, flags);
}

int vmm_unmap_page(struct vmm *vmm, virt_addr_t virt)
{
	struct walk w;
	bool large;

	if (!in_space(virt) || !IS_ALIGNED(virt, PAGE_SIZE))
		return -MIO_EINVAL;
	if (forbidden(vmm, virt, (uint64_t)virt + PAGE_SIZE))
		return -MIO_EPERM;
	walk(vmm, (uint32_t)virt, &w);
	large = pde_is_large(*w.pde);
	if (large && !IS_ALIGNED(virt, LARGE_PAGE_SIZE))
		return -MIO_EINVAL;
	/* vmm_protect() may have covered part of a 4 MiB page mapped earlier. */
	if (large && forbidden(vmm, virt, (uint64_t)virt + LARGE_PAGE_SIZE))
		return -MIO_EPERM;
	if (!large && (!w.pte || !entry_present(*w.pte)))
		return -MIO_ENOENT;
	remove_run(vmm, &w, (uint32_t)virt, large ? LARGE_PAGE_SIZE : PAGE_SIZE);
	return 0;
}

int vmm_map_range(struct vmm *vmm, virt_addr_t virt, phys_addr_t phys, size_t size,
		  uint32_t flags)
{
	return map_range(vmm, virt, phys, size, flags);
}

int vmm_unmap_range(struct vmm *vmm, virt_addr_t virt, size_t size)
{
	int err = check_range(vmm, virt, size);
	struct walk w;
	uint64_t len;

	if (err)
		return err;
	/* Check the whole range first, so a failure changes nothing. */
	for (uint64_t off = 0; off < size; off += len) {
		err = mapped_run(vmm, (uint32_t)(virt + off), size - off, &w, &len);
		if (err)
			return err;
	}
	unmap_all(vmm, (uint32_t)virt, size);
	return 0;
}

int vmm_lookup(const struct vmm *vmm, virt_addr_t virt, struct vmm_mapping *out)
{
	struct walk w;

	if (!in_space(virt))
		return -MIO_EINVAL;
	if (virt >= VMM_RESERVED_BASE)
		return -MIO_EPERM;
	walk(vmm, (uint32_t)virt, &w);
	if (pde_is_large(*w.pde)) {
		*out = (struct vmm_mapping){
			.virt = ALIGN_DOWN(virt, LARGE_PAGE_SIZE),
			.phys = pde_large_phys(*w.pde),
			.size = LARGE_PAGE_SIZE,
			.flags = pde_large_flags(*w.pde) & VMM_FLAGS_ALL,
		};
		return 0;
	}
	if (!w.pte || !entry_present(*w.pte))
		return -MIO_ENOENT;
	*out = (struct vmm_mapping){
		.virt = ALIGN_DOWN(virt, PAGE_SIZE),
		.phys = pte_phys(*w.pte),
		.size = PAGE_SIZE,
		.flags = pte_flags(*w.pte) & VMM_FLAGS_ALL,
	};
	return 0;
}

phys_addr_t vmm_virt_to_phys(const struct vmm *vmm, virt_addr_t virt)
{
	struct vmm_mapping m;

	if (vmm_lookup(vmm, virt, &m) != 0)
		return VMM_PHYS_NONE;
	return m.phys + (virt - m.virt);
}

bool vmm_page_mapped(const struct vmm *vmm, virt_addr_t virt)
{
	struct vmm_mapping m;

	return vmm_lookup(vmm, virt, &m) == 0;
}

void vmm_walk(const struct vmm *vmm, void (*fn)(const struct vmm_mapping *m, void *arg),
	      void *arg)
{
	const pde_t *pd = directory(vmm);

	for (unsigned i = 0; i < VMM_SCRATCH_PDX; i++) {
		struct vmm_mapping m;

		if (pde_is_large(pd[i])) {
			m = (struct vmm_mapping){ pd_linear(i), pde_large_phys(pd[i]), LARGE_PAGE_SIZE,
						  pde_large_flags(pd[i]) & VMM_FLAGS_ALL };
			fn(&m, arg);
		} else if (pde_is_table(pd[i])) {
			const pte_t *pt = table_of(vmm, i, pd[i]);
			for (unsigned j = 0; j < PT_ENTRIES; j++) {
				if (!entry_present(pt[j]))
					continue;
				m = (struct vmm_mapping){ pt_linear(i, j), pte_phys(pt[j]), PAGE_SIZE,
							  pte_flags(pt[j]) & VMM_FLAGS_ALL };
				fn(&m, arg);
			}
		}
	}
}

/* A run of pages vmm_print() merges into one line. */
struct print_run {
	bool open;
	struct vmm_mapping first;
	uint64_t bytes;
	size_t pages;
};

static void print_run_flush(struct print_run *run)
{
	const struct vmm_mapping *m = &run->first;

	if (!run->open)
		return;
	kprintf("vmm:   virt 0x%08llx-0x%08llx -> phys 0x%09llx  %zu x %s%s%s%s%s%s\n",
		(unsigned long long)m->virt, (unsigned long long)(m->virt + run->bytes - 1),
		(unsigned long long)m->phys, run->pages,
		m->size == LARGE_PAGE_SIZE ? "4 MiB" : "4 KiB",
		m->flags & VMM_WRITABLE ? " writable" : " read-only",
		m->flags & VMM_USER ? " user" : "", m->flags & VMM_WRITE_THROUGH ? " write-through" : "",
		m->flags & VMM_CACHE_DISABLE ? " uncached" : "", m->flags & VMM_GLOBAL ? " global" : "");
	run->open = false;
}

static void print_one(const struct vmm_mapping *m, void *arg)
{
	struct print_run *run = arg;
	const struct vmm_mapping *f = &run->first;

	if (run->open && (m->virt != f->virt + run->bytes || m->phys != f->phys + run->bytes ||
			  m->size != f->size || m->flags != f->flags))
		print_run_flush(run);
	if (!run->open)
		*run = (struct print_run){ .open = true, .first = *m };
	run->bytes += m->size;
	run->pages++;
}

void vmm_print(const struct vmm *vmm)
{
	struct print_run run = { .open = false };

	kprintf("vmm: page directory at 0x%llx, %zu protected range(s); mappings:\n",
		(unsigned long long)vmm->directory, vmm->protected_count);
	vmm_walk(vmm, print_one, &run);
	print_run_flush(&run);
}

void vmm_activate(const struct vmm *vmm)
{
	vmm->cfg.machine->load_cr3(vmm->cfg.machine_ctx, vmm->directory);
}

phys_addr_t vmm_directory_phys(const struct vmm *vmm)
{
	return vmm->directory;
}

/* ---- the invariant walker ---- */

static void check_large_entry(const struct vmm *vmm, unsigned slot, pde_t e)
{
	phys_addr_t phys = pde_large_phys(e);

	if (!vmm->cfg.caps.pse)
		panic("vmm_check: slot %u holds a 4 MiB page without PSE", slot);
	if (e & (PDE_LARGE_PAT | PDE_LARGE_RESERVED) || (e & PTE_FLAGS_MASK & ~(PTE_ALLOWED | PTE_PS)))
		panic("vmm_check: slot %u: 4 MiB entry 0x%08x has stray bits", slot, e);
	if (phys >= (phys_addr_t)1 << vmm->cfg.caps.phys_bits)
		panic("vmm_check: slot %u maps 0x%llx beyond %u physical bits", slot,
		      (unsigned long long)phys, vmm->cfg.caps.phys_bits);
	if (vmm->table_live[slot] != 0)
		panic("vmm_check: slot %u is a 4 MiB page but counts %u entries", slot,
		      vmm->table_live[slot]);
}

static void check_table(const struct vmm *vmm, unsigned slot, pde_t e)
{
	const pte_t *pt = table_of(vmm, slot, e);
	unsigned present = 0;

	if ((e & PTE_FLAGS_MASK & ~PTE_HW_UPDATED) != PDE_TABLE_FLAGS)
		panic("vmm_check: slot %u: table entry 0x%08x has the wrong flags", slot, e);
	if (pde_table_phys(e) == vmm->directory)
		panic("vmm_check: slot %u uses the directory's frame as a table", slot);
	for (unsigned j = 0; j < PT_ENTRIES; j++) {
		if (!entry_present(pt[j])) {
			if (pt[j] != 0)
				panic("vmm_check: 0x%08x: absent entry 0x%08x is not zero",
				      pt_linear(slot, j), pt[j]);
			continue;
		}
		if (pte_flags(pt[j]) & ~PTE_ALLOWED)
			panic("vmm_check: 0x%08x: entry 0x%08x has stray bits", pt_linear(slot, j),
			      pt[j]);
		present++;
	}
	if (present == 0)
		panic("vmm_check: slot %u keeps an empty page table", slot);
	if (present != vmm->table_live[slot])
		panic("vmm_check: slot %u has %u entries but counts %u", slot, present,
		      vmm->table_live[slot]);
}

size_t vmm_check(const struct vmm *vmm)
{
	const pde_t *pd = directory(vmm);
	pde_t recursive = pde_make_table(vmm->directory, PDE_RECURSIVE_FLAGS);
	size_t tables = 0;

	if ((pd[VMM_RECURSIVE_PDX] & ~PTE_HW_UPDATED) != recursive)
		panic("vmm_check: recursive slot holds 0x%08x, not 0x%08x", pd[VMM_RECURSIVE_PDX],
		      recursive);
	if (pd[VMM_SCRATCH_PDX] != 0)
		panic("vmm_check: scratch slot left holding 0x%08x", pd[VMM_SCRATCH_PDX]);
	for (unsigned i = 0; i < VMM_SCRATCH_PDX; i++) {
		if (pde_is_large(pd[i])) {
			check_large_entry(vmm, i, pd[i]);
		} else if (pde_is_table(pd[i])) {
			check_table(vmm, i, pd[i]);
			for (unsigned k = 0; k < i; k++)
				if (pde_is_table(pd[k]) && pde_table_phys(pd[k]) == pde_table_phys(pd[i]))
					panic("vmm_check: slots %u and %u share a table", k, i);
			tables++;
		} else if (pd[i] != 0 || vmm->table_live[i] != 0) {
			panic("vmm_check: empty slot %u holds 0x%08x, counts %u", i, pd[i],
			      vmm->table_live[i]);
		}
	}
	for (size_t i = 0; i < vmm->protected_count; i++) {
		const struct vmm_range *r = &vmm->protected_ranges[i];
		if (r->start >= r->end || r->end > VMM_RESERVED_BASE)
			panic("vmm_check: protected range %zu [0x%llx, 0x%llx) is malformed", i,
			      (unsigned long long)r->start, (unsigned long long)r->end);
		for (size_t k = 0; k < i; k++) {
			const struct vmm_range *o = &vmm->protected_ranges[k];
			if (ranges_overlap(r->start, r->end, o->start, o->end))
				panic("vmm_check: protected ranges %zu and %zu overlap", k, i);
		}
	}
	return tables;
}

/* ---- the kernel's address space: thin wrappers ---- */

struct vmm kernel_vmm;

int vmm_alloc_page(virt_addr_t virt, phys_addr_t phys, uint32_t flags)
{
	return vmm_map_page(&kernel_vmm, virt, phys, flags);
}

int vmm_alloc_page_4mib(virt_addr_t virt, phys_addr_t phys, uint32_t flags)
{
	return vmm_map_page_4mib(&kernel_vmm, virt, phys, flags);
}

int vmm_free_page(virt_addr_t virt)
{
	return vmm_unmap_page(&kernel_vmm, virt);
}

phys_addr_t vmm_translate(virt_addr_t virt)
{
	return vmm_virt_to_phys(&kernel_vmm, virt);
}

bool vmm_is_mapped(virt_addr_t virt)
{
	return vmm_page_mapped(&kernel_vmm, virt);
}

int vmm_alloc_range(virt_addr_t virt, phys_addr_t phys, size_t size, uint32_t flags)
{
	return vmm_map_range(&kernel_vmm, virt, phys, size, flags);
}

int vmm_free_range(virt_addr_t virt, size_t size)
{
	return vmm_unmap_range(&kernel_vmm, virt, size);
}
