#include "lib/lineedit.h"

#include "lib/string.h"

#define CTRL(c) ((c) & 0x1f)
#define KEY_BACKSPACE 0x08
#define KEY_DELETE 0x7f
#define KEY_ESCAPE 0x1b

enum { ESC_NONE, ESC_SEEN, ESC_BRACKET };

void lineedit_init(struct lineedit *le, void (*echo)(const char *, size_t, void *), void *ctx)
{
	memset(le, 0, sizeof(*le));
	le->echo = echo;
	le->echo_ctx = ctx;
}

static void show(struct lineedit *le, const char *s, size_t n)
{
	if (n > 0)
		le->echo(s, n, le->echo_ctx);
}

static void erase_chars(struct lineedit *le, size_t n)
{
	while (n--)
		show(le, "\b \b", 3);
}

static void replace_line(struct lineedit *le, const char *text)
{
	erase_chars(le, le->len);
	le->len = strlen(text);
	memcpy(le->line, text, le->len + 1);
	show(le, le->line, le->len);
}

static bool is_blank_line(const char *s)
{
	for (; *s; s++) {
		if (*s != ' ' && *s != '\t')
			return false;
	}
	return true;
}

static void remember(struct lineedit *le)
{
	if (is_blank_line(le->line))
		return;
	memcpy(le->history[le->history_next], le->line, le->len + 1);
	le->history_next = (le->history_next + 1) % LINEEDIT_HISTORY;
	if (le->history_count < LINEEDIT_HISTORY)
		le->history_count++;
}

/* The k-th most recent line (k >= 1). */
static const char *recent(const struct lineedit *le, unsigned k)
{
	unsigned slot = (le->history_next + LINEEDIT_HISTORY - k) % LINEEDIT_HISTORY;
	return le->history[slot];
}

static void browse(struct lineedit *le, bool older)
{
	if (older && le->browsing < le->history_count)
		le->browsing++;
	else if (!older && le->browsing > 0)
		le->browsing--;
	else
		return;
	replace_line(le, le->browsing ? recent(le, le->browsing) : "");
}

/* Returns true when c was consumed as part of an escape sequence. */
static bool feed_escape(struct lineedit *le, char c)
{
	switch (le->escape) {
	case ESC_SEEN:
		le->escape = (c == '[') ? ESC_BRACKET : ESC_NONE;
		return true;
	case ESC_BRACKET:
		if (c >= '0' && c <= '9')
			return true; /* parameters of a sequence we ignore */
		le->escape = ESC_NONE;
		if (c == 'A')
			browse(le, true);
		else if (c == 'B')
			browse(le, false);
		return true;
	default:
		return false;
	}
}

static bool finish_line(struct lineedit *le)
{
	le->line[le->len] = '\0';
	show(le, "\n", 1);
	remember(le);
	le->len = 0;
	le->browsing = 0;
	return true;
}

bool lineedit_feed(struct lineedit *le, char c)
{
	bool after_cr = le->last_was_cr;
	le->last_was_cr = (c == '\r');

	if (feed_escape(le, c))
		return false;
	switch (c) {
	case '\n':
		if (after_cr)
			return false;
		return finish_line(le);
	case '\r':
		return finish_line(le);
	case KEY_BACKSPACE:
	case KEY_DELETE:
		if (le->len > 0) {
			le->len--;
			erase_chars(le, 1);
		}
		return false;
	case CTRL('U'):
		erase_chars(le, le->len);
		le->len = 0;
		return false;
	case CTRL('C'):
		show(le, "^C\n", 3);
		le->len = 0;
		le->browsing = 0;
		le->line[0] = '\0';
		return true;
	case KEY_ESCAPE:
		le->escape = ESC_SEEN;
		return false;
	default:
		break;
	}
	if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
		return false;
	if (le->len == LINEEDIT_MAX) {
		show(le, "\a", 1);
		return false;
	}
	le->line[le->len++] = c;
	show(le, &c, 1);
	return false;
}
