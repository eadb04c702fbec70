/* lib/parse.c: numbers and words as typed at the console. */
#include <criterion/criterion.h>
#include <string.h>

#include "lib/parse.h"

static uint64_t parsed(const char *s)
{
	uint64_t v = 0xdeadbeef;
	cr_assert_eq(parse_u64(s, &v), 0, "'%s' should parse", s);
	return v;
}

static void rejected(const char *s)
{
	uint64_t v = 0x5a5a;
	cr_assert_eq(parse_u64(s, &v), -MIO_EINVAL, "'%s' should be rejected", s);
	cr_assert_eq(v, 0x5a5a, "'%s' changed the output on failure", s);
}

Test(parse, decimal_and_hex)
{
	cr_assert_eq(parsed("0"), 0);
	cr_assert_eq(parsed("4096"), 4096);
	cr_assert_eq(parsed("0x1000"), 0x1000);
	cr_assert_eq(parsed("0XfFfF"), 0xffff);
	cr_assert_eq(parsed("18446744073709551615"), UINT64_MAX);
	cr_assert_eq(parsed("0xffffffffffffffff"), UINT64_MAX);
}

Test(parse, size_suffixes)
{
	cr_assert_eq(parsed("4K"), 4096);
	cr_assert_eq(parsed("4k"), 4096);
	cr_assert_eq(parsed("3M"), 3u << 20);
	cr_assert_eq(parsed("0x2M"), 2u << 20);
	cr_assert_eq(parsed("5G"), 5ull << 30);
}

Test(parse, garbage_and_overflow_are_rejected)
{
	rejected(NULL);
	rejected("");
	rejected("0x");
	rejected("abc");
	rejected("12abc");
	rejected("-1");
	rejected(" 1");
	rejected("1 ");
	rejected("4KB");
	rejected("4X");
	rejected("0x1g0");
	rejected("18446744073709551616");
	rejected("0x10000000000000000");
	rejected("17179869184G"); /* 2^34 G = 2^64 */
}

Test(parse, split_words_in_place)
{
	char line[] = "  map\t0x400000  0x1000 4m  ";
	char *w[8];
	cr_assert_eq(split_words(line, w, 8), 4);
	cr_assert_str_eq(w[0], "map");
	cr_assert_str_eq(w[1], "0x400000");
	cr_assert_str_eq(w[2], "0x1000");
	cr_assert_str_eq(w[3], "4m");
}

Test(parse, split_words_empty_and_too_many)
{
	char empty[] = " \t ";
	char *w[2];
	cr_assert_eq(split_words(empty, w, 2), 0);
	char many[] = "a b c";
	cr_assert_eq(split_words(many, w, 2), -MIO_EINVAL);
}
