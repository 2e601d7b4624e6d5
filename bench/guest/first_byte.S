/* The smallest PVH guest: its first instruction sends one byte to COM1, then it ends
 * the VM through the debug-exit port. The time from exec to that byte on the host is
 * the time to the guest's first instruction (plus one port exit). */
    .section .note.pvh, "a"
    .p2align 2
    .long 4            /* namesz: "Xen\0" */
    .long 4            /* descsz */
    .long 18           /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start

    .text
    .code32
    .globl _start
_start:
    mov $0x3f8, %dx
    mov $'!', %al
    out %al, (%dx)
    mov $'\n', %al
    out %al, (%dx)
    mov $0xf4, %dx
    xor %eax, %eax
    out %eax, (%dx)
1:  hlt
    jmp 1b
