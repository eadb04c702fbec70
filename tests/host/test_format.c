/* kvformat / ksnprintf: every conversion, modifier and flag the kernel relies on. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Some cases feed deliberately odd formats and argument types. */
#pragma clang diagnostic ignored "-Wformat"
#pragma clang diagnostic ignored "-Wformat-invalid-specifier"

#include "lib/kprintf.h"

static char buf[256];

#define FMT(...) (ksnprintf(buf, sizeof(buf), __VA_ARGS__), buf)

Test(format, plain_text_and_percent)
{
	cr_assert_str_eq(FMT("hello"), "hello");
	cr_assert_str_eq(FMT("100%%"), "100%");
	cr_assert_str_eq(FMT(""), "");
}

Test(format, signed_decimal)
{
	cr_assert_str_eq(FMT("%d", 0), "0");
	cr_assert_str_eq(FMT("%d", -42), "-42");
	cr_assert_str_eq(FMT("%i", 123456), "123456");
	cr_assert_str_eq(FMT("%d", INT_MIN), "-2147483648");
	cr_assert_str_eq(FMT("%d", INT_MAX), "2147483647");
}

Test(format, unsigned_and_hex)
{
	cr_assert_str_eq(FMT("%u", 4294967295u), "4294967295");
	cr_assert_str_eq(FMT("%x", 0xdeadbeefu), "deadbeef");
	cr_assert_str_eq(FMT("%X", 0xdeadbeefu), "DEADBEEF");
	cr_assert_str_eq(FMT("%x", 0u), "0");
}

Test(format, long_long_is_64_bits)
{
	cr_assert_str_eq(FMT("%llu", 18446744073709551615ull), "18446744073709551615");
	cr_assert_str_eq(FMT("%lld", LLONG_MIN), "-9223372036854775808");
	cr_assert_str_eq(FMT("%llx", 0x123456789abcdef0ull), "123456789abcdef0");
	cr_assert_str_eq(FMT("%016llx", 0x100000000ull), "0000000100000000");
	cr_assert_str_eq(FMT("%lx", 0xfffful), "ffff");
	cr_assert_str_eq(FMT("%ld", -7l), "-7");
}

Test(format, size_t_and_short_modifiers)
{
	cr_assert_str_eq(FMT("%zu", (size_t)3145728), "3145728");
	cr_assert_str_eq(FMT("%zx", (size_t)0x300000), "300000");
	cr_assert_str_eq(FMT("%zd", (size_t)-1), "-1");
	cr_assert_str_eq(FMT("%hhu", 0x1ff), "255");
	cr_assert_str_eq(FMT("%hd", 0x18000), "-32768");
}

Test(format, width_and_padding)
{
	cr_assert_str_eq(FMT("%5d", 42), "   42");
	cr_assert_str_eq(FMT("%-5d|", 42), "42   |");
	cr_assert_str_eq(FMT("%05d", 42), "00042");
	cr_assert_str_eq(FMT("%05d", -42), "-0042");
	cr_assert_str_eq(FMT("%08x", 0xbeefu), "0000beef");
	cr_assert_str_eq(FMT("%2d", 12345), "12345");
	cr_assert_str_eq(FMT("%*d", 4, 7), "   7");
	cr_assert_str_eq(FMT("%*d|", -4, 7), "7   |");
	cr_assert_str_eq(FMT("%-05d|", 3), "3    |");
}

Test(format, strings_and_chars)
{
	cr_assert_str_eq(FMT("%s", "abc"), "abc");
	cr_assert_str_eq(FMT("[%6s]", "abc"), "[   abc]");
	cr_assert_str_eq(FMT("[%-6s]", "abc"), "[abc   ]");
	cr_assert_str_eq(FMT("%.2s", "abc"), "ab");
	cr_assert_str_eq(FMT("%s", (char *)NULL), "(null)");
	cr_assert_str_eq(FMT("%c%c", 'o', 'k'), "ok");
	cr_assert_str_eq(FMT("[%3c]", 'x'), "[  x]");
}

Test(format, pointer_is_zero_padded_to_pointer_width)
{
	char expected[32];
	snprintf(expected, sizeof(expected), "0x%0*llx", (int)(2 * sizeof(void *)),
		 (unsigned long long)(uintptr_t)0x1000);
	cr_assert_str_eq(FMT("%p", (void *)0x1000), expected);
	cr_assert_str_eq(FMT("%p", (void *)UINTPTR_MAX), sizeof(void *) == 8 ? "0xffffffffffffffff" : "0xffffffff");
}

Test(format, a_wide_pointer_field_pads_with_spaces_on_the_side_the_flag_says)
{
	char digits[32], expected[64];
	snprintf(digits, sizeof(digits), "0x%0*llx", (int)(2 * sizeof(void *)),
		 (unsigned long long)(uintptr_t)0xabc);
	int pad = 24 - (int)strlen(digits);
	snprintf(expected, sizeof(expected), "[%*s%s]", pad, "", digits);
	cr_assert_str_eq(FMT("[%24p]", (void *)0xabc), expected);
	cr_assert_str_eq(FMT("[%024p]", (void *)0xabc), expected, "zeros would add digits");
	snprintf(expected, sizeof(expected), "[%s%*s]", digits, pad, "");
	cr_assert_str_eq(FMT("[%-24p]", (void *)0xabc), expected);
	snprintf(expected, sizeof(expected), "[%s]", digits);
	cr_assert_str_eq(FMT("[%4p]", (void *)0xabc), expected, "a narrow width cuts nothing");
}

Test(format, unknown_conversion_is_printed_literally)
{
	cr_assert_str_eq(FMT("%q %d", 5), "%q 5");
	cr_assert_str_eq(FMT("trailing %"), "trailing %");
}

Test(format, snprintf_truncates_and_reports_full_length)
{
	char small[6];
	int n = ksnprintf(small, sizeof(small), "%s", "hello world");
	cr_assert_eq(n, 11);
	cr_assert_str_eq(small, "hello");

	cr_assert_eq(ksnprintf(NULL, 0, "%d", 12345), 5);

	char one[1] = { 'x' };
	cr_assert_eq(ksnprintf(one, 1, "abc"), 3);
	cr_assert_eq(one[0], '\0');
}

Test(format, matches_libc_on_many_values)
{
	static const long long values[] = { 0, 1, -1, 9, 10, 99, 100, 65535, -65536,
					    2147483647, -2147483648LL, 4294967296LL,
					    1234567890123LL, LLONG_MAX, LLONG_MIN };
	static const char *const formats[] = { "%lld", "%20lld", "%-20lld|", "%020lld",
					       "%llx", "%016llX", "%llu" };
	char expected[64];
	for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			snprintf(expected, sizeof(expected), formats[f], values[v]);
			cr_assert_str_eq(FMT(formats[f], values[v]), expected, "format %s value %lld",
					 formats[f], values[v]);
		}
	}
}
