/* What the loader handed over, as the kernel sees it on real (emulated) hardware. */
#include "arch/x86/cpu.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"
#include "lib/string.h"

static void check_bad_magic(void *arg)
{
	boot_check_magic(*(uint32_t *)arg);
}

KTEST(wrong_boot_magic_panics_naming_it)
{
	uint32_t magic = 0xdeadbeef;
	struct trap_record rec;
	KT_ASSERT_EQ(run_catching(check_bad_magic, &magic, &rec), TRAP_PANIC);
	KT_EXPECT(strncmp(rec.message, "bad boot magic 0xdeadbeef", 25) == 0);
}

KTEST(command_line_selects_test_mode)
{
	KT_EXPECT(boot_cmdline_has(&boot_info, "test"));
	KT_EXPECT(!boot_cmdline_has(&boot_info, "tes"));
}

KTEST(memory_map_has_available_ram_under_the_kernel)
{
	bool covered = false;
	KT_ASSERT(boot_info.mmap_count > 0);
	for (size_t i = 0; i < boot_info.mmap_count; i++) {
		const struct boot_mmap_entry *e = &boot_info.mmap[i];
		if (e->type == MEMMAP_AVAILABLE && e->base <= kernel_phys_start() &&
		    e->base + e->length >= kernel_phys_end())
			covered = true;
	}
	KT_EXPECT(covered);
}

KTEST(kernel_image_is_below_the_heap)
{
	KT_EXPECT_EQ(kernel_phys_start(), KERNEL_PHYS_BASE);
	KT_EXPECT(kernel_phys_end() <= (phys_addr_t)KERNEL_PHYS_BASE + KHEAP_OFFSET);
}

KTEST(test_module_is_loaded_and_recorded)
{
	static const char magic[] = "MIOOS-TEST-MODULE";
	KT_ASSERT_EQ(boot_info.module_count, 1);
	const struct boot_module *m = &boot_info.modules[0];
	KT_EXPECT(m->end > m->start);
	KT_EXPECT((m->start & (PAGE_SIZE - 1)) == 0); /* we asked for page-aligned modules */
	KT_EXPECT(memcmp((const void *)(uintptr_t)m->start, magic, sizeof(magic) - 1) == 0);

	bool recorded = false;
	for (size_t i = 0; i < boot_info.loader_range_count; i++) {
		const struct boot_range *r = &boot_info.loader_ranges[i];
		if (r->start == m->start && r->end == m->end)
			recorded = true;
	}
	KT_EXPECT(recorded);
}

KTEST(cpuid_reports_a_vendor_and_4mib_pages)
{
	KT_EXPECT(strlen(boot_cpu.vendor) == 12);
	KT_EXPECT(boot_cpu.max_leaf >= 1);
	KT_EXPECT(boot_cpu.pse); /* every CPU QEMU emulates for us has PSE */
}
