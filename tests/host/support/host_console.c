#include <stdio.h>

#include "lib/kprintf.h"
#include "tests/host/support/host_support.h"

static char *capture_buf;
static size_t capture_size, capture_len;

void host_console_capture(char *buf, size_t size)
{
	capture_buf = buf;
	capture_size = size;
	capture_len = 0;
	if (size > 0)
		buf[0] = '\0';
}

void host_console_release(void)
{
	capture_buf = NULL;
}

static void host_sink(char c, void *ctx)
{
	(void)ctx;
	if (!capture_buf) {
		putchar(c);
		return;
	}
	if (capture_len + 1 < capture_size) {
		capture_buf[capture_len++] = c;
		capture_buf[capture_len] = '\0';
	}
}

int kvprintf(const char *fmt, va_list ap)
{
	return kvformat(host_sink, NULL, fmt, ap);
}
