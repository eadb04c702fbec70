/* The kernel's console output: kvformat() into the serial port. */
#include "lib/kprintf.h"

#include "arch/x86/serial.h"

static void serial_sink(char c, void *ctx)
{
	(void)ctx;
	serial_putc(c);
}

int kvprintf(const char *fmt, va_list ap)
{
	return kvformat(serial_sink, NULL, fmt, ap);
}
