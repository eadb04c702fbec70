/*
 * The formatter behind kprintf, ksnprintf and panic. Portable: it knows
 * nothing of where characters go.
 */
#include "lib/kprintf.h"
#include "lib/types.h"

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

struct spec {
	bool left;      /* '-' flag */
	bool zero;      /* '0' flag */
	int width;      /* minimum field width, 0 when absent */
	int precision;  /* maximum characters of %s, -1 when absent */
	enum length length;
};

struct out {
	format_sink_t sink;
	void *ctx;
	int count;
};

static void emit(struct out *o, char c)
{
	o->sink(c, o->ctx);
	o->count++;
}

static void emit_repeat(struct out *o, char c, int n)
{
	while (n-- > 0)
		emit(o, c);
}

/* Emits body (len chars) behind an optional sign/prefix, padded to width. */
static void emit_field(struct out *o, const struct spec *s, const char *prefix,
		       const char *body, int len)
{
	int prefix_len = 0;
	while (prefix[prefix_len])
		prefix_len++;
	int pad = s->width - len - prefix_len;

	if (!s->left && !s->zero)
		emit_repeat(o, ' ', pad);
	for (int i = 0; i < prefix_len; i++)
		emit(o, prefix[i]);
	if (!s->left && s->zero)
		emit_repeat(o, '0', pad);
	for (int i = 0; i < len; i++)
		emit(o, body[i]);
	if (s->left)
		emit_repeat(o, ' ', pad);
}

/* Writes value in base (10 or 16) backwards into the end of buf; returns the start. */
static char *utoa(uint64_t value, unsigned base, bool upper, char *end)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char *p = end;
	do {
		*--p = digits[value % base];
		value /= base;
	} while (value != 0);
	return p;
}

static void emit_number(struct out *o, const struct spec *s, uint64_t magnitude,
			bool negative, unsigned base, bool upper, const char *prefix)
{
	char buf[24];
	char *end = buf + sizeof(buf);
	char *start = utoa(magnitude, base, upper, end);
	emit_field(o, s, negative ? "-" : prefix, start, (int)(end - start));
}

/*
 * 0x and every hex digit of pointer width, so addresses line up; a wider
 * field pads that with spaces, on the right under '-' (never with zeros:
 * the digits are already all there).
 */
static void emit_pointer(struct out *o, struct spec *s, uintptr_t p)
{
	char buf[2 * sizeof(void *)];
	char *end = buf + sizeof(buf), *start = utoa(p, 16, false, end);
	while (start > buf)
		*--start = '0';
	s->zero = false;
	emit_field(o, s, "0x", buf, (int)sizeof(buf));
}

static int64_t fetch_signed(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_LONG:
		return va_arg(*ap, long);
	case LEN_LLONG:
		return va_arg(*ap, long long);
	case LEN_SIZE:
		/* ssize_t has no portable C name; ptrdiff_t is as wide as size_t and signed. */
		return (int64_t)(ptrdiff_t)va_arg(*ap, size_t);
	case LEN_CHAR:
		return (signed char)va_arg(*ap, int);
	case LEN_SHORT:
		return (short)va_arg(*ap, int);
	default:
		return va_arg(*ap, int);
	}
}

static uint64_t fetch_unsigned(va_list *ap, enum length len)
{
	switch (len) {
	case LEN_LONG:
		return va_arg(*ap, unsigned long);
	case LEN_LLONG:
		return va_arg(*ap, unsigned long long);
	case LEN_SIZE:
		return va_arg(*ap, size_t);
	case LEN_CHAR:
		return (unsigned char)va_arg(*ap, unsigned);
	case LEN_SHORT:
		return (unsigned short)va_arg(*ap, unsigned);
	default:
		return va_arg(*ap, unsigned);
	}
}

/* Parses flags, width, precision and length after '%'; returns the conversion char. */
static const char *parse_spec(const char *f, struct spec *s, va_list *ap)
{
	*s = (struct spec){ .precision = -1, .length = LEN_INT };
	for (;; f++) {
		if (*f == '-')
			s->left = true;
		else if (*f == '0')
			s->zero = true;
		else
			break;
	}
	if (*f == '*') {
		s->width = va_arg(*ap, int);
		if (s->width < 0) {
			s->left = true;
			s->width = -s->width;
		}
		f++;
	} else {
		while (*f >= '0' && *f <= '9')
			s->width = s->width * 10 + (*f++ - '0');
	}
	if (*f == '.') {
		f++;
		s->precision = 0;
		if (*f == '*') {
			s->precision = va_arg(*ap, int);
			f++;
		} else {
			while (*f >= '0' && *f <= '9')
				s->precision = s->precision * 10 + (*f++ - '0');
		}
	}
	if (*f == 'h') {
		s->length = (f[1] == 'h') ? LEN_CHAR : LEN_SHORT;
		f += (f[1] == 'h') ? 2 : 1;
	} else if (*f == 'l') {
		s->length = (f[1] == 'l') ? LEN_LLONG : LEN_LONG;
		f += (f[1] == 'l') ? 2 : 1;
	} else if (*f == 'z') {
		s->length = LEN_SIZE;
		f++;
	}
	return f;
}

static void emit_string(struct out *o, struct spec *s, const char *str)
{
	if (!str)
		str = "(null)";
	int len = 0;
	while (str[len] && (s->precision < 0 || len < s->precision))
		len++;
	s->zero = false;
	emit_field(o, s, "", str, len);
}

/* Emits one conversion; returns false for an unknown conversion character. */
static bool emit_conversion(struct out *o, struct spec *s, char conv, va_list *ap)
{
	switch (conv) {
	case 'd':
	case 'i': {
		int64_t v = fetch_signed(ap, s->length);
		uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
		emit_number(o, s, mag, v < 0, 10, false, "");
		return true;
	}
	case 'u':
		emit_number(o, s, fetch_unsigned(ap, s->length), false, 10, false, "");
		return true;
	case 'x':
	case 'X':
		emit_number(o, s, fetch_unsigned(ap, s->length), false, 16, conv == 'X', "");
		return true;
	case 'p':
		emit_pointer(o, s, (uintptr_t)va_arg(*ap, void *));
		return true;
	case 's':
		emit_string(o, s, va_arg(*ap, const char *));
		return true;
	case 'c': {
		char c = (char)va_arg(*ap, int);
		s->zero = false;
		emit_field(o, s, "", &c, 1);
		return true;
	}
	case '%':
		emit(o, '%');
		return true;
	default:
		return false;
	}
}

int kvformat(format_sink_t sink, void *ctx, const char *fmt, va_list ap)
{
	struct out o = { .sink = sink, .ctx = ctx, .count = 0 };
	va_list args;
	va_copy(args, ap);

	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			emit(&o, *f);
			continue;
		}
		const char *start = f;
		struct spec s;
		f = parse_spec(f + 1, &s, &args);
		if (*f == '\0') { /* a lone trailing '%': print what we saw */
			for (const char *p = start; p < f; p++)
				emit(&o, *p);
			break;
		}
		if (!emit_conversion(&o, &s, *f, &args)) {
			for (const char *p = start; p <= f; p++)
				emit(&o, *p);
		}
	}
	va_end(args);
	return o.count;
}

struct buffer {
	char *buf;
	size_t size;
	size_t len;
};

static void buffer_sink(char c, void *ctx)
{
	struct buffer *b = ctx;
	if (b->len + 1 < b->size)
		b->buf[b->len] = c;
	b->len++;
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct buffer b = { .buf = buf, .size = size, .len = 0 };
	int n = kvformat(buffer_sink, &b, fmt, ap);
	if (size > 0)
		buf[b.len < size ? b.len : size - 1] = '\0';
	return n;
}

/* kvprintf() is the platform's (the serial port, or stdout on the host). */
int kprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
