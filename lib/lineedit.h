/*
 * A tiny line editor for a serial console: feed it the bytes a terminal
 * sends, one at a time, and it echoes what the person should see and hands
 * back each finished line. It understands Enter (CR, LF or CRLF), Backspace
 * (DEL or BS), Ctrl-U (erase the line), Ctrl-C (abandon it), and the up and
 * down arrows (ESC [ A / ESC [ B) to walk through the last few lines.
 * Other control bytes and escape sequences are ignored; printable bytes past
 * the line's capacity are dropped with a bell.
 */
#ifndef MIO_LIB_LINEEDIT_H
#define MIO_LIB_LINEEDIT_H

#include "lib/types.h"

#define LINEEDIT_MAX 128   /* longest line, NUL excluded */
#define LINEEDIT_HISTORY 8 /* lines remembered for the arrows */

struct lineedit {
	void (*echo)(const char *s, size_t n, void *ctx); /* what the terminal should show */
	void *echo_ctx;
	char line[LINEEDIT_MAX + 1];
	size_t len;
	char history[LINEEDIT_HISTORY][LINEEDIT_MAX + 1];
	unsigned history_count; /* lines stored, up to LINEEDIT_HISTORY */
	unsigned history_next;  /* slot the next stored line goes to */
	unsigned browsing;      /* 0: editing a new line; k: showing the k-th most recent */
	int escape;             /* progress through an ESC [ x sequence */
	bool last_was_cr;       /* so the LF of a CRLF does not end a second, empty line */
};

/* Prepares an editor that echoes through echo(s, n, ctx). */
void lineedit_init(struct lineedit *le, void (*echo)(const char *, size_t, void *), void *ctx);

/*
 * Feeds one received byte. Returns true when it completed a line: the line
 * (NUL-terminated, without the newline) is then in le->line until the next
 * call, and non-blank lines are added to the history.
 */
bool lineedit_feed(struct lineedit *le, char c);

#endif
