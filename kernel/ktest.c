#include "kernel/ktest.h"

#include "lib/kprintf.h"
#include "lib/string.h"

extern const struct ktest __ktests_start[], __ktests_end[];

bool ktest_mode;

static const struct ktest *running;
static int running_failures;

void ktest_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (running_failures == 0)
		kprintf("FAIL %s\n", running ? running->name : "(no test running)");
	running_failures++;
	kprintf("     %s:%d: ", file, line);
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
}

static bool selected(const struct ktest *t, const char *filter)
{
	if (!filter || !*filter)
		return true;
	size_t flen = strlen(filter);
	for (const char *p = t->name; *p; p++) {
		if (strncmp(p, filter, flen) == 0)
			return true;
	}
	return false;
}

int ktest_run(const char *filter)
{
	int passed = 0, failed = 0;

	kprintf("ktest: running %d registered tests%s%s\n", (int)(__ktests_end - __ktests_start),
		filter && *filter ? " matching " : "", filter && *filter ? filter : "");
	for (const struct ktest *t = __ktests_start; t < __ktests_end; t++) {
		if (!selected(t, filter))
			continue;
		running = t;
		running_failures = 0;
		t->fn();
		running = NULL;
		if (running_failures == 0) {
			kprintf("PASS %s\n", t->name);
			passed++;
		} else {
			failed++;
		}
	}
	kprintf("%d passed, %d failed\n", passed, failed);
	return failed;
}
