/* The GDT and IDT: flat segments and 32 exception gates. */
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

/*
 * Flat 4 GiB segments: null, ring-0 code (0x08), ring-0 data (0x10). The
 * accessed bits are set up front: the table sits in .rodata, which paging
 * maps read-only, and the CPU would otherwise write them on a segment load.
 */
static const uint64_t gdt[] = {
	0,
	0x00cf9b000000ffffull,
	0x00cf93000000ffffull,
};

static struct idt_gate idt[256];

extern const uint32_t x86_exception_stubs[X86_NUM_EXCEPTIONS];

void gdt_init(void)
{
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
			 :
			 : "m"(ptr), "i"(GDT_KERNEL_CODE), "i"(GDT_KERNEL_DATA)
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

	struct descriptor_table_ptr ptr = {
		.limit = sizeof(idt) - 1,
		.base = (uint32_t)(uintptr_t)idt,
	};
	__asm__ volatile("lidt %0" : : "m"(ptr) : "memory");
}
