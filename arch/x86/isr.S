/*
 * Exception entry stubs. Each pushes a dummy error code when the CPU pushes
 * none, then its vector, so every exception reaches x86_trap() with the same
 * struct trap_frame layout.
 */
#define GDT_KERNEL_DATA 0x10

.macro ISR_NOERR n
	.type isr\n, @function
isr\n:
	push $0
	push $\n
	jmp isr_common
.endm

.macro ISR_ERR n
	.type isr\n, @function
isr\n:
	push $\n
	jmp isr_common
.endm

	.section .text
ISR_NOERR 0
ISR_NOERR 1
ISR_NOERR 2
ISR_NOERR 3
ISR_NOERR 4
ISR_NOERR 5
ISR_NOERR 6
ISR_NOERR 7
ISR_ERR   8
ISR_NOERR 9
ISR_ERR   10
ISR_ERR   11
ISR_ERR   12
ISR_ERR   13
ISR_ERR   14
ISR_NOERR 15
ISR_NOERR 16
ISR_ERR   17
ISR_NOERR 18
ISR_NOERR 19
ISR_NOERR 20
ISR_ERR   21
ISR_NOERR 22
ISR_NOERR 23
ISR_NOERR 24
ISR_NOERR 25
ISR_NOERR 26
ISR_NOERR 27
ISR_NOERR 28
ISR_ERR   29
ISR_ERR   30
ISR_NOERR 31

isr_common:
	pusha
	push %ds
	push %es
	push %fs
	push %gs
	mov $GDT_KERNEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %fs
	mov %ax, %gs
	cld
	push %esp               /* struct trap_frame * */
	call x86_trap
	add $4, %esp
	pop %gs
	pop %fs
	pop %es
	pop %ds
	popa
	add $8, %esp            /* vector and error code */
	iret

/*
 * The double-fault task. The CPU enters it through the task gate of vector
 * 8 with the error code (always 0) pushed on this task's own stack. IRET
 * returns to the interrupted task (NT is set by the task switch); the next
 * #DF resumes right after it, so the loop starts over.
 */
	.global x86_double_fault_task
	.type x86_double_fault_task, @function
x86_double_fault_task:
	add $4, %esp            /* the error code */
	call x86_double_fault   /* returns only when a test expects the fault */
	iret
	jmp x86_double_fault_task
	.size x86_double_fault_task, . - x86_double_fault_task

	.section .rodata
	.align 4
	.global x86_exception_stubs
x86_exception_stubs:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long isr\n
	.endr
