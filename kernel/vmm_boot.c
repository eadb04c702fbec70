/*
 * kernel_vmm at boot. Runs with paging off, so page tables are reached by
 * their physical address until paging_enable() switches the x86 machine
 * over to the recursive slot.
 */
#include "kernel/vmm_boot.h"

#include "arch/x86/vmm_arch.h"
#include "kernel/boot.h"
#include "kernel/pmm_boot.h"
#include "lib/panic.h"
#include "mm/pmm.h"

/* A piece of the identity map: [start, end), page-aligned, with its flags. */
struct piece {
	phys_addr_t start, end;
	uint32_t flags;
};

#define RW_FLAGS (VMM_WRITABLE | VMM_GLOBAL)
#define RO_FLAGS (VMM_GLOBAL)
#define LOW_LIMIT ((phys_addr_t)VMM_RESERVED_BASE)

/* Page-table frames come from the PMM, below 4 GiB (a PDE holds 32 address bits). */
static int table_frame_alloc(void *ctx, phys_addr_t *frame)
{
	(void)ctx;
	return pmm_alloc_phys(&kernel_pmm, 1, PAGE_SIZE, PMM_LIMIT_4GIB, frame);
}

static void table_frame_free(void *ctx, phys_addr_t frame)
{
	(void)ctx;
	pmm_free_phys(&kernel_pmm, frame);
}

static const struct vmm_frame_ops pmm_table_frames = {
	.alloc = table_frame_alloc,
	.free = table_frame_free,
};

/* Adds [start, end) rounded outward to pages and clipped to [PAGE_SIZE, LOW_LIMIT). */
static void add_piece(struct piece *p, size_t *n, phys_addr_t start, phys_addr_t end)
{
	start = MAX(ALIGN_DOWN(start, (phys_addr_t)PAGE_SIZE), (phys_addr_t)PAGE_SIZE);
	end = MIN(ALIGN_UP(end, (phys_addr_t)PAGE_SIZE), LOW_LIMIT);
	if (start >= end)
		return;
	if (*n == VMM_BOOT_MAX_PIECES)
		panic("vmm: the identity map needs more than %d pieces", VMM_BOOT_MAX_PIECES);
	p[(*n)++] = (struct piece){ start, end, RW_FLAGS };
}

/* Sorts by start and merges overlapping or touching pieces; returns the new count. */
static size_t merge_pieces(struct piece *p, size_t n)
{
	for (size_t i = 1; i < n; i++) { /* insertion sort: a handful of pieces */
		struct piece x = p[i];
		size_t j = i;
		for (; j > 0 && p[j - 1].start > x.start; j--)
			p[j] = p[j - 1];
		p[j] = x;
	}
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && p[i].start <= p[out - 1].end)
			p[out - 1].end = MAX(p[out - 1].end, p[i].end);
		else
			p[out++] = p[i];
	}
	return out;
}

/*
 * Gives [cut_start, cut_end) the flags given, as a piece of its own, or
 * leaves it out of the map when keep is false.
 */
static size_t cut_piece(struct piece *p, size_t n, phys_addr_t cut_start, phys_addr_t cut_end,
			bool keep, uint32_t flags)
{
	struct piece out[VMM_BOOT_MAX_PIECES + 2];
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		phys_addr_t a = p[i].start, b = p[i].end;
		phys_addr_t lo = MAX(a, cut_start), hi = MIN(b, cut_end);
		if (lo >= hi) {
			out[m++] = p[i];
			continue;
		}
		if (a < lo)
			out[m++] = (struct piece){ a, lo, p[i].flags };
		if (keep)
			out[m++] = (struct piece){ lo, hi, flags };
		if (hi < b)
			out[m++] = (struct piece){ hi, b, p[i].flags };
	}
	if (m > VMM_BOOT_MAX_PIECES)
		panic("vmm: the identity map needs more than %d pieces", VMM_BOOT_MAX_PIECES);
	for (size_t i = 0; i < m; i++)
		p[i] = out[i];
	return m;
}

/* What the kernel must reach through its physical address once paging is on. */
static size_t identity_pieces(struct piece *p)
{
	const struct memmap_range *usable;
	size_t n = 0, count = pmm_boot_usable(&usable);

	for (size_t i = 0; i < count; i++)
		add_piece(p, &n, usable[i].start, usable[i].end);
	for (size_t i = 0; i < boot_info.loader_range_count; i++)
		add_piece(p, &n, boot_info.loader_ranges[i].start, boot_info.loader_ranges[i].end);
	/* All inside usable RAM on every machine we know, but the map is the loader's word. */
	add_piece(p, &n, kernel_phys_start(), kernel_phys_end());
	add_piece(p, &n, KERNEL_PHYS_BASE + KHEAP_OFFSET, KERNEL_PHYS_BASE + KHEAP_OFFSET + KHEAP_SIZE);
	add_piece(p, &n, pmm_boot_metadata_start(), pmm_boot_metadata_end());
	n = merge_pieces(p, n);
	n = cut_piece(p, n, kernel_phys_start(), kernel_phys_ro_end(), true, RO_FLAGS);
	return cut_piece(p, n, kernel_stack_guard(), kernel_stack_guard() + PAGE_SIZE, false, 0);
}

static void map_or_panic(const struct piece *p)
{
	int err = vmm_map_protected(&kernel_vmm, (virt_addr_t)p->start, p->start,
				    (size_t)(p->end - p->start), p->flags);
	if (err)
		panic("vmm: identity-mapping [0x%llx, 0x%llx) failed: %s", p->start, p->end,
		      mio_strerror(err));
}

size_t vmm_boot_free_ranges(struct vmm_range *out, size_t cap)
{
	size_t n = 0;
	uint64_t at = 0;

	/* Protected ranges are disjoint; visit them in address order. */
	for (;;) {
		uint64_t next_start = VMM_RESERVED_BASE, next_end = VMM_RESERVED_BASE;
		for (size_t i = 0; i < kernel_vmm.protected_count; i++) {
			const struct vmm_range *r = &kernel_vmm.protected_ranges[i];
			if (r->start >= at && r->start < next_start) {
				next_start = r->start;
				next_end = r->end;
			}
		}
		if (next_start > at) {
			if (n < cap)
				out[n] = (struct vmm_range){ at, next_start };
			n++;
		}
		if (next_start == VMM_RESERVED_BASE)
			return n;
		at = next_end;
	}
}

static void log_paging(const struct vmm_caps *caps)
{
	struct vmm_range free_ranges[VMM_BOOT_MAX_PIECES + 2];
	size_t n = vmm_boot_free_ranges(free_ranges, ARRAY_SIZE(free_ranges));

	kprintf("vmm: paging on (CR0.PG, CR0.WP%s%s), PSE-36 %s, %u physical address bits\n",
		caps->pse ? ", CR4.PSE" : "", caps->pge ? ", CR4.PGE" : "",
		caps->pse36 ? "yes" : "no", caps->phys_bits);
	vmm_print(&kernel_vmm);
	kprintf("vmm: free for vmm_alloc_page():");
	for (size_t i = 0; i < MIN(n, ARRAY_SIZE(free_ranges)); i++)
		kprintf(" [0x%08llx-0x%08llx)", free_ranges[i].start, free_ranges[i].end);
	kprintf("; 0x%08x and up is the VMM's own\n", VMM_RESERVED_BASE);
}

void vmm_boot_init(void)
{
	static struct piece pieces[VMM_BOOT_MAX_PIECES];
	struct vmm_caps caps;

	x86_paging_caps(&caps);
	struct vmm_config cfg = {
		.machine = &x86_vmm_machine,
		.frames = &pmm_table_frames,
		.caps = caps,
	};
	int err = vmm_init(&kernel_vmm, &cfg);
	if (err)
		panic("vmm: cannot build the kernel's page directory: %s", mio_strerror(err));
	err = vmm_protect(&kernel_vmm, 0, PAGE_SIZE); /* NULL must fault */
	if (err)
		panic("vmm: cannot protect page 0: %s", mio_strerror(err));
	/* Nor may anyone map the stack's guard page. */
	err = vmm_protect(&kernel_vmm, (virt_addr_t)kernel_stack_guard(), PAGE_SIZE);
	if (err)
		panic("vmm: cannot protect the stack guard page: %s", mio_strerror(err));

	size_t n = identity_pieces(pieces);
	for (size_t i = 0; i < n; i++)
		map_or_panic(&pieces[i]);
	paging_enable(vmm_directory_phys(&kernel_vmm), &caps);
	log_paging(&caps);
}
