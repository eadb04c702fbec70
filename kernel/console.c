/*
 * Console commands. Every argument is checked before a manager sees it, so
 * a typo prints an error and the prompt comes back; only a deliberate access
 * through a mapping the person made can fault.
 */
#include "kernel/console.h"

#include "arch/x86/qemu.h"
#include "arch/x86/serial.h"
#include "kernel/boot.h"
#include "kernel/ktest.h"
#include "lib/kprintf.h"
#include "lib/lineedit.h"
#include "lib/parse.h"
#include "lib/string.h"

#define PROMPT "mio> "
#define MAX_WORDS 8

struct command {
	const char *name;
	const char *usage; /* arguments, for help and error messages */
	const char *help;
	int min_args, max_args;
	int (*run)(int argc, char **argv);
};

static const struct command commands[];

/* Prints "error: <what>" and returns -MIO_EINVAL, for the commands' early exits. */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
	va_list ap;
	kprintf("error: ");
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
	kprintf("\n");
	return -MIO_EINVAL;
}

static int cmd_help(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("commands:\n");
	for (const struct command *c = commands; c->name; c++) {
		char left[40];
		ksnprintf(left, sizeof(left), "%s %s", c->name, c->usage);
		kprintf("  %-28s %s\n", left, c->help);
	}
	kprintf("numbers: decimal, 0x hex, or with a K/M/G suffix (4K, 0x2M)\n");
	return 0;
}

static int cmd_mem(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	boot_log_print(&boot_info);
	return 0;
}

static int cmd_test(int argc, char **argv)
{
	int failures = ktest_run(argc > 1 ? argv[1] : NULL);
	return failures ? -MIO_EINVAL : 0;
}

static int cmd_halt(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	kprintf("halting\n");
	qemu_exit(QEMU_EXIT_PASS);
}

static const struct command commands[] = {
	{ "help", "", "this list", 0, 0, cmd_help },
	{ "mem", "", "the loader's memory map, kernel extent, modules", 0, 0, cmd_mem },
	{ "test", "[FILTER]", "run the kernel tests (those whose name contains FILTER)", 0, 1, cmd_test },
	{ "halt", "", "leave QEMU", 0, 0, cmd_halt },
	{ NULL, NULL, NULL, 0, 0, NULL },
};

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
	}
	return NULL;
}

int console_execute(char *line)
{
	char *argv[MAX_WORDS];
	int argc = split_words(line, argv, MAX_WORDS);

	if (argc < 0)
		return usage_error("too many words (at most %d)", MAX_WORDS);
	if (argc == 0)
		return 0;
	const struct command *c = find_command(argv[0]);
	if (!c)
		return usage_error("unknown command '%s' (try help)", argv[0]);
	if (argc - 1 < c->min_args || argc - 1 > c->max_args)
		return usage_error("usage: %s %s", c->name, c->usage);
	return c->run(argc, argv);
}

static void echo_serial(const char *s, size_t n, void *ctx)
{
	(void)ctx;
	for (size_t i = 0; i < n; i++)
		serial_putc(s[i]);
}

void console_run(void)
{
	static struct lineedit editor;

	lineedit_init(&editor, echo_serial, NULL);
	kprintf("\nMioOS-C memory console. Type help for the commands.\n" PROMPT);
	for (;;) {
		if (!lineedit_feed(&editor, serial_getc()))
			continue;
		console_execute(editor.line);
		kprintf(PROMPT);
	}
}
