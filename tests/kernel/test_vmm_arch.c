/*
 * The x86 machine layer under the VMM (arch/x86/vmm_arch.c) as boot left
 * it: features from CPUID, and the control registers paging_enable() set.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/vmm_arch.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"
#include "lib/string.h"
#include "mm/vmm.h"

KTEST(vmm_caps_come_from_cpuid)
{
	struct vmm_caps caps;

	x86_paging_caps(&caps);
	KT_EXPECT_EQ(caps.pse, boot_cpu.pse);
	KT_EXPECT_EQ(caps.pge, boot_cpu.pge);
	KT_EXPECT_EQ(caps.pse36, boot_cpu.pse && boot_cpu.pse36);
	KT_EXPECT(caps.phys_bits >= 32 && caps.phys_bits <= 40);
	KT_EXPECT(caps.pse36 || caps.phys_bits == 32);
	KT_EXPECT_EQ(kernel_vmm.cfg.caps.pse36, caps.pse36);
}

KTEST(paging_is_on_with_the_detected_features)
{
	KT_ASSERT(paging_enabled());
	KT_EXPECT((read_cr0() & (CR0_PG | CR0_WP | CR0_PE)) == (CR0_PG | CR0_WP | CR0_PE));
	KT_EXPECT_EQ(read_cr3(), vmm_directory_phys(&kernel_vmm));
	KT_EXPECT_EQ(!!(read_cr4() & CR4_PSE), boot_cpu.pse);
	KT_EXPECT_EQ(!!(read_cr4() & CR4_PGE), boot_cpu.pge);
	KT_EXPECT_EQ(read_cr4() & CR4_PAE, 0);              /* 32-bit paging, not PAE */
	KT_EXPECT_EQ(read_eflags() & EFLAGS_IF, 0);         /* nothing turned interrupts on */
}

static void enable_paging_again(void *arg)
{
	struct vmm_caps caps;
	(void)arg;
	x86_paging_caps(&caps);
	paging_enable(vmm_directory_phys(&kernel_vmm), &caps);
}

KTEST(paging_enable_refuses_to_run_twice)
{
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(enable_paging_again, NULL, &rec), TRAP_PANIC);
	KT_EXPECT(strcmp(rec.message, "paging_enable: paging is already on") == 0);
}
