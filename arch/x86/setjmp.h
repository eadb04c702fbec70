/*
 * Non-local jumps for the kernel, used to unwind out of an exception
 * handler or a panic back into a test that expected it.
 */
#ifndef MIO_ARCH_X86_SETJMP_H
#define MIO_ARCH_X86_SETJMP_H

#include <stdint.h>

typedef struct {
	uint32_t ebx, esi, edi, ebp, esp, eip, eflags;
} kjmp_buf[1];

/* Saves the caller's context; returns 0 now and the value passed to klongjmp later. */
__attribute__((returns_twice)) int ksetjmp(kjmp_buf env);

/* Resumes at env's ksetjmp, which then returns val (1 if val is 0). EFLAGS is restored too. */
__attribute__((noreturn)) void klongjmp(kjmp_buf env, int val);

#endif
