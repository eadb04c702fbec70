/*
 * Fatal errors: the one way portable and kernel code report a broken
 * invariant or memory-corrupting misuse (double free, foreign pointer).
 *
 * The kernel implements panic_at() in kernel/panic.c: it prints
 * "PANIC: <message> (file:line)" on the console and halts, or, when the
 * kernel runs its tests, exits QEMU with the failure code. Host builds link
 * tests/host/support/host_panic.c instead, where a test can catch a panic and
 * read its message.
 */
#ifndef MIO_LIB_PANIC_H
#define MIO_LIB_PANIC_H

#include "lib/kprintf.h"

__attribute__((noreturn, format(printf, 3, 4)))
void panic_at(const char *file, int line, const char *fmt, ...);

#define panic(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)

/* Panics with the failed expression when cond is false: for invariants only. */
#define ASSERT(cond)                                                          \
	do {                                                                  \
		if (!(cond))                                                  \
			panic("assertion failed: %s", #cond);                 \
	} while (0)

#endif
