/* int ksetjmp(kjmp_buf env); void klongjmp(kjmp_buf env, int val) */
	.section .text
	.global ksetjmp
	.type ksetjmp, @function
ksetjmp:
	mov 4(%esp), %eax
	mov %ebx, 0(%eax)
	mov %esi, 4(%eax)
	mov %edi, 8(%eax)
	mov %ebp, 12(%eax)
	lea 4(%esp), %ecx        /* %esp as it will be after our ret */
	mov %ecx, 16(%eax)
	mov (%esp), %ecx         /* return address */
	mov %ecx, 20(%eax)
	pushf
	pop %ecx
	mov %ecx, 24(%eax)
	xor %eax, %eax
	ret
	.size ksetjmp, . - ksetjmp

	.global klongjmp
	.type klongjmp, @function
klongjmp:
	mov 4(%esp), %edx
	mov 8(%esp), %eax
	test %eax, %eax
	jnz 1f
	inc %eax
1:	mov 0(%edx), %ebx
	mov 4(%edx), %esi
	mov 8(%edx), %edi
	mov 12(%edx), %ebp
	mov 16(%edx), %esp
	push 24(%edx)
	popf
	jmp *20(%edx)
	.size klongjmp, . - klongjmp
