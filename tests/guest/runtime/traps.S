/*
 * Interrupt/exception entry stubs and the ring-0 <-> ring-3 switch.
 *
 * Every vector has a stub that pushes a dummy error code (unless the CPU pushed one),
 * then the vector number, and jumps to trap_common, which saves the general registers
 * into a struct trap_frame (runtime.h) and calls trap_dispatch(frame). Handlers may
 * change the frame (e.g. frame->rip to resume past a faulting instruction).
 */
#include "layout.h"

	.code64
	.section .text.traps, "ax"

/* Vectors for which the CPU pushes an error code. */
.macro TRAP_STUB vec
	.balign 16
trap_stub_\vec:
	.if (\vec == 8) || (\vec == 10) || (\vec == 11) || (\vec == 12) || (\vec == 13) || (\vec == 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp trap_common
.endm

	.altmacro
	.set vec, 0
	.rept 256
	TRAP_STUB %vec
	.set vec, vec + 1
	.endr

trap_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	cld
	call trap_dispatch
	.globl trap_return
trap_return:
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp           /* vector, error code */
	iretq

/* Table of the 256 stub addresses, read by idt_init(). */
	.section .rodata.trap_stubs, "a"
	.balign 8
	.globl trap_stubs
.macro TRAP_STUB_ADDR vec
	.quad trap_stub_\vec
.endm
trap_stubs:
	.set vec, 0
	.rept 256
	TRAP_STUB_ADDR %vec
	.set vec, vec + 1
	.endr
	.noaltmacro

/*
 * uint64_t user_enter(uint64_t rip, uint64_t rsp, uint64_t arg, int how)
 *
 * Runs ring-3 code at `rip` with stack `rsp` and `arg` in rdi, until it leaves ring 3
 * through one of the return paths below; returns the value it passed (rdi) or the
 * value given to user_abort(). `how` selects the way into ring 3: 0 = iretq,
 * 1 = sysretq. The ring-0 callee-saved registers and stack pointer are kept in
 * user_kernel_rsp while ring 3 runs (one ring-3 session at a time, BSP only).
 */
	.section .text.user, "ax"
	.globl user_enter
user_enter:
	push %rbx
	push %rbp
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, user_kernel_rsp(%rip)
	test %ecx, %ecx
	jnz 1f
	pushq $(USER_DS | 3)    /* SS */
	push %rsi               /* RSP */
	pushq $0x202            /* RFLAGS: IF */
	pushq $(USER_CS | 3)    /* CS */
	push %rdi               /* RIP */
	mov %rdx, %rdi
	call clear_regs
	iretq
1:	mov %rdi, %rcx          /* sysretq: RIP from rcx, RFLAGS from r11 */
	mov $0x202, %r11d
	mov %rsi, %rsp
	mov %rdx, %rdi
	xor %eax, %eax
	xor %ebx, %ebx
	xor %edx, %edx
	xor %esi, %esi
	xor %ebp, %ebp
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r12d, %r12d
	xor %r13d, %r13d
	xor %r14d, %r14d
	xor %r15d, %r15d
	sysretq

/* Clears the registers ring 3 should not see (all but rdi and rsp). */
clear_regs:
	xor %eax, %eax
	xor %ebx, %ebx
	xor %ecx, %ecx
	xor %edx, %edx
	xor %esi, %esi
	xor %ebp, %ebp
	xor %r8d, %r8d
	xor %r9d, %r9d
	xor %r10d, %r10d
	xor %r11d, %r11d
	xor %r12d, %r12d
	xor %r13d, %r13d
	xor %r14d, %r14d
	xor %r15d, %r15d
	ret

/* Ring-3 exit by `syscall` (MSR_LSTAR points here; SFMASK clears IF): value in rdi.
 * Records what SYSCALL left behind in user_syscall_state (see runtime.h). */
	.globl user_syscall_entry
user_syscall_entry:
	mov %rcx, user_syscall_state+0(%rip)
	mov %r11, user_syscall_state+8(%rip)
	mov %rsp, user_syscall_state+16(%rip)
	mov user_kernel_rsp(%rip), %rsp
	pushfq
	popq user_syscall_state+24(%rip)
	mov %cs, %eax
	movzwl %ax, %eax
	mov %rax, user_syscall_state+32(%rip)
	mov %ss, %eax
	movzwl %ax, %eax
	mov %rax, user_syscall_state+40(%rip)
	jmp user_leave

/* Ring-3 exit by `int $0x80` (DPL-3 gate, on TSS.rsp0): value in rdi. */
	.globl user_int80_entry
user_int80_entry:
	mov user_kernel_rsp(%rip), %rsp
	jmp user_leave

/* void user_abort(uint64_t value): from a ring-0 trap handler that caught ring 3
 * faulting, abandon the ring-3 session and return `value` from user_enter(). */
	.globl user_abort
user_abort:
	mov user_kernel_rsp(%rip), %rsp
user_leave:
	mov %rdi, %rax
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %rbp
	pop %rbx
	ret

	.section .bss.user_kernel_rsp, "aw", @nobits
	.balign 8
	.globl user_kernel_rsp
user_kernel_rsp:
	.skip 8

	.section .note.GNU-stack, "", @progbits
