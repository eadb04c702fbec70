/*
 * What host builds of the portable code get in place of the kernel:
 * kprintf writes to stdout (or into a capture buffer), and panic() aborts
 * unless a test armed a catch, in which case it unwinds back to the test
 * with the message.
 */
#ifndef MIO_TESTS_HOST_SUPPORT_H
#define MIO_TESTS_HOST_SUPPORT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>

extern jmp_buf host_panic_env;
extern bool host_panic_armed;
extern char host_panic_message[256];

/*
 * Runs stmt and evaluates to true if it panicked (the message is then in
 * host_panic_message), false if it completed. Locals changed inside stmt
 * must be volatile to be trusted afterwards (setjmp rules).
 */
#define HOST_PANICS(stmt)                                                          \
	({                                                                         \
		bool panicked_ = true;                                             \
		host_panic_message[0] = '\0';                                      \
		host_panic_armed = true;                                           \
		if (setjmp(host_panic_env) == 0) {                                 \
			stmt;                                                      \
			panicked_ = false;                                         \
		}                                                                  \
		host_panic_armed = false;                                          \
		panicked_;                                                         \
	})

/* Sends kprintf output into buf (NUL-terminated, truncated at size) until released. */
void host_console_capture(char *buf, size_t size);
void host_console_release(void);

#endif
