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
	call kmain
	/* kmain never returns; halt for good if it ever does. */
1:	cli
	hlt
	jmp 1b
	.size _start, . - _start
