/*
 * Multiboot (v1) entry point. GRUB jumps here in 32-bit protected mode with
 * paging off, EAX = the Multiboot magic and EBX = the physical address of the
 * Multiboot information structure. We set up a stack and call
 * kmain(magic, info); kmain checks the magic.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAG_PAGE_ALIGN_MODULES (1 << 0)
#define MB_FLAG_MEMORY_INFO (1 << 1)
#define MB_FLAGS (MB_FLAG_PAGE_ALIGN_MODULES | MB_FLAG_MEMORY_INFO)

#define KERNEL_STACK_SIZE 16384

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .bss
	.align 4096
	.global __kernel_stack_bottom, __kernel_stack_top
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
