/*
 * CPU exceptions: the IDT, the register frame the stubs in isr.S build,
 * and the page-fault error code bits.
 */
#ifndef MIO_ARCH_X86_TRAP_H
#define MIO_ARCH_X86_TRAP_H

#include <stdint.h>

#define X86_NUM_EXCEPTIONS 32
#define X86_VEC_DE 0  /* divide error */
#define X86_VEC_BP 3  /* breakpoint */
#define X86_VEC_UD 6  /* invalid opcode */
#define X86_VEC_DF 8  /* double fault */
#define X86_VEC_GP 13 /* general protection */
#define X86_VEC_PF 14 /* page fault */

/* Page-fault error code bits (Intel SDM vol. 3, 4.7). */
#define PF_ERR_PRESENT (1u << 0) /* 0: page not present, 1: protection violation */
#define PF_ERR_WRITE (1u << 1)   /* 0: read, 1: write */
#define PF_ERR_USER (1u << 2)    /* 0: kernel mode, 1: user mode */
#define PF_ERR_RSVD (1u << 3)    /* a reserved bit was set in a paging entry */
#define PF_ERR_FETCH (1u << 4)   /* instruction fetch */

#define GDT_KERNEL_CODE 0x08
#define GDT_KERNEL_DATA 0x10

/* The stack frame isr.S hands to x86_trap(), lowest address first. */
struct trap_frame {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax; /* pusha */
	uint32_t vector, error_code;   /* pushed by the stub (0 when the CPU pushes none) */
	uint32_t eip, cs, eflags;      /* pushed by the CPU */
};

/* Loads a flat 4 GiB code/data GDT and reloads every segment register. */
void gdt_init(void);

/* Installs handlers for the 32 CPU exceptions and loads the IDT. */
void idt_init(void);

/* "Page Fault", "Invalid Opcode", ... ; "Unknown" outside 0..31. */
const char *x86_exception_name(unsigned vector);

/* Called by the stubs in isr.S for every exception. */
void x86_trap(struct trap_frame *tf);

#endif
