/* Fixed addresses and selectors of the test-guest runtime (shared by C and assembly). */
#ifndef VIREO_GUEST_LAYOUT_H
#define VIREO_GUEST_LAYOUT_H

/* GDT selectors. The order of the user segments is what SYSRET expects from
 * STAR[63:48] = USER_CS32: SS = USER_CS32 + 8, 64-bit CS = USER_CS32 + 16. */
#define KERNEL_CS 0x08   /* 64-bit ring-0 code */
#define KERNEL_DS 0x10   /* ring-0 data (also the 32-bit boot data segment) */
#define USER_CS32 0x18   /* 32-bit ring-3 code (unused, only there for SYSRET) */
#define USER_DS 0x20     /* ring-3 data/stack */
#define USER_CS 0x28     /* 64-bit ring-3 code */
#define KERNEL_CS32 0x30 /* 32-bit ring-0 code (AP trampoline) */
#define TSS_SEL 0x38     /* 64-bit TSS (two slots) */

/* Identity map of the first 4 GiB with 2 MiB pages, except this one 2 MiB page,
 * left unmapped so that the exceptions guest can take a #PF on it. */
#define PF_HOLE_ADDR 0xc0000000UL

#define LAPIC_BASE 0xfee00000UL
#define IOAPIC_BASE 0xfec00000UL

/* Real-mode AP trampoline (page aligned, below 1 MiB, clear of the VMM's boot areas). */
#define SMP_TRAMPOLINE 0x10000UL
#define SMP_MAX_CPUS 64
#define AP_STACK_SIZE 4096

#define COM1 0x3f8
#define EXIT_PORT 0xf4

/* Vectors used by the runtime. */
#define VEC_SPURIOUS 0xff
#define VEC_USER_RETURN 0x80 /* DPL-3 gate: `int $0x80` from ring 3 returns to ring 0 */

#endif
