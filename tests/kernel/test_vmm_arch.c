/*
 * The VMM on the real machine layer (arch/x86/vmm_arch.c) and the i686
 * build of mm/vmm.c, with paging still off: tables are built in a small
 * static frame pool and read back as the CPU would find them. Paging itself
 * is switched on and proven by the boot-time VMM tests (phase 2).
 */
#include "arch/x86/cpu.h"
#include "arch/x86/vmm_arch.h"
#include "kernel/ktest.h"
#include "lib/string.h"
#include "mm/vmm.h"

#define POOL_FRAMES 4

/* Before paging a frame's address is its physical address: the kernel runs identity-placed. */
static uint8_t pool[POOL_FRAMES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static bool pool_used[POOL_FRAMES];

static int pool_alloc(void *ctx, phys_addr_t *frame)
{
	(void)ctx;
	for (unsigned i = 0; i < POOL_FRAMES; i++)
		if (!pool_used[i]) {
			pool_used[i] = true;
			memset(pool[i], 0xA5, PAGE_SIZE); /* junk: the VMM must zero its tables */
			*frame = (uintptr_t)pool[i];
			return 0;
		}
	return -MIO_ENOMEM;
}

static void pool_free(void *ctx, phys_addr_t frame)
{
	(void)ctx;
	pool_used[(frame - (uintptr_t)pool[0]) / PAGE_SIZE] = false;
}

static unsigned pool_out(void)
{
	unsigned n = 0;
	for (unsigned i = 0; i < POOL_FRAMES; i++)
		n += pool_used[i];
	return n;
}

static const struct vmm_frame_ops pool_ops = { pool_alloc, pool_free };

KTEST(vmm_caps_come_from_cpuid)
{
	struct vmm_caps caps;

	x86_paging_caps(&caps);
	KT_EXPECT_EQ(caps.pse, boot_cpu.pse);
	KT_EXPECT_EQ(caps.pge, boot_cpu.pge);
	KT_EXPECT_EQ(caps.pse36, boot_cpu.pse && boot_cpu.pse36);
	KT_EXPECT(caps.phys_bits >= 32 && caps.phys_bits <= 40);
	KT_EXPECT(caps.pse36 || caps.phys_bits == 32);
	KT_EXPECT(!paging_enabled());
}

KTEST(vmm_builds_tables_by_physical_address_before_paging)
{
	struct vmm v;
	struct vmm_config cfg = { &x86_vmm_machine, NULL, &pool_ops, NULL, { .phys_bits = 32 } };
	const pde_t *pd;

	x86_paging_caps(&cfg.caps);
	memset(pool_used, 0, sizeof(pool_used));
	KT_ASSERT_EQ(vmm_init(&v, &cfg), 0);
	pd = (const pde_t *)(uintptr_t)vmm_directory_phys(&v);
	KT_EXPECT_EQ(pd[VMM_RECURSIVE_PDX], (uint32_t)vmm_directory_phys(&v) | PTE_P | PTE_W);

	KT_ASSERT_EQ(vmm_map_page(&v, 0x40001000u, 0x00123000u, VMM_WRITABLE), 0);
	KT_ASSERT(pde_is_table(pd[pdx(0x40001000u)]));
	const pte_t *pt = (const pte_t *)(uintptr_t)pde_table_phys(pd[pdx(0x40001000u)]);
	KT_EXPECT_EQ(pt[1], 0x00123000u | PTE_P | PTE_W);
	KT_EXPECT_EQ(pt[0], 0);
	KT_EXPECT_EQ(pt[1023], 0);
	KT_EXPECT_EQ(vmm_virt_to_phys(&v, 0x40001abcu), 0x00123abcu);
	if (cfg.caps.pse) {
		KT_ASSERT_EQ(vmm_map_page_4mib(&v, 0x40400000u, 0x00800000u, VMM_GLOBAL), 0);
		KT_EXPECT_EQ(pd[pdx(0x40400000u)], 0x00800000u | PTE_PS | PTE_P | PTE_G);
		KT_EXPECT_EQ(vmm_virt_to_phys(&v, 0x40512345u), 0x00912345u);
	}
	KT_EXPECT_EQ(vmm_check(&v), 1);
	KT_EXPECT_EQ(pool_out(), 2);
	KT_EXPECT_EQ(vmm_unmap_page(&v, 0x40001000u), 0);
	KT_EXPECT_EQ(pool_out(), 1); /* the emptied table went back */
	KT_EXPECT_EQ(vmm_unmap_page(&v, 0x40001000u), -MIO_ENOENT);
	KT_EXPECT_EQ(vmm_map_page(&v, VMM_TABLE_WINDOW, 0x1000u, 0), -MIO_EPERM);
	KT_EXPECT(!paging_enabled());
}
