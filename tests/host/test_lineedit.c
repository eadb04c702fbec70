/* lib/lineedit.c: what a terminal sends, what it should show, which lines come out. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "lib/lineedit.h"

static char screen[4096];
static size_t screen_len;
static struct lineedit le;

static void record(const char *s, size_t n, void *ctx)
{
	(void)ctx;
	cr_assert_lt(screen_len + n, sizeof(screen));
	memcpy(screen + screen_len, s, n);
	screen_len += n;
	screen[screen_len] = '\0';
}

static void setup(void)
{
	screen_len = 0;
	screen[0] = '\0';
	lineedit_init(&le, record, NULL);
}

/* Feeds every byte of keys; returns the number of lines completed, last one in le.line. */
static int type(const char *keys)
{
	int lines = 0;
	for (; *keys; keys++)
		lines += lineedit_feed(&le, *keys);
	return lines;
}

TestSuite(lineedit, .init = setup);

Test(lineedit, enter_completes_a_line_and_echoes)
{
	cr_assert_eq(type("help"), 0);
	cr_assert_eq(type("\r"), 1);
	cr_assert_str_eq(le.line, "help");
	cr_assert_str_eq(screen, "help\n");
}

Test(lineedit, crlf_is_one_line_and_lf_alone_works)
{
	cr_assert_eq(type("a\r\n"), 1);
	cr_assert_str_eq(le.line, "a");
	cr_assert_eq(type("b\n"), 1);
	cr_assert_str_eq(le.line, "b");
	cr_assert_eq(type("\r\r"), 2); /* two Enters are two (empty) lines */
}

Test(lineedit, backspace_and_delete_erase)
{
	cr_assert_eq(type("heaq\x7f" "p\r"), 1);
	cr_assert_str_eq(le.line, "heap");
	cr_assert_eq(type("x\b\b\b\r"), 1); /* extra backspaces on an empty line do nothing */
	cr_assert_str_eq(le.line, "");
	cr_assert(strstr(screen, "heaq\b \bp") != NULL);
}

Test(lineedit, ctrl_u_erases_the_line_and_ctrl_c_abandons_it)
{
	cr_assert_eq(type("garbage\x15" "mem\r"), 1);
	cr_assert_str_eq(le.line, "mem");
	cr_assert_eq(type("halt\x03"), 1);
	cr_assert_str_eq(le.line, "");
}

Test(lineedit, arrows_walk_the_history)
{
	type("first\r");
	type("second\r");
	type("\x1b[A");
	cr_assert_str_eq(le.line, "second");
	type("\x1b[A");
	cr_assert_str_eq(le.line, "first");
	type("\x1b[A"); /* nothing older: stays */
	cr_assert_str_eq(le.line, "first");
	type("\x1b[B");
	cr_assert_str_eq(le.line, "second");
	type("\x1b[B");
	cr_assert_eq(le.len, 0);
	cr_assert_eq(type("\x1b[A!\r"), 1);
	cr_assert_str_eq(le.line, "second!");
}

Test(lineedit, history_keeps_the_last_lines_only)
{
	char cmd[16];
	for (int i = 0; i < LINEEDIT_HISTORY + 3; i++) {
		snprintf(cmd, sizeof(cmd), "cmd%d\r", i);
		type(cmd);
	}
	for (int i = 0; i < LINEEDIT_HISTORY + 2; i++)
		type("\x1b[A");
	snprintf(cmd, sizeof(cmd), "cmd%d", 3);
	cr_assert_str_eq(le.line, cmd);
}

Test(lineedit, blank_lines_are_not_remembered)
{
	type("kept\r");
	type("   \r");
	type("\x1b[A");
	cr_assert_str_eq(le.line, "kept");
}

Test(lineedit, other_escapes_and_controls_are_ignored)
{
	cr_assert_eq(type("a\x1b[C\x1b[3~\x01\x02" "b\r"), 1);
	cr_assert_str_eq(le.line, "ab");
}

Test(lineedit, overlong_input_is_dropped_with_a_bell)
{
	for (int i = 0; i < LINEEDIT_MAX + 10; i++)
		type("x");
	cr_assert_eq(le.len, LINEEDIT_MAX);
	cr_assert(strchr(screen, '\a') != NULL);
	cr_assert_eq(type("\r"), 1);
	cr_assert_eq(strlen(le.line), LINEEDIT_MAX);
}
