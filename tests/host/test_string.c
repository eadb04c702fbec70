/* lib/string.c, the kernel's own memory and string functions, against naive references. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "tests/host/string_rename.h"
#define MIO_STRING_UNDER_TEST
#include "lib/string.h"

static unsigned char src[160], dst[160], want[160];

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + 1);
}

Test(string, memcpy_every_alignment_and_length)
{
	fill_pattern(src, sizeof(src), 3);
	for (size_t so = 0; so < 8; so++)
		for (size_t d_off = 0; d_off < 8; d_off++)
			for (size_t n = 0; n <= 64; n++) {
				fill_pattern(dst, sizeof(dst), 9);
				fill_pattern(want, sizeof(want), 9);
				for (size_t i = 0; i < n; i++)
					want[d_off + i] = src[so + i];
				cr_assert_eq(memcpy(dst + d_off, src + so, n), dst + d_off);
				for (size_t i = 0; i < sizeof(dst); i++)
					cr_assert_eq(dst[i], want[i], "src+%zu dst+%zu n=%zu byte %zu",
						     so, d_off, n, i);
			}
}

Test(string, memmove_overlapping_both_ways)
{
	for (size_t from = 0; from < 20; from++)
		for (size_t to = 0; to < 20; to++)
			for (size_t n = 0; n <= 100; n += 7) {
				fill_pattern(dst, sizeof(dst), 5);
				fill_pattern(want, sizeof(want), 5);
				unsigned char tmp[160];
				for (size_t i = 0; i < n; i++)
					tmp[i] = want[from + i];
				for (size_t i = 0; i < n; i++)
					want[to + i] = tmp[i];
				cr_assert_eq(memmove(dst + to, dst + from, n), dst + to);
				for (size_t i = 0; i < sizeof(dst); i++)
					cr_assert_eq(dst[i], want[i], "from %zu to %zu n=%zu byte %zu",
						     from, to, n, i);
			}
}

Test(string, memset_uses_only_the_low_byte)
{
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 40; n++) {
			fill_pattern(dst, sizeof(dst), 1);
			fill_pattern(want, sizeof(want), 1);
			for (size_t i = 0; i < n; i++)
				want[off + i] = 0xab;
			cr_assert_eq(memset(dst + off, 0x1ab, n), dst + off);
			for (size_t i = 0; i < sizeof(dst); i++)
				cr_assert_eq(dst[i], want[i]);
		}
}

Test(string, memcmp_compares_as_unsigned_bytes)
{
	cr_assert_eq(memcmp("abc", "abc", 3), 0);
	cr_assert_lt(memcmp("abc", "abd", 3), 0);
	cr_assert_gt(memcmp("\x80", "\x01", 1), 0);
	cr_assert_eq(memcmp("abc", "xyz", 0), 0);
	cr_assert_eq(memcmp("abX", "abY", 2), 0);
}

Test(string, memchr_finds_first_or_null)
{
	const char *s = "hello\0world";
	cr_assert_eq(memchr(s, 'l', 11), s + 2);
	cr_assert_eq(memchr(s, 'w', 11), s + 6);
	cr_assert_eq(memchr(s, 'w', 5), NULL);
	cr_assert_eq(memchr(s, 'h' + 256, 5), s);
}

Test(string, strlen_and_strnlen)
{
	cr_assert_eq(strlen(""), 0);
	cr_assert_eq(strlen("kernel"), 6);
	cr_assert_eq(strnlen("kernel", 3), 3);
	cr_assert_eq(strnlen("kernel", 100), 6);
}

Test(string, strcmp_and_strncmp)
{
	cr_assert_eq(strcmp("heap", "heap"), 0);
	cr_assert_lt(strcmp("heap", "heaps"), 0);
	cr_assert_gt(strcmp("pmm", "heap"), 0);
	cr_assert_gt(strcmp("\xff", "a"), 0);
	cr_assert_eq(strncmp("vmm_alloc", "vmm_free", 4), 0);
	cr_assert_lt(strncmp("vmm_alloc", "vmm_free", 5), 0);
	cr_assert_eq(strncmp("a", "b", 0), 0);
	cr_assert_eq(strncmp("same", "same", 10), 0);
}

Test(string, strchr_and_strrchr)
{
	const char *s = "a/b/c";
	cr_assert_eq(strchr(s, '/'), s + 1);
	cr_assert_eq(strrchr(s, '/'), s + 3);
	cr_assert_eq(strchr(s, 'z'), NULL);
	cr_assert_eq(strrchr(s, 'z'), NULL);
	cr_assert_eq(strchr(s, '\0'), s + 5);
	cr_assert_eq(strrchr(s, '\0'), s + 5);
}

Test(string, strstr_finds_the_first_occurrence)
{
	const char *s = "double free of 0x1000 (free)";
	cr_assert_eq(strstr(s, "free"), s + 7);
	cr_assert_eq(strstr(s, "(free)"), s + 22);
	cr_assert_eq(strstr(s, "0x1000 ("), s + 15);
	cr_assert_eq(strstr(s, ""), s);
	const char *empty = "";
	cr_assert_eq(strstr(empty, ""), empty);
	cr_assert_eq(strstr(s, "freed"), NULL);
	cr_assert_eq(strstr("fre", "free"), NULL);
	cr_assert_eq(strstr("", "a"), NULL);
}

Test(string, strlcpy_truncates_and_terminates)
{
	char small[4] = "xxx";
	cr_assert_eq(strlcpy(small, "abcdef", sizeof(small)), 6);
	cr_assert_eq(memcmp(small, "abc", 4), 0);
	cr_assert_eq(strlcpy(small, "ab", sizeof(small)), 2);
	cr_assert_eq(memcmp(small, "ab", 3), 0);
	char untouched = 'q';
	cr_assert_eq(strlcpy(&untouched, "abc", 0), 3);
	cr_assert_eq(untouched, 'q');
}
