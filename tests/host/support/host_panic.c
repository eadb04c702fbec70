#include <stdio.h>
#include <stdlib.h>

#include "lib/panic.h"
#include "tests/host/support/host_support.h"

jmp_buf host_panic_env;
bool host_panic_armed;
char host_panic_message[256];

void panic_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	kvsnprintf(host_panic_message, sizeof(host_panic_message), fmt, ap);
	va_end(ap);

	if (host_panic_armed) {
		host_panic_armed = false;
		longjmp(host_panic_env, 1);
	}
	fprintf(stderr, "PANIC: %s (%s:%d)\n", host_panic_message, file, line);
	fflush(stderr);
	abort();
}
