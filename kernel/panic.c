#include "lib/panic.h"

#include "arch/x86/cpu.h"
#include "arch/x86/qemu.h"
#include "kernel/ktest.h"
#include "kernel/recover.h"

/*
 * How many panics are being reported at once, and where the first one was
 * raised. A panic's own arguments can be what is broken (a %s pointing at
 * unmapped memory faults inside the formatting), so a fault or panic while
 * one is reported must not format it again: it would only fault again.
 */
static unsigned depth;
static const char *first_file;
static int first_line;

static __attribute__((noreturn)) void stop_machine(void)
{
	if (ktest_mode)
		qemu_exit(QEMU_EXIT_FAIL);
	cpu_halt_forever();
}

/*
 * A panic while the one from first_file:first_line was being reported. Only
 * values known to be sound are formatted: the two source locations and this
 * panic's format string as it stands, never its arguments.
 */
static __attribute__((noreturn)) void nested_panic(const char *file, int line, const char *fmt)
{
	char message[192];

	depth = 2; /* a third one halts without a word */
	ksnprintf(message, sizeof(message), "%s:%d, while reporting the panic from %s:%d: %s", file,
		  line, first_file, first_line, fmt);
	recover_from_panic(message); /* returns unless a test expects this panic */
	kprintf("PANIC (nested): %s\n", message);
	stop_machine();
}

void panic_abandoned(void)
{
	depth = 0;
}

void panic_at(const char *file, int line, const char *fmt, ...)
{
	char message[192];
	va_list ap;

	if (depth >= 2)
		stop_machine();
	if (depth == 1)
		nested_panic(file, line, fmt);
	depth = 1;
	first_file = file;
	first_line = line;

	va_start(ap, fmt);
	kvsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);

	recover_from_panic(message); /* returns unless a test expects this panic */
	kprintf("PANIC: %s (%s:%d)\n", message, file, line);
	stop_machine();
}
