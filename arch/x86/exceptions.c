/* What happens when the CPU raises an exception: report it, or hand it to a test that expects it. */
#include "arch/x86/cpu.h"
#include "arch/x86/trap.h"
#include "kernel/recover.h"
#include "lib/panic.h"
#include "lib/types.h"

static const char *const exception_names[X86_NUM_EXCEPTIONS] = {
	[0] = "Divide Error (#DE)",
	[1] = "Debug (#DB)",
	[2] = "Non-Maskable Interrupt",
	[3] = "Breakpoint (#BP)",
	[4] = "Overflow (#OF)",
	[5] = "BOUND Range Exceeded (#BR)",
	[6] = "Invalid Opcode (#UD)",
	[7] = "Device Not Available (#NM)",
	[8] = "Double Fault (#DF)",
	[9] = "Coprocessor Segment Overrun",
	[10] = "Invalid TSS (#TS)",
	[11] = "Segment Not Present (#NP)",
	[12] = "Stack-Segment Fault (#SS)",
	[13] = "General Protection (#GP)",
	[14] = "Page Fault (#PF)",
	[15] = "Reserved (15)",
	[16] = "x87 Floating-Point Error (#MF)",
	[17] = "Alignment Check (#AC)",
	[18] = "Machine Check (#MC)",
	[19] = "SIMD Floating-Point (#XM)",
	[20] = "Virtualization (#VE)",
	[21] = "Control Protection (#CP)",
	[22] = "Reserved (22)",
	[23] = "Reserved (23)",
	[24] = "Reserved (24)",
	[25] = "Reserved (25)",
	[26] = "Reserved (26)",
	[27] = "Reserved (27)",
	[28] = "Hypervisor Injection (#HV)",
	[29] = "VMM Communication (#VC)",
	[30] = "Security (#SX)",
	[31] = "Reserved (31)",
};

const char *x86_exception_name(unsigned vector)
{
	return vector < X86_NUM_EXCEPTIONS ? exception_names[vector] : "Unknown";
}

static void report_page_fault(uint32_t error_code, uint32_t cr2)
{
	kprintf("  faulting address (CR2) %p: %s, %s, %s mode%s\n", (void *)(uintptr_t)cr2,
		(error_code & PF_ERR_PRESENT) ? "protection violation" : "page not present",
		(error_code & PF_ERR_FETCH) ? "instruction fetch"
		: (error_code & PF_ERR_WRITE) ? "write" : "read",
		(error_code & PF_ERR_USER) ? "user" : "kernel",
		(error_code & PF_ERR_RSVD) ? ", reserved bit set" : "");
}

/*
 * %esp at the faulting instruction: pusha recorded it pointing at the
 * stub's vector word, above which lie the error code and what the CPU
 * pushed (eip, cs, eflags; no privilege change, so no ss:esp).
 */
static uint32_t esp_at_fault(const struct trap_frame *tf)
{
	return tf->esp_at_pusha + (uint32_t)(sizeof(*tf) - offsetof(struct trap_frame, vector));
}

static void report_registers(const struct trap_frame *tf)
{
	kprintf("  eax %08x ebx %08x ecx %08x edx %08x\n", tf->eax, tf->ebx, tf->ecx, tf->edx);
	kprintf("  esi %08x edi %08x ebp %08x esp %08x\n", tf->esi, tf->edi, tf->ebp,
		esp_at_fault(tf));
	kprintf("  cs %04x ds %04x eflags %08x cr0 %08x cr3 %08x cr4 %08x\n", tf->cs, tf->ds,
		tf->eflags, read_cr0(), read_cr3(), read_cr4());
}

void x86_trap(struct trap_frame *tf)
{
	uint32_t cr2 = tf->vector == X86_VEC_PF ? read_cr2() : 0;

	/* Returns if nobody expects it. */
	recover_from_fault(tf->vector, tf->error_code, tf->eip, cr2, esp_at_fault(tf));

	kprintf("\nEXCEPTION %u: %s, error code 0x%x, at EIP %p\n", tf->vector,
		x86_exception_name(tf->vector), tf->error_code, (void *)(uintptr_t)tf->eip);
	if (tf->vector == X86_VEC_PF)
		report_page_fault(tf->error_code, cr2);
	report_registers(tf);
	if (tf->vector == X86_VEC_PF)
		panic("unhandled %s at EIP %p, address %p", x86_exception_name(tf->vector),
		      (void *)(uintptr_t)tf->eip, (void *)(uintptr_t)cr2);
	panic("unhandled %s at EIP %p, error code 0x%x", x86_exception_name(tf->vector),
	      (void *)(uintptr_t)tf->eip, tf->error_code);
}

/* ---- double faults, on the double-fault task's own stack ---- */

extern char __kernel_stack_guard[], __kernel_stack_bottom[];

static uint32_t df_eip, df_esp;
static uint8_t df_resume_stack[1024] __attribute__((aligned(16)));

/* In the kernel task again, on a small stack of its own: unwind to the test. */
static __attribute__((noreturn)) void double_fault_resume(void)
{
	recover_from_fault(X86_VEC_DF, 0, df_eip, 0, df_esp);
	panic("double fault: the test expecting it went away"); /* not reached */
}

void x86_double_fault(void)
{
	uint32_t eip, esp;
	x86_double_fault_context(&eip, &esp);
	if (recover_active()) {
		df_eip = eip;
		df_esp = esp;
		x86_double_fault_resume_at((uint32_t)(uintptr_t)double_fault_resume,
					   (uint32_t)(uintptr_t)(df_resume_stack + sizeof(df_resume_stack)));
		return;
	}
	uint32_t guard = (uint32_t)(uintptr_t)__kernel_stack_guard;
	/* A push that faults leaves ESP at most a frame's width above the guard page. */
	bool overflow = esp >= guard && esp <= (uint32_t)(uintptr_t)__kernel_stack_bottom + 64;
	kprintf("\nEXCEPTION 8: %s at EIP %p, ESP %p\n", x86_exception_name(X86_VEC_DF),
		(void *)(uintptr_t)eip, (void *)(uintptr_t)esp);
	if (overflow)
		panic("double fault at EIP %p: kernel stack overflow (ESP %p, guard page at %p)",
		      (void *)(uintptr_t)eip, (void *)(uintptr_t)esp, (void *)(uintptr_t)guard);
	panic("double fault at EIP %p, ESP %p: an exception could not be delivered",
	      (void *)(uintptr_t)eip, (void *)(uintptr_t)esp);
}
