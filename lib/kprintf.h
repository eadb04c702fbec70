/*
 * Formatted output.
 *
 * kvformat() is the one formatter; everything else is a sink around it.
 * Supported: %d %i %u %x %X %p %s %c %%, the length modifiers hh h l ll z
 * (so 64-bit values print in full on i386), the flags '-' (left-justify) and
 * '0' (zero padding), a field width (digits or '*') and a precision for %s.
 * %p prints 0x and the pointer in zero-padded hex of pointer width; a wider
 * field width pads it with spaces (on the right under '-').
 * An unknown conversion is printed literally, so a bad format is visible
 * rather than silently consuming arguments.
 */
#ifndef MIO_LIB_KPRINTF_H
#define MIO_LIB_KPRINTF_H

#include <stdarg.h>
#include <stddef.h>

/* Receives each character the formatter produces. */
typedef void (*format_sink_t)(char c, void *ctx);

/* Formats into sink; returns the number of characters produced. */
int kvformat(format_sink_t sink, void *ctx, const char *fmt, va_list ap);

/*
 * C99 snprintf semantics: writes at most size-1 characters plus a NUL
 * (nothing when size is 0) and returns the length the full output would have.
 */
__attribute__((format(printf, 3, 4)))
int ksnprintf(char *buf, size_t size, const char *fmt, ...);
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/*
 * Prints to the console: the serial port in the kernel, stdout on the host.
 * kprintf() is lib/format.c's; kvprintf() is each platform's own
 * (kernel/kprintf.c, tests/host/support/host_console.c).
 */
__attribute__((format(printf, 1, 2)))
int kprintf(const char *fmt, ...);
int kvprintf(const char *fmt, va_list ap);

#endif
