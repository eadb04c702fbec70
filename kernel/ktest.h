/*
 * In-kernel tests: what only a real boot can prove (paging, faults, the
 * loader's memory map). Tests register themselves with KTEST(name) and run
 * at boot when the kernel command line contains "test".
 *
 *   KTEST(divide_error_is_caught) {
 *           struct trap_record rec;
 *           KT_ASSERT_EQ(run_catching(divide_by_zero, NULL, &rec), TRAP_FAULT);
 *           KT_ASSERT_EQ(rec.vector, X86_VEC_DE);
 *   }
 *
 * KT_ASSERT* stop the test at the first failure; KT_EXPECT* record it and go on.
 */
#ifndef MIO_KERNEL_KTEST_H
#define MIO_KERNEL_KTEST_H

#include "lib/types.h"

struct ktest {
	const char *name;
	void (*fn)(void);
};

#define KTEST(tname)                                                              \
	static void ktest_fn_##tname(void);                                       \
	static const struct ktest ktest_desc_##tname                              \
		__attribute__((used, section(".ktests"), aligned(4))) = {         \
			.name = #tname,                                           \
			.fn = ktest_fn_##tname,                                   \
		};                                                                \
	static void ktest_fn_##tname(void)

/* Records a failure of the running test, with a printf-style explanation. */
__attribute__((format(printf, 3, 4)))
void ktest_fail(const char *file, int line, const char *fmt, ...);

#define KT_EXPECT(cond)                                                           \
	((cond) ? true : (ktest_fail(__FILE__, __LINE__, "expected %s", #cond), false))

#define KT_EXPECT_EQ(a, b)                                                        \
	({                                                                        \
		uint64_t ka_ = (uint64_t)(a), kb_ = (uint64_t)(b);               \
		if (ka_ != kb_)                                                   \
			ktest_fail(__FILE__, __LINE__, "%s == %s: 0x%llx != 0x%llx", \
				   #a, #b, ka_, kb_);                             \
		ka_ == kb_;                                                       \
	})

#define KT_ASSERT(cond)                                                           \
	do {                                                                      \
		if (!KT_EXPECT(cond))                                             \
			return;                                                   \
	} while (0)

#define KT_ASSERT_EQ(a, b)                                                        \
	do {                                                                      \
		if (!KT_EXPECT_EQ(a, b))                                          \
			return;                                                   \
	} while (0)

/* True while the kernel runs in test mode ("test" on the command line). */
extern bool ktest_mode;

/*
 * Runs every registered test whose name contains filter (all when filter is
 * NULL or empty), prints one line per test and "N passed, N failed".
 * Returns the number of failures.
 */
int ktest_run(const char *filter);

#endif
