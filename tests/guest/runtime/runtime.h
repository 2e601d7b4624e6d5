/* The test-guest runtime: what a guest's C code can call. See tests/guest/README.md. */
#ifndef VIREO_GUEST_RUNTIME_H
#define VIREO_GUEST_RUNTIME_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* ---- PVH boot ABI (Xen's struct hvm_start_info, version 1) ---- */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr; /* version >= 1 */
  uint32_t memmap_entries;
  uint32_t reserved;
};

struct hvm_memmap_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type; /* e820 types: 1 = RAM */
  uint32_t reserved;
};

/* Each guest defines this; its return value is written to the exit port. */
int guest_main(const struct hvm_start_info* si);

extern const struct hvm_start_info* start_info;

/* ---- Port I/O and CPU helpers ---- */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port)); }
static inline uint16_t inw(uint16_t port) {
  uint16_t v;
  __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline uint64_t read_cr2(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* sti takes effect after the next instruction, so an interrupt cannot slip in between. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }
static inline uint32_t atomic_fetch_inc(volatile uint32_t* p) {
  uint32_t v = 1;
  __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
  return v;
}
#define READ_ONCE(x) (*(const volatile __typeof__(x)*)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x)*)&(x) = (v))

/* ---- Freestanding C library bits ---- */
void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
int strcmp(const char* a, const char* b);

/* ---- Serial console (COM1, polled) and formatted output ---- */
void serial_putc(char c);
void serial_write(const char* s, size_t n);
/* %d %i %u %x %X %p %s %c %%, with l/ll/z sizes, a width and the 0, - and # flags.
 * '\n' goes out as "\r\n". */
int vsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
int snprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Exit device: value v on port 0xf4, the VMM exits with (v << 1) | 1 ---- */
__attribute__((noreturn)) void guest_exit(uint32_t v);
/* Prints "PASS" and exits with 0. */
__attribute__((noreturn)) void guest_pass(void);
/* Prints "FAIL: <reason>" and exits with 1. */
__attribute__((noreturn, format(printf, 1, 2))) void guest_fail(const char* fmt, ...);
#define GUEST_CHECK(cond, ...) \
  do {                         \
    if (!(cond)) guest_fail(__VA_ARGS__); \
  } while (0)

/* ---- Command line: space-separated words, key=value ---- */
const char* cmdline(void); /* "" when there is none */
/* Finds key=value; sets *val and *len to the value (not NUL-terminated). A bare `key` has an
 * empty value. */
bool cmdline_find(const char* key, const char** val, size_t* len);
/* The value of key as a decimal or 0x-hex number, `dflt` if the key is absent;
 * a malformed value fails the guest. */
uint64_t cmdline_u64(const char* key, uint64_t dflt);
/* True if key's value equals `want`. */
bool cmdline_is(const char* key, const char* want);

/* ---- Memory map ---- */
/* True if [addr, addr+len) lies in one RAM (type 1) entry of the PVH memory map. */
bool memmap_is_ram(uint64_t addr, uint64_t len);
/* Linker-script symbols. */
extern char __image_start[], __image_end[], __user_start[], __user_end[];
/* Marks the 2 MiB pages covering [addr, addr+len) user-accessible (addr < 4 GiB). */
void paging_set_user(uint64_t addr, uint64_t len);

/* ---- Exceptions and interrupts ---- */
struct trap_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};
typedef void (*trap_handler_t)(struct trap_frame* f);
/* Installs a handler for `vector`; NULL restores the default (report and FAIL). */
void trap_set_handler(unsigned vector, trap_handler_t h);
/* Loads the IDT on this CPU (the BSP's runtime does it before guest_main). */
void idt_load(void);
/* Name of an exception vector ("#PF"), or "irq". */
const char* trap_name(unsigned vector);

/* ---- Local APIC (xAPIC MMIO) ---- */
#define LAPIC_ID 0x020
#define LAPIC_VERSION 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ISR 0x100 /* 8 registers, 0x10 apart */
#define LAPIC_ESR 0x280
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0
#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_LVT_MASKED (1u << 16)
#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_ASSERT 0x00004000u
#define ICR_DELIVERY_PENDING 0x00001000u
#define ICR_ALL_BUT_SELF 0x000c0000u

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t*)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t*)(LAPIC_BASE + reg) = v; }
static inline uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }
/* Software-enables this CPU's LAPIC (SVR) with spurious vector VEC_SPURIOUS, TPR 0. */
void lapic_enable(void);
/* Sends an IPI: icr_lo = vector | delivery mode | shorthand; dest = APIC ID. */
void lapic_send_ipi(uint32_t dest, uint32_t icr_lo);
/* True if `vector` is in service (its ISR bit is set). */
static inline bool lapic_in_service(unsigned vector) {
  return (lapic_read(LAPIC_ISR + (vector / 32) * 0x10) >> (vector % 32)) & 1;
}

/* ---- ACPI (RSDP -> XSDT/RSDT -> tables) ---- */
/* The table with this signature (checksum verified), or NULL. */
const void* acpi_find_table(const char sig[4]);
/* Enabled processors listed in the MADT (Local APIC and Local x2APIC entries); stores up
 * to `max` APIC IDs. -1 if there is no MADT. */
int acpi_madt_cpus(uint32_t* ids, int max);
/* Where ISA IRQ `irq` arrives: the I/O APIC handling GSI 0 and the GSI and MPS INTI
 * flags from an Interrupt Source Override. Defaults (no MADT or no override):
 * IOAPIC_BASE, GSI = irq, flags 0 (bus default: ISA is edge, active high). */
struct acpi_isa_irq {
  uint64_t ioapic;
  uint32_t gsi;
  uint16_t flags;
};
void acpi_isa_irq(unsigned irq, struct acpi_isa_irq* out);

/* ---- I/O APIC ---- */
/* Routes GSI `gsi` (relative to the I/O APIC at `ioapic`) to `vector` on APIC ID `dest`,
 * fixed delivery, physical destination; MPS INTI flags as in the MADT (0 = edge, high). */
void ioapic_route(uint64_t ioapic, uint32_t gsi, uint8_t vector, uint32_t dest, uint16_t flags);

/* ---- SMP ---- */
/* Copies the real-mode trampoline to SMP_TRAMPOLINE; APs started with a SIPI there
 * enter long mode, load the IDT and call fn(slot) on their own stack (slot = start
 * order). If fn returns the AP halts with interrupts off. */
void smp_prepare(void (*fn)(unsigned slot));
/* INIT-SIPI-SIPI to one APIC ID, or to all but self with ICR_ALL_BUT_SELF as `dest`. */
void smp_start_ap(uint32_t dest);

/* ---- Ring 3 ---- */
enum user_entry { USER_ENTER_IRETQ = 0, USER_ENTER_SYSRETQ = 1 };
/* Runs fn(arg) in ring 3 on `stack_top` until it leaves ring 3 (user_return_*), or a
 * trap handler calls user_abort(); returns the value passed. fn's code, data and stack
 * must be in user pages (paging_set_user). Needs user_init() first. */
uint64_t user_run(void (*fn)(uint64_t), uint64_t arg, void* stack_top, enum user_entry how);
void user_init(void); /* TSS.rsp0, STAR/LSTAR/SFMASK, the int 0x80 gate */
__attribute__((noreturn)) void user_abort(uint64_t value);

/* The state the last `syscall` out of ring 3 arrived with at LSTAR: RCX, R11, RSP as
 * SYSCALL left them, and RFLAGS, CS, SS at the first instruction of the entry. */
struct user_syscall_state {
  uint64_t rcx, r11, rsp, rflags, cs, ss;
};
extern volatile struct user_syscall_state user_syscall_state;

/* Ring-3 side: leave ring 3 with `value` (defined inline so that ring-3 code does not
 * call into supervisor pages). `int $0x80` and ud2 work everywhere; on nested KVM without
 * VT-x `syscall` only works because vireo completes it (it reaches LSTAR still at CPL 3
 * there, see README.md and src/vmm/syscall_repair.h). */
__attribute__((noreturn, always_inline)) static inline void user_return_syscall(uint64_t value) {
  __asm__ volatile("syscall" ::"D"(value) : "memory");
  __builtin_unreachable();
}
__attribute__((noreturn, always_inline)) static inline void user_return_int80(uint64_t value) {
  __asm__ volatile("int $0x80" ::"D"(value) : "memory");
  __builtin_unreachable();
}
/* Leaves by faulting on purpose: the runtime's default #UD handler, seeing CPL 3, calls
 * user_abort(rdi). Any other ring-3 fault is reported and ends the session with
 * USER_FAULT_BASE | vector. */
__attribute__((noreturn, always_inline)) static inline void user_return_ud2(uint64_t value) {
  __asm__ volatile("ud2" ::"D"(value) : "memory");
  __builtin_unreachable();
}
#define USER_FAULT_BASE 0xfa17000000000000ULL

#endif
