/*
 * PVH entry of the test guests, the AP trampoline, the GDT and the static page tables.
 *
 * Everything here runs at CPL 0, which hosts without VT-x emulate instruction by
 * instruction: the page tables are therefore built by the assembler (data, not code),
 * and the path to 64-bit C is a couple of dozen instructions.
 */
#include "layout.h"

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_SCE 0x00000001
#define EFER_LME 0x00000100

/* ---- PVH ELF note: XEN_ELFNOTE_PHYS32_ENTRY (18), name "Xen", 32-bit entry ---- */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4                 /* namesz ("Xen\0") */
	.long 4                 /* descsz */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_entry

/* Switches a CPU in 32-bit protected mode (paging off, flat DS) to long mode and
 * jumps to `target` (64-bit code). Clobbers eax, ecx, edx. */
.macro ENTER_LONG_MODE target
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $(EFER_LME | EFER_SCE), %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $KERNEL_CS, $\target
.endm

	.section .text.boot, "ax"
	.code32
	.globl pvh_entry
/* PVH: 32-bit protected mode, paging off, flat CS/DS, EBX = hvm_start_info. */
pvh_entry:
	cli
	cld
	mov %ebx, %esi
	lgdt gdt_ptr
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	ENTER_LONG_MODE bsp_entry64

	.code64
bsp_entry64:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	mov $bsp_stack_top, %rsp
	mov %esi, %edi          /* runtime_start(uint32_t start_info_paddr) */
	call runtime_start
1:	cli
	hlt
	jmp 1b

/* ---- Application processors ---- */
/* Real-mode trampoline: copied to SMP_TRAMPOLINE and started there by a SIPI with
 * vector SMP_TRAMPOLINE >> 12 (so CS = SMP_TRAMPOLINE >> 4, IP = 0). It loads the GDT,
 * enters protected mode and far-jumps into the image (ap_entry32). Position
 * independent: it only uses offsets from its own start. */
	.section .rodata.ap_trampoline, "a"
	.code16
	.globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl (tramp_gdt_ptr - ap_trampoline_start)
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $KERNEL_CS32, $ap_entry32
	.balign 8
tramp_gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
ap_trampoline_end:

	.section .text.ap_entry, "ax"
	.code32
ap_entry32:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	ENTER_LONG_MODE ap_entry64

	.code64
ap_entry64:
	mov $KERNEL_DS, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	xor %eax, %eax
	mov %eax, %fs
	mov %eax, %gs
	/* Take a stack slot: slot = ap_slot_counter++ (atomically). */
	mov $1, %eax
	lock xadd %eax, ap_slot_counter(%rip)
	cmp $(SMP_MAX_CPUS - 1), %eax
	jae 2f
	mov %eax, %edi
	lea 1(%rax), %rsp
	shl $12, %rsp           /* AP_STACK_SIZE == 4096 */
	add $ap_stacks, %rsp
	call ap_main_entry      /* ap_main_entry(unsigned slot) */
2:	cli
	hlt
	jmp 2b

/* ---- GDT (see layout.h for the selectors) ---- */
	.section .data.gdt, "aw"
	.balign 16
	.globl gdt, gdt_ptr
gdt:
	.quad 0                         /* 0x00 null */
	.quad 0x00af9a000000ffff        /* 0x08 KERNEL_CS: 64-bit, DPL 0 */
	.quad 0x00cf92000000ffff        /* 0x10 KERNEL_DS: flat data, DPL 0 */
	.quad 0x00cffa000000ffff        /* 0x18 USER_CS32: 32-bit code, DPL 3 */
	.quad 0x00cff2000000ffff        /* 0x20 USER_DS: flat data, DPL 3 */
	.quad 0x00affa000000ffff        /* 0x28 USER_CS: 64-bit, DPL 3 */
	.quad 0x00cf9a000000ffff        /* 0x30 KERNEL_CS32: 32-bit code, DPL 0 */
	.quad 0, 0                      /* 0x38 TSS_SEL: filled in by gdt_set_tss() */
gdt_end:
	.balign 8
	.word 0, 0, 0
/* 6 bytes for lgdt in 32-bit mode, 10 in 64-bit mode (the base is < 4 GiB). */
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

/* ---- Page tables: identity map of 0-4 GiB with 2 MiB pages ---- */
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_US 0x4
#define PTE_PWT 0x8
#define PTE_PCD 0x10
#define PTE_PS 0x80
	.section .data.page_tables, "aw"
	.balign 4096
	.globl pml4, pdpt, page_dirs
/* The upper levels allow user access; each 2 MiB leaf decides (all start supervisor-only,
 * paging_set_user() opens ranges to ring 3). */
pml4:
	.quad pdpt + (PTE_P | PTE_RW | PTE_US)
	.fill 511, 8, 0
pdpt:
	.quad page_dirs + 0x0000 + (PTE_P | PTE_RW | PTE_US)
	.quad page_dirs + 0x1000 + (PTE_P | PTE_RW | PTE_US)
	.quad page_dirs + 0x2000 + (PTE_P | PTE_RW | PTE_US)
	.quad page_dirs + 0x3000 + (PTE_P | PTE_RW | PTE_US)
	.fill 508, 8, 0
page_dirs:
	.set addr, 0
	.rept 2048
	.if addr == PF_HOLE_ADDR
	.quad 0                                         /* the #PF hole */
	.elseif addr >= 0xc0000000
	.quad addr + (PTE_P | PTE_RW | PTE_PS | PTE_PCD | PTE_PWT)  /* MMIO: uncached */
	.else
	.quad addr + (PTE_P | PTE_RW | PTE_PS)
	.endif
	.set addr, addr + 0x200000
	.endr

/* ---- BSP stack ---- */
	.section .bss.bsp_stack, "aw", @nobits
	.balign 16
	.globl bsp_stack_top
	.skip 16384
bsp_stack_top:

	.section .note.GNU-stack, "", @progbits
