/*
 * The x86 machine under mm/vmm.c: invlpg, CR3, where page tables can be
 * reached (by physical address before paging, through the recursive slot
 * after), CPUID paging features, and switching paging on.
 */
#include "arch/x86/vmm_arch.h"

#include "arch/x86/cpu.h"
#include "arch/x86/trap.h"
#include "lib/panic.h"

#define CPUID_EXT_BASE 0x80000000u
#define CPUID_EXT_ADDR_SIZES 0x80000008u /* EAX[7:0]: MAXPHYADDR */

static bool paging_on;
static phys_addr_t loaded_directory; /* what CR3 holds since the last arch_load_cr3 */

void arch_invlpg(virt_addr_t virt)
{
	invlpg(virt);
}

void arch_load_cr3(phys_addr_t directory_phys)
{
	if (directory_phys >= PTE_PHYS_LIMIT || !IS_ALIGNED(directory_phys, PAGE_SIZE))
		panic("arch_load_cr3: 0x%llx is not a 4 KiB frame below 4 GiB",
		      (unsigned long long)directory_phys);
	/* CR3 bits 3 and 4 (PWT, PCD for the directory) stay 0: cached write-back. */
	write_cr3((uint32_t)directory_phys);
	x86_tss_set_cr3((uint32_t)directory_phys);
	loaded_directory = directory_phys;
}

/*
 * Before paging, linear = physical: a table is where its frame is. After,
 * the directory's last slot points at itself, so the table of slot i is
 * the page at VMM_TABLE_WINDOW + i * 4 KiB, wherever its frame lies.
 */
static void *x86_table(void *ctx, unsigned pdx_, phys_addr_t table_phys)
{
	(void)ctx;
	if (!paging_on) {
		ASSERT(table_phys < PTE_PHYS_LIMIT);
		return (void *)(uintptr_t)table_phys;
	}
	/* Only the loaded directory shows through the window. */
	if (pdx_ == VMM_RECURSIVE_PDX && table_phys != loaded_directory)
		panic("vmm: directory 0x%llx is not the loaded one (0x%llx)",
		      (unsigned long long)table_phys, (unsigned long long)loaded_directory);
	return (void *)(uintptr_t)(VMM_TABLE_WINDOW + pdx_ * PAGE_SIZE);
}

static void x86_invlpg(void *ctx, virt_addr_t virt)
{
	(void)ctx;
	arch_invlpg(virt);
}

static void x86_load_cr3(void *ctx, phys_addr_t directory_phys)
{
	(void)ctx;
	arch_load_cr3(directory_phys);
}

const struct vmm_machine_ops x86_vmm_machine = {
	.table = x86_table,
	.invlpg = x86_invlpg,
	.load_cr3 = x86_load_cr3,
};

static unsigned max_phys_bits(const struct cpu_info *cpu)
{
	uint32_t a, b, c, d;

	cpuid(CPUID_EXT_BASE, &a, &b, &c, &d);
	/* Without extended leaves EAX holds no 0x8000xxxx value. */
	if ((a & 0xFFFF0000u) == CPUID_EXT_BASE && a >= CPUID_EXT_ADDR_SIZES) {
		cpuid(CPUID_EXT_ADDR_SIZES, &a, &b, &c, &d);
		return a & 0xFF;
	}
	return cpu->pae || cpu->pse36 ? 36 : 32;
}

void x86_paging_caps(struct vmm_caps *caps)
{
	struct cpu_info cpu;
	unsigned bits;

	cpu_identify(&cpu);
	caps->pse = cpu.pse;
	caps->pge = cpu.pge;
	caps->pse36 = cpu.pse && cpu.pse36;
	bits = caps->pse36 ? max_phys_bits(&cpu) : 32;
	/* The SDM caps PSE-36 at 40 bits; fewer than 32 would be a CPU bug. */
	caps->phys_bits = MIN(MAX(bits, 32u), PDE_LARGE_PHYS_BITS_MAX);
}

void paging_enable(phys_addr_t directory_phys, const struct vmm_caps *caps)
{
	struct vmm_caps have;

	if (paging_on || (read_cr0() & CR0_PG))
		panic("paging_enable: paging is already on");
	x86_paging_caps(&have);
	if ((caps->pse && !have.pse) || (caps->pse36 && !have.pse36) || (caps->pge && !have.pge) ||
	    (caps->pse36 && caps->phys_bits > have.phys_bits))
		panic("paging_enable: the CPU lacks a feature the tables use (pse %d/%d, pse36 %d/%d, "
		      "pge %d/%d, phys bits %u/%u)", caps->pse, have.pse, caps->pse36, have.pse36,
		      caps->pge, have.pge, caps->phys_bits, have.phys_bits);
	if (read_cr4() & CR4_PAE)
		panic("paging_enable: CR4.PAE is set, but these are 32-bit page tables");

	if (caps->pse)
		cr4_set_bits(CR4_PSE);
	arch_load_cr3(directory_phys);
	cr0_set_bits(CR0_PG | CR0_WP);
	paging_on = true;
	if (caps->pge)
		cr4_set_bits(CR4_PGE);
}

bool paging_enabled(void)
{
	return paging_on;
}
