/*
 * Control registers, TLB and CPUID access, and the CPU features the memory
 * managers care about. Read-modify-write helpers only ever set or clear the
 * bits named by the caller.
 */
#ifndef MIO_ARCH_X86_CPU_H
#define MIO_ARCH_X86_CPU_H

#include <stdbool.h>
#include <stdint.h>

#define CR0_PE (1u << 0)  /* protected mode */
#define CR0_WP (1u << 16) /* supervisor writes honour read-only pages */
#define CR0_PG (1u << 31) /* paging */

#define CR4_PSE (1u << 4) /* 4 MiB pages */
#define CR4_PAE (1u << 5)
#define CR4_PGE (1u << 7) /* global pages */

#define EFLAGS_IF (1u << 9)

#define CPUID_EDX_PSE (1u << 3)
#define CPUID_EDX_PAE (1u << 6)
#define CPUID_EDX_PGE (1u << 13)
#define CPUID_EDX_PSE36 (1u << 17)

#define X86_CR_ACCESSORS(reg)                                                 \
	static inline uint32_t read_##reg(void)                               \
	{                                                                     \
		uint32_t v;                                                   \
		__asm__ volatile("mov %%" #reg ", %0" : "=r"(v));             \
		return v;                                                     \
	}                                                                     \
	static inline void write_##reg(uint32_t v)                            \
	{                                                                     \
		__asm__ volatile("mov %0, %%" #reg : : "r"(v) : "memory");    \
	}

X86_CR_ACCESSORS(cr0)
X86_CR_ACCESSORS(cr3)
X86_CR_ACCESSORS(cr4)
#undef X86_CR_ACCESSORS

/* CR2 holds the linear address of the last page fault. */
static inline uint32_t read_cr2(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

static inline void cr0_set_bits(uint32_t bits) { write_cr0(read_cr0() | bits); }
static inline void cr4_set_bits(uint32_t bits) { write_cr4(read_cr4() | bits); }

static inline void invlpg(uintptr_t addr)
{
	__asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

static inline uint32_t read_eflags(void)
{
	uint32_t v;
	__asm__ volatile("pushfl; popl %0" : "=r"(v));
	return v;
}

__attribute__((noreturn)) static inline void cpu_halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

struct cpu_info {
	char vendor[13];
	uint32_t max_leaf;
	uint32_t family, model, stepping;
	bool pse;    /* 4 MiB pages */
	bool pae;
	bool pge;    /* global pages */
	bool pse36;  /* 4 MiB pages may point above 4 GiB */
};

/* Fills info from CPUID, which boot.S has made sure exists (it refuses CPUs before i686). */
void cpu_identify(struct cpu_info *info);

/* The features detected at boot (filled in by kmain before anything uses them). */
extern struct cpu_info boot_cpu;

#endif
