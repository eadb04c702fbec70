#include "lib/panic.h"

#include "arch/x86/cpu.h"
#include "arch/x86/qemu.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"

void panic_at(const char *file, int line, const char *fmt, ...)
{
	static bool panicking;
	char message[192];
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	recover_from_panic(message); /* returns unless a test expects this panic */

	if (panicking) /* panicked while reporting a panic: say the least possible */
		kprintf("PANIC (nested): %s (%s:%d)\n", message, file, line);
	else
		kprintf("PANIC: %s (%s:%d)\n", message, file, line);
	panicking = true;
	if (ktest_mode)
		qemu_exit(QEMU_EXIT_FAIL);
	cpu_halt_forever();
}
