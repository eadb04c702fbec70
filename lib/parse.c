#include "lib/parse.h"

static int digit_value(char c, unsigned base)
{
	int v;
	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return -1;
	return (unsigned)v < base ? v : -1;
}

static unsigned suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	default: return 0;
	}
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t value = 0;
	bool any = false;

	if (!s)
		return -MIO_EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d = digit_value(*s, base);
		if (d < 0)
			break;
		if (value > (UINT64_MAX - (uint64_t)d) / base)
			return -MIO_EINVAL;
		value = value * base + (uint64_t)d;
		any = true;
	}
	if (!any)
		return -MIO_EINVAL;
	if (*s) {
		unsigned shift = suffix_shift(*s);
		if (shift == 0 || s[1] != '\0' || value > (UINT64_MAX >> shift))
			return -MIO_EINVAL;
		value <<= shift;
	}
	*out = value;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

int split_words(char *line, char **words, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (is_blank(*p))
			*p++ = '\0';
		if (*p == '\0')
			return n;
		if (n == max)
			return -MIO_EINVAL;
		words[n++] = p;
		while (*p && !is_blank(*p))
			p++;
	}
}
