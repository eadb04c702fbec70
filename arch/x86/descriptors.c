/*
 * The GDT and IDT: flat segments, 32 exception gates, and the two task
 * state segments that let a double fault run on a stack of its own.
 */
#include "arch/x86/trap.h"

struct __attribute__((packed)) descriptor_table_ptr {
	uint16_t limit;
	uint32_t base;
};

struct __attribute__((packed)) idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t zero;
	uint8_t type_attr;
	uint16_t offset_high;
};

#define IDT_INTERRUPT_GATE_32 0x8e /* present, ring 0, 32-bit interrupt gate */
#define IDT_TASK_GATE 0x85         /* present, ring 0, task gate */
#define GDT_TSS_AVAILABLE_32 0x89  /* present, ring 0, 32-bit TSS, not busy */

/* A 32-bit task state segment (Intel SDM vol. 3, 8.2.1). */
struct __attribute__((packed)) x86_tss {
	uint16_t link, reserved0;
	uint32_t esp0;
	uint16_t ss0, reserved1;
	uint32_t esp1;
	uint16_t ss1, reserved2;
	uint32_t esp2;
	uint16_t ss2, reserved3;
	uint32_t cr3, eip, eflags;
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint16_t es, reserved4, cs, reserved5, ss, reserved6, ds, reserved7;
	uint16_t fs, reserved8, gs, reserved9, ldt, reserved10;
	uint16_t trap, iomap_base;
};
_Static_assert(sizeof(struct x86_tss) == 104, "the CPU's TSS layout");

/*
 * Null, ring-0 code (0x08), ring-0 data (0x10), then the kernel's own task
 * (0x18), where the CPU saves the interrupted state on a double fault, and
 * the double-fault task (0x20). The accessed bits are set up front; the
 * table lives in writable memory because the CPU sets a TSS descriptor's
 * busy bit on every task switch.
 */
static uint64_t gdt[] = {
	0,
	0x00cf9b000000ffffull,
	0x00cf93000000ffffull,
	0,
	0,
};

static struct x86_tss kernel_tss, double_fault_tss;
static uint8_t double_fault_stack[4096] __attribute__((aligned(16)));
extern char x86_double_fault_task[]; /* isr.S */

static uint64_t tss_descriptor(const struct x86_tss *tss)
{
	uint64_t base = (uint32_t)(uintptr_t)tss, limit = sizeof(*tss) - 1;
	return (limit & 0xffff) | (base & 0xffffff) << 16 | (uint64_t)GDT_TSS_AVAILABLE_32 << 40 |
	       (limit >> 16 & 0xf) << 48 | (base >> 24) << 56;
}

/*
 * A #DF is delivered through a task gate: the CPU saves the faulting state
 * in kernel_tss and loads double_fault_tss, whose stack is its own. So a
 * kernel stack overflow (a push into the guard page below the stack, whose
 * #PF cannot be delivered on that stack either) still reaches a handler.
 */
static void double_fault_task_init(void)
{
	double_fault_tss = (struct x86_tss){
		.eip = (uint32_t)(uintptr_t)x86_double_fault_task,
		.esp = (uint32_t)(uintptr_t)(double_fault_stack + sizeof(double_fault_stack)),
		.eflags = 0x2, /* bit 1 is always set; interrupts stay off */
		.cs = GDT_KERNEL_CODE,
		.ss = GDT_KERNEL_DATA, .ds = GDT_KERNEL_DATA, .es = GDT_KERNEL_DATA,
		.fs = GDT_KERNEL_DATA, .gs = GDT_KERNEL_DATA,
		.iomap_base = sizeof(struct x86_tss), /* no I/O bitmap */
	};
	kernel_tss.iomap_base = sizeof(struct x86_tss);
	gdt[GDT_KERNEL_TSS / 8] = tss_descriptor(&kernel_tss);
	gdt[GDT_DOUBLE_FAULT_TSS / 8] = tss_descriptor(&double_fault_tss);
}

void x86_tss_set_cr3(uint32_t cr3)
{
	/* A task switch loads CR3 from the TSS it enters: both must follow every CR3 load. */
	kernel_tss.cr3 = cr3;
	double_fault_tss.cr3 = cr3;
}

void x86_double_fault_context(uint32_t *eip, uint32_t *esp)
{
	*eip = kernel_tss.eip;
	*esp = kernel_tss.esp;
}

void x86_double_fault_resume_at(uint32_t eip, uint32_t esp)
{
	kernel_tss.eip = eip;
	kernel_tss.esp = esp;
}

static struct idt_gate idt[256];

extern const uint32_t x86_exception_stubs[X86_NUM_EXCEPTIONS];

void gdt_init(void)
{
	double_fault_task_init();
	struct descriptor_table_ptr ptr = {
		.limit = sizeof(gdt) - 1,
		.base = (uint32_t)(uintptr_t)gdt,
	};
	/* The loader's GDT may be anywhere, even in memory we later reuse. */
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp %1, $1f\n"
			 "1:\n\t"
			 "mov %2, %%ax\n\t"
			 "mov %%ax, %%ds\n\t"
			 "mov %%ax, %%es\n\t"
			 "mov %%ax, %%fs\n\t"
			 "mov %%ax, %%gs\n\t"
			 "mov %%ax, %%ss\n\t"
			 "mov %3, %%ax\n\t"
			 "ltr %%ax\n\t"
			 :
			 : "m"(ptr), "i"(GDT_KERNEL_CODE), "i"(GDT_KERNEL_DATA), "i"(GDT_KERNEL_TSS)
			 : "eax", "memory");
}

static void idt_set_gate(unsigned vector, uint32_t handler)
{
	idt[vector] = (struct idt_gate){
		.offset_low = handler & 0xffff,
		.selector = GDT_KERNEL_CODE,
		.zero = 0,
		.type_attr = IDT_INTERRUPT_GATE_32,
		.offset_high = handler >> 16,
	};
}

void idt_init(void)
{
	for (unsigned v = 0; v < X86_NUM_EXCEPTIONS; v++)
		idt_set_gate(v, x86_exception_stubs[v]);
	idt[X86_VEC_DF] = (struct idt_gate){
		.selector = GDT_DOUBLE_FAULT_TSS,
		.type_attr = IDT_TASK_GATE,
	};

	struct descriptor_table_ptr ptr = {
		.limit = sizeof(idt) - 1,
		.base = (uint32_t)(uintptr_t)idt,
	};
	__asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}
