/*
 * libFuzzer harness for mm/vmm.c: random sequences of map (4 KiB, 4 MiB),
 * unmap, range map and unmap, protect and protected map, lookups and MMU
 * accesses, run on the simulated machine and on the reference model
 * (tests/model/vmm_ref.h). After every step: the same return code,
 * vmm_check() clean, the page tables present equal to what the model says
 * must exist, the frames out of the frame source equal to directory +
 * tables (no leak), the frame budget spent alike, as many protected ranges
 * as the model holds. At the end: the whole mapping list compared.
 *
 * Input: 2 setup bytes (CPU features, protected ranges, paging on or off),
 * then one operation per 6 bytes. Addresses come from a few directory
 * slots (a dense low area and the top of the space, reserved slots
 * included) so that operations collide often.
 *
 * The operation is op % 18 (see pick_op). The selector used to be op % 9,
 * and codes 9-17 still mean what 0-8 do, except 15 and 16, which now
 * protect ranges in the middle of the stream: vmm_protect() (in bursts
 * that can fill all VMM_PROTECTED_MAX ranges) and vmm_map_protected(),
 * with lengths that are sometimes unaligned, zero, end at 4 GiB or wrap
 * past 2^64.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/vmm.h"
#include "tests/host/support/vmm_sim.h"
#include "tests/model/vmm_ref.h"

#define SIM_FRAMES 1100 /* more than the directory and every table: only budgets fail */
#define SIM_RAM_BASE 0x00400000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vmm_sim sim;
static struct vmm vmm;
static struct vmm_ref ref;
static size_t budget; /* the model's view of the sim's allocation budget */

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_vmm: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

struct input {
	const uint8_t *p;
	size_t left;
};

static uint8_t byte(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

static const struct vmm_caps caps_choices[] = {
	{ .pse = true, .pse36 = true, .pge = true, .phys_bits = 36 },
	{ .pse = true, .pse36 = true, .pge = false, .phys_bits = 40 },
	{ .pse = true, .pge = true, .phys_bits = 32 },
	{ .phys_bits = 32 },
};

/* A directory slot: the low eight, or one near the top (the reserved two included). */
static uint32_t pick_slot(uint8_t b)
{
	static const uint32_t top[] = { 1016, 1019, 1020, 1021, 1022, 1023, 256, 768 };
	return b & 0x80 ? top[b & 7] : b & 7;
}

/* A page in the slot: one of the first 16 or the last 16. */
static uint32_t pick_page(uint8_t b)
{
	return (b & 0x0F) | (b & 0x10 ? PT_ENTRIES - 16 : 0);
}

/* The high physical bits: mostly none, sometimes past 4 GiB, MAXPHYADDR, 2^40. */
static uint64_t pick_phys_high(uint8_t b)
{
	static const uint64_t high[] = { 0, 0, 0, 0, 1, 0xF, 0x10, 0x100 };
	return high[b & 7] << 32;
}

static virt_addr_t pick_virt(uint8_t slot_b, uint8_t page_b, uint8_t misalign)
{
	virt_addr_t v = pt_linear(pick_slot(slot_b), pick_page(page_b));
	return v + (misalign ? 0x800 : 0);
}

/*
 * The operation of an op byte: op % 18, folded onto the nine original
 * operations, but 15 and 16 (budget and MMU access before) are protect
 * and protected map. Of all pairs, those two change the fewest inputs of
 * the committed corpus (47 of 473) and none of the hand-written seeds.
 */
static unsigned pick_op(uint8_t op)
{
	unsigned code = op % 18;

	if (code == 15 || code == 16)
		return code - 15 + 9;
	return code % 9;
}

/*
 * The protect ops' length, from the range ops' length len and b[5] bits
 * 6-7: len as it is (0, 1), len made unaligned (2), or bent (3): up to
 * exactly 4 GiB when len is 0, else 2^64 - len, which wraps virt + size
 * (size_t has 64 bits on the host).
 */
static size_t bend_len(size_t len, virt_addr_t va, uint8_t b5)
{
	switch (b5 >> 6) {
	case 2:
		return len + PAGE_SIZE / 2;
	case 3:
		return len ? (size_t)0 - len : (size_t)(LINEAR_LIMIT - va);
	default:
		return len;
	}
}

static void expect_same(const char *what, int got, int want)
{
	if (got != want)
		fail("%s: vmm says %d (%s), model says %d (%s)", what, got, mio_strerror(got), want,
		     mio_strerror(want));
}

static bool same_mapping(const struct vmm_mapping *a, const struct vmm_mapping *b)
{
	return a->virt == b->virt && a->phys == b->phys && a->size == b->size && a->flags == b->flags;
}

static void compare_lookup(virt_addr_t va)
{
	struct vmm_mapping a, b;
	int ra = vmm_lookup(&vmm, va, &a), rb = vmm_ref_lookup(&ref, va, &b);

	expect_same("lookup", ra, rb);
	if (ra == 0 && !same_mapping(&a, &b))
		fail("lookup 0x%lx: vmm {0x%lx, 0x%llx, %zu, 0x%x}, model {0x%lx, 0x%llx, %zu, 0x%x}",
		     (unsigned long)va, (unsigned long)a.virt, (unsigned long long)a.phys, a.size,
		     a.flags, (unsigned long)b.virt, (unsigned long long)b.phys, b.size, b.flags);
	if (vmm_virt_to_phys(&vmm, va) != (rb == 0 ? b.phys + (va - b.virt) : VMM_PHYS_NONE))
		fail("translate 0x%lx disagrees", (unsigned long)va);
	if (vmm_page_mapped(&vmm, va) != (rb == 0))
		fail("is_mapped 0x%lx disagrees", (unsigned long)va);
}

/* What the MMU sees must be what the model maps: a missing invlpg shows here. */
static void compare_access(virt_addr_t va)
{
	struct vmm_mapping b;
	phys_addr_t want = VMM_PHYS_NONE;

	if (!sim.paging)
		return;
	if (vmm_ref_lookup(&ref, va, &b) == 0)
		want = b.phys + (va - b.virt);
	else if (va >= VMM_RESERVED_BASE)
		return; /* the recursive window: mapped, but not the model's business */
	if (vmm_sim_access(&sim, va) != want)
		fail("MMU access to 0x%lx gives 0x%llx, model 0x%llx", (unsigned long)va,
		     (unsigned long long)vmm_sim_access(&sim, va), (unsigned long long)want);
}

static void check_invariants(void)
{
	size_t tables = vmm_check(&vmm);

	if (tables != vmm_ref_tables(&ref))
		fail("%zu page tables, the model needs %zu", tables, vmm_ref_tables(&ref));
	if (sim.frames_out != 1 + tables)
		fail("%zu frames out for a directory and %zu tables: leak", sim.frames_out, tables);
	if (sim.alloc_budget != budget)
		fail("frame budget %zu, model %zu", sim.alloc_budget, budget);
	if (vmm.protected_count != ref.protected_count)
		fail("%zu protected ranges, model %zu", vmm.protected_count, ref.protected_count);
}

/* ---- the final comparison of every mapping ---- */

struct list {
	struct vmm_mapping *m;
	size_t n, cap;
};

static void append(const struct vmm_mapping *m, void *arg)
{
	struct list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->m = realloc(l->m, l->cap * sizeof(*l->m));
		if (!l->m)
			abort();
	}
	l->m[l->n++] = *m;
}

static void compare_everything(void)
{
	struct list a = { 0 }, b = { 0 };

	vmm_walk(&vmm, append, &a);
	vmm_ref_walk(&ref, append, &b);
	if (a.n != b.n)
		fail("vmm has %zu mappings, model %zu", a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		if (!same_mapping(&a.m[i], &b.m[i]))
			fail("mapping %zu differs (vmm 0x%lx, model 0x%lx)", i,
			     (unsigned long)a.m[i].virt, (unsigned long)b.m[i].virt);
	free(a.m);
	free(b.m);
}

/* ---- setup and one step ---- */

static void setup(uint8_t caps_b, uint8_t prot_b)
{
	struct vmm_caps caps = caps_choices[caps_b & 3];
	struct vmm_config cfg;

	vmm_sim_reset(&sim);
	cfg = vmm_sim_config(&sim, caps);
	if (vmm_init(&vmm, &cfg) != 0)
		fail("vmm_init failed");
	vmm_ref_reset(&ref, caps);
	budget = SIZE_MAX;
	if (prot_b & 1)
		expect_same("protect page 0", vmm_protect(&vmm, 0, PAGE_SIZE),
			    vmm_ref_protect(&ref, 0, PAGE_SIZE));
	if (prot_b & 2) /* a kernel-like identity map in 4 KiB pages */
		expect_same("protected map 1", vmm_map_protected(&vmm, 0x100000, 0x100000, 0x300000, VMM_WRITABLE | VMM_GLOBAL),
			    vmm_ref_map_protected(&ref, 0x100000, 0x100000, 0x300000, VMM_WRITABLE | VMM_GLOBAL, &budget));
	if (prot_b & 4) /* RAM identity-mapped in 4 MiB pages where possible */
		expect_same("protected map 2", vmm_map_protected(&vmm, 0x01000000, 0x01000000, 0x00801000, VMM_WRITABLE),
			    vmm_ref_map_protected(&ref, 0x01000000, 0x01000000, 0x00801000, VMM_WRITABLE, &budget));
	if (prot_b & 8) {
		vmm_activate(&vmm);
		vmm_sim_paging_on(&sim);
	}
	check_invariants();
}

/*
 * Protects n ranges of len bytes, one page apart, from va: one call alone
 * mostly meets mappings and ranges already there, a burst can also use up
 * the VMM_PROTECTED_MAX slots.
 */
static void protect_burst(virt_addr_t va, size_t len, unsigned n)
{
	for (unsigned i = 0; i < n; i++, va += len + PAGE_SIZE)
		expect_same("protect", vmm_protect(&vmm, va, len), vmm_ref_protect(&ref, va, len));
}

static void step(const uint8_t b[6])
{
	uint8_t op = b[0];
	virt_addr_t va = pick_virt(b[1], b[2], op & 0x80 && (b[3] & 1));
	uint32_t flags = (b[4] & VMM_FLAGS_ALL) | (op & 0x40 && b[5] == 0xFF ? PTE_PS : 0);
	/* Mostly low frames (plus high bits); with b[5] bit 3, frames just below 4 GiB. */
	phys_addr_t pa_small = b[5] & 8 ? 0xFFF00000u + ((phys_addr_t)b[3] << PAGE_SHIFT)
				       : ((phys_addr_t)b[3] << PAGE_SHIFT) | pick_phys_high(b[5]);
	phys_addr_t pa_large = ((phys_addr_t)(b[3] & 0x3F) << LARGE_PAGE_SHIFT) | pick_phys_high(b[5]);
	size_t len = (size_t)((b[5] >> 4) & 3) * LARGE_PAGE_SIZE + (size_t)(b[4] >> 4) * PAGE_SIZE;
	phys_addr_t pa_range = op & 0x20 ? pa_large : pa_small;
	size_t bent_len = bend_len(len, va, b[5]);

	switch (pick_op(op)) {
	case 0:
		expect_same("map", vmm_map_page(&vmm, va, pa_small, flags),
			    vmm_ref_map_page(&ref, va, pa_small, flags, &budget));
		break;
	case 1:
		expect_same("map 4 MiB", vmm_map_page_4mib(&vmm, va & ~(virt_addr_t)0x3FFFFF, pa_large, flags),
			    vmm_ref_map_page_4mib(&ref, va & ~(virt_addr_t)0x3FFFFF, pa_large, flags));
		break;
	case 2:
		expect_same("unmap", vmm_unmap_page(&vmm, va), vmm_ref_unmap_page(&ref, va));
		break;
	case 3:
		expect_same("map range", vmm_map_range(&vmm, va, pa_range, len, flags),
			    vmm_ref_map_range(&ref, va, pa_range, len, flags, &budget));
		break;
	case 4:
		expect_same("unmap range", vmm_unmap_range(&vmm, va, len),
			    vmm_ref_unmap_range(&ref, va, len));
		break;
	case 5:
		compare_lookup(va + (b[3] & 0x0F) * 0x111);
		break;
	case 6: /* limit the frame source, or lift the limit */
		budget = b[3] & 0x80 ? SIZE_MAX : b[3] & 3;
		vmm_sim_fail_after(&sim, budget);
		break;
	case 7:
		compare_access(va + (b[3] & 0x0F) * 0x111);
		break;
	case 8:
		if (!sim.paging) {
			vmm_activate(&vmm);
			vmm_sim_paging_on(&sim);
		}
		break;
	case 9: /* one range, or with b[4] bit 3 a burst of 4 to 32 */
		protect_burst(va, bent_len, b[4] & 8 ? 4 * (b[4] & 7) + 4 : 1);
		break;
	case 10:
		expect_same("protected map",
			    vmm_map_protected(&vmm, va, pa_range, bent_len, flags),
			    vmm_ref_map_protected(&ref, va, pa_range, bent_len, flags, &budget));
		break;
	}
	compare_lookup(va & ~(virt_addr_t)0xFFF);
	compare_access(va & ~(virt_addr_t)0xFFF);
	check_invariants();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t caps_b, prot_b;

	if (!sim.ram) { /* both live for the whole run; each input resets them */
		vmm_sim_init(&sim, SIM_FRAMES, SIM_RAM_BASE);
		vmm_ref_init(&ref, caps_choices[0]);
	}
	sim.record_invlpg = false; /* the TLB catches what matters; no log needed */
	caps_b = byte(&in);
	prot_b = byte(&in);
	setup(caps_b, prot_b);
	sim.record_invlpg = false;
	while (in.left >= 6) {
		uint8_t b[6];
		for (int i = 0; i < 6; i++)
			b[i] = byte(&in);
		step(b);
	}
	compare_everything();
	return 0;
}
