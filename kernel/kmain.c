/*
 * The kernel's C entry point: bring up the console and exception handling,
 * read what the loader handed over, then run the tests or halt.
 */
#include "arch/x86/cpu.h"
#include "arch/x86/qemu.h"
#include "arch/x86/serial.h"
#include "arch/x86/trap.h"
#include "kernel/boot.h"
#include "kernel/console.h"
#include "kernel/kheap_init.h"
#include "kernel/memdump.h"
#include "kernel/ktest.h"
#include "kernel/pmm_boot.h"
#include "kernel/vmm_boot.h"
#include "lib/kprintf.h"

static void log_cpu(const struct cpu_info *cpu)
{
	kprintf("cpu: %s family %u model %u stepping %u, paging features:%s%s%s%s\n",
		cpu->vendor, cpu->family, cpu->model, cpu->stepping, cpu->pse ? " pse" : "",
		cpu->pae ? " pae" : "", cpu->pge ? " pge" : "", cpu->pse36 ? " pse36" : "");
}

__attribute__((noreturn)) void kmain(uint32_t magic, uint32_t info_phys);

void kmain(uint32_t magic, uint32_t info_phys)
{
	serial_init();
	gdt_init();
	idt_init();
	kprintf("\nMioOS-C: a 32-bit x86 kernel built around its memory managers\n");

	boot_info_parse(magic, info_phys, &boot_info);
	ktest_mode = boot_cmdline_has(&boot_info, "test");
	cpu_identify(&boot_cpu);

	boot_log_print(&boot_info);
	log_cpu(&boot_cpu);
	kheap_init(&boot_info);
	pmm_boot_init();
	vmm_boot_init();

	if (ktest_mode) {
		int failures = ktest_run(NULL);
		qemu_exit(failures == 0 ? QEMU_EXIT_PASS : QEMU_EXIT_FAIL);
	}
	memdump_print(); /* once at boot: tools/mksvg.c turns it into pictures */
	console_run();
}
