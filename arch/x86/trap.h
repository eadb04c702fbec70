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
#define GDT_KERNEL_TSS 0x18       /* the task the kernel runs as */
#define GDT_DOUBLE_FAULT_TSS 0x20 /* the task a #DF switches to */

/* The stack frame isr.S hands to x86_trap(), lowest address first. */
struct trap_frame {
	uint32_t gs, fs, es, ds;
	uint32_t edi, esi, ebp, esp_at_pusha, ebx, edx, ecx, eax; /* pusha */
	uint32_t vector, error_code;   /* pushed by the stub (0 when the CPU pushes none) */
	uint32_t eip, cs, eflags;      /* pushed by the CPU */
};

/*
 * Loads a flat 4 GiB code/data GDT with the two TSSs, reloads every segment
 * register and the task register.
 */
void gdt_init(void);

/* Installs handlers for the 32 CPU exceptions (#DF through a task gate) and loads the IDT. */
void idt_init(void);

/* Keeps the TSSs' CR3 fields equal to CR3; called on every CR3 load. */
void x86_tss_set_cr3(uint32_t cr3);

/* In the double-fault task: where the interrupted kernel task was (EIP, ESP). */
void x86_double_fault_context(uint32_t *eip, uint32_t *esp);

/* In the double-fault task: makes the interrupted task resume at eip on stack esp. */
void x86_double_fault_resume_at(uint32_t eip, uint32_t esp);

/*
 * Called by the double-fault task (isr.S) after each #DF. Returns only when
 * a run_catching() expects the fault, having arranged for the interrupted
 * task to resume there; otherwise panics naming the cause.
 */
void x86_double_fault(void);

/* "Page Fault", "Invalid Opcode", ... ; "Unknown" outside 0..31. */
const char *x86_exception_name(unsigned vector);

/* Called by the stubs in isr.S for every exception. */
void x86_trap(struct trap_frame *tf);

#endif
