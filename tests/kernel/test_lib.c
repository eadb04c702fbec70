/* The portable library compiled for i386: 64-bit formatting needs the compiler runtime. */
#include "kernel/ktest.h"
#include "lib/kprintf.h"
#include "lib/string.h"

KTEST(format_prints_64bit_values_on_i386)
{
	char buf[64];
	ksnprintf(buf, sizeof(buf), "%llu", 18446744073709551615ull);
	KT_EXPECT(strcmp(buf, "18446744073709551615") == 0);
	ksnprintf(buf, sizeof(buf), "%016llx", 0x100000000ull);
	KT_EXPECT(strcmp(buf, "0000000100000000") == 0);
	ksnprintf(buf, sizeof(buf), "%lld", -9223372036854775807ll - 1);
	KT_EXPECT(strcmp(buf, "-9223372036854775808") == 0);
	ksnprintf(buf, sizeof(buf), "%p", (void *)0xb8000);
	KT_EXPECT(strcmp(buf, "0x000b8000") == 0);
	/* size_t is 32 bits here: %zd must sign-extend it, not zero-extend. */
	ksnprintf(buf, sizeof(buf), "%zd %zi %zu", (size_t)-1, (size_t)-5, (size_t)-1);
	KT_EXPECT(strcmp(buf, "-1 -5 4294967295") == 0);
}

KTEST(memmove_handles_overlap_on_i386)
{
	char buf[16] = "abcdefghij";
	memmove(buf + 2, buf, 8);
	KT_EXPECT(memcmp(buf, "ababcdefgh", 10) == 0);
	memmove(buf, buf + 2, 8);
	KT_EXPECT(memcmp(buf, "abcdefghgh", 10) == 0);
}
