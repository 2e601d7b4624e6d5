/* Ring 3: the TSS, SYSCALL MSRs and the int 0x80 gate used to come back to ring 0. */
#include "runtime.h"

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084

struct tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));

static struct tss tss __attribute__((aligned(16)));
static uint8_t trap_stack[8192] __attribute__((aligned(16)));
extern uint64_t gdt[];
extern void user_syscall_entry(void), user_int80_entry(void);
uint64_t user_enter(uint64_t rip, uint64_t rsp, uint64_t arg, int how);

volatile struct user_syscall_state user_syscall_state;
void idt_set_gate(unsigned vector, uint64_t handler, unsigned dpl);

void user_init(void) {
  tss.rsp[0] = (uint64_t)(uintptr_t)(trap_stack + sizeof trap_stack);
  tss.iomap_base = sizeof tss; /* no I/O bitmap: ring 3 has no port access */
  uint64_t base = (uint64_t)(uintptr_t)&tss, limit = sizeof tss - 1;
  gdt[TSS_SEL / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89UL << 40) |
                     ((limit >> 16) << 48) | (((base >> 24) & 0xff) << 56);
  gdt[TSS_SEL / 8 + 1] = base >> 32;
  __asm__ volatile("ltr %w0" ::"r"(TSS_SEL));
  /* SYSCALL: CS = KERNEL_CS, SS = KERNEL_DS; SYSRET: CS = USER_CS, SS = USER_DS. */
  wrmsr(MSR_STAR, ((uint64_t)(USER_CS32 | 3) << 48) | ((uint64_t)KERNEL_CS << 32));
  wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)user_syscall_entry);
  wrmsr(MSR_SFMASK, 0x47700); /* clear TF, IF, DF, IOPL, NT, AC */
  idt_set_gate(VEC_USER_RETURN, (uint64_t)(uintptr_t)user_int80_entry, 3);
}

uint64_t user_run(void (*fn)(uint64_t), uint64_t arg, void* stack_top, enum user_entry how) {
  /* Enter as if called: a (null) return address on a 16-byte aligned stack, so a
   * function that returns faults in ring 3 instead of running off. */
  uint64_t* sp = (uint64_t*)((uintptr_t)stack_top & ~(uintptr_t)15) - 1;
  *sp = 0;
  return user_enter((uint64_t)(uintptr_t)fn, (uint64_t)(uintptr_t)sp, arg, (int)how);
}
