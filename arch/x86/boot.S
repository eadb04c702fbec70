/*
 * Multiboot entry point, for v1 (GRUB's `multiboot`) and v2 (`multiboot2`)
 * alike: the image carries both headers. The loader jumps here in 32-bit
 * protected mode with paging off, EAX = its protocol's magic and EBX = the
 * physical address of its information. We set up a stack and call
 * kmain(magic, info); kmain checks the magic and reads the info it names.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAG_PAGE_ALIGN_MODULES (1 << 0)
#define MB_FLAG_MEMORY_INFO (1 << 1)
#define MB_FLAGS (MB_FLAG_PAGE_ALIGN_MODULES | MB_FLAG_MEMORY_INFO)

/* Multiboot2 header: must lie 8-byte aligned in the first 32 KiB. */
#define MB2_MAGIC 0xE85250D6
#define MB2_ARCH_I386 0
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_MODULE_ALIGN 6 /* page-align modules, as v1's flag 0 asks */

#define KERNEL_STACK_SIZE 16384

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.align 8
mb2_header:
	.long MB2_MAGIC
	.long MB2_ARCH_I386
	.long mb2_header_end - mb2_header
	.long -(MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
	.short MB2_HEADER_TAG_MODULE_ALIGN, 0
	.long 8
	.short MB2_HEADER_TAG_END, 0
	.long 8
mb2_header_end:

	.section .bss
	.align 4096
	.global __kernel_stack_guard, __kernel_stack_bottom, __kernel_stack_top
__kernel_stack_guard:
	.skip 4096              /* left unmapped once paging is on: an overflow faults */
__kernel_stack_bottom:
	.skip KERNEL_STACK_SIZE
__kernel_stack_top:

	.section .text
	.global _start
	.type _start, @function
_start:
	cli
	cld
	mov $__kernel_stack_top, %esp
	xor %ebp, %ebp          /* ends gdb backtraces here */
	sub $8, %esp            /* keep %esp 16-byte aligned at the call */
	push %ebx               /* multiboot info (physical address) */
	push %eax               /* multiboot magic */
	call require_i686       /* before any C: see below */
	call kmain
	/* kmain never returns; halt for good if it ever does. */
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start

/*
 * The kernel's C is compiled for i686, and the compiler uses CMOV, which
 * CPUs before the Pentium Pro lack: on a 486 or a Pentium the first one
 * raises #UD, and so does the next one in the exception handler, without
 * end. So before any C runs, a CPU without CPUID or without CMOV gets a
 * message naming what it lacks, on COM1 and on the VGA text screen, and the
 * machine stops (under QEMU with isa-debug-exit: exit status 35, the fail
 * code; elsewhere it halts). Clobbers every register but %esp and %ebp.
 */
#define EFLAGS_ID (1 << 21)
#define CPUID_EDX_CMOV (1 << 15)
#define COM1 0x3f8
#define VGA_TEXT 0xb8000
#define VGA_WHITE_ON_RED 0x4f00
/* As in qemu.h, which assembly cannot include (it declares a C function). */
#define QEMU_DEBUG_EXIT_PORT 0xf4
#define QEMU_EXIT_FAIL 0x11

	.type require_i686, @function
require_i686:
	/* CPUID exists when EFLAGS.ID can be flipped. */
	pushfl
	pop %eax
	mov %eax, %ecx
	xor $EFLAGS_ID, %eax
	push %eax
	popfl
	pushfl
	pop %eax
	push %ecx
	popfl                   /* EFLAGS as the loader left them */
	xor %ecx, %eax
	mov $no_cpuid_msg, %esi
	test $EFLAGS_ID, %eax
	jz cpu_refused
	xor %eax, %eax
	cpuid                   /* %eax: the highest leaf */
	mov $no_cmov_msg, %esi
	test %eax, %eax
	jz cpu_refused
	mov $1, %eax
	cpuid
	test $CPUID_EDX_CMOV, %edx
	jz cpu_refused
	ret

/* %esi: the message, NUL-terminated. Never returns. */
cpu_refused:
	/* COM1 as serial_init() sets it: 115200 baud, 8N1, FIFOs on. */
	mov $COM1 + 1, %dx
	mov $0x00, %al
	out %al, %dx            /* no UART interrupts */
	mov $COM1 + 3, %dx
	mov $0x80, %al
	out %al, %dx            /* DLAB: the divisor follows */
	mov $COM1 + 0, %dx
	mov $0x01, %al
	out %al, %dx
	mov $COM1 + 1, %dx
	mov $0x00, %al
	out %al, %dx
	mov $COM1 + 3, %dx
	mov $0x03, %al
	out %al, %dx            /* 8N1 */
	mov $COM1 + 2, %dx
	mov $0xc7, %al
	out %al, %dx
	/* Clear the 80x25 text screen (the loader's words stay on COM1's log). */
	mov $VGA_TEXT, %edi
	mov $0x0720, %eax       /* a blank, grey on black */
	mov $80 * 25, %ecx
	rep stosw
	mov $VGA_TEXT, %edi
1:	movzbl (%esi), %eax
	test %eax, %eax
	jz 3f
	cmp $0x20, %eax
	jb 6f                   /* line breaks are for the serial log only */
	or $VGA_WHITE_ON_RED, %eax
	mov %ax, (%edi)
	add $2, %edi
6:
	/* Wait for room in the UART, but not for ever: there may be no UART. */
	mov $100000, %ecx
	mov $COM1 + 5, %dx
2:	in %dx, %al
	test $0x20, %al
	jnz 4f
	loop 2b
4:	mov $COM1, %dx
	mov (%esi), %al
	out %al, %dx
	inc %esi
	jmp 1b
3:	mov $QEMU_DEBUG_EXIT_PORT, %dx
	mov $QEMU_EXIT_FAIL, %eax
	out %eax, %dx
5:	cli
	hlt
	jmp 5b
	.size require_i686, . - require_i686

	.section .rodata
no_cpuid_msg:
	.asciz "\r\nMioOS-C needs an i686 (Pentium Pro) or later CPU: this one has no CPUID. Halted.\r\n"
no_cmov_msg:
	.asciz "\r\nMioOS-C needs an i686 (Pentium Pro) or later CPU: this one has no CMOV (CPUID.1:EDX bit 15). Halted.\r\n"
