/* The IDT and the C side of exception/interrupt handling. */
#include "runtime.h"

struct idt_gate {
  uint16_t offset_lo;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr; /* P | DPL | type (0xe = interrupt gate) */
  uint16_t offset_mid;
  uint32_t offset_hi;
  uint32_t reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static trap_handler_t handlers[256];
extern const uint64_t trap_stubs[256];

static const struct {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed)) idt_ptr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};

void idt_set_gate(unsigned vector, uint64_t handler, unsigned dpl);
void idt_init(void);
void trap_dispatch(struct trap_frame* f);

void idt_set_gate(unsigned vector, uint64_t handler, unsigned dpl) {
  struct idt_gate* g = &idt[vector];
  g->offset_lo = (uint16_t)handler;
  g->selector = KERNEL_CS;
  g->ist = 0;
  g->type_attr = (uint8_t)(0x8e | (dpl << 5));
  g->offset_mid = (uint16_t)(handler >> 16);
  g->offset_hi = (uint32_t)(handler >> 32);
}

void idt_load(void) { __asm__ volatile("lidt %0" ::"m"(idt_ptr)); }

void idt_init(void) {
  for (unsigned v = 0; v < 256; v++) idt_set_gate(v, trap_stubs[v], 0);
  idt_load();
}

void trap_set_handler(unsigned vector, trap_handler_t h) { handlers[vector & 0xff] = h; }

const char* trap_name(unsigned v) {
  static const char* const names[32] = {
      "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
      "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
      "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31"};
  return v < 32 ? names[v] : "irq";
}

static void report(const char* what, const struct trap_frame* f) {
  printf("%s: vector %lu (%s) error %#lx rip %#lx cs %#lx rflags %#lx rsp %#lx", what,
         f->vector, trap_name((unsigned)f->vector), f->error, f->rip, f->cs, f->rflags, f->rsp);
  if (f->vector == 14) printf(" cr2 %#lx", read_cr2());
  printf(" apic %u\n", lapic_id());
}

void trap_dispatch(struct trap_frame* f) {
  trap_handler_t h = handlers[f->vector & 0xff];
  if (h) {
    h(f);
    return;
  }
  if ((f->cs & 3) == 3) {
    /* Ring 3 left on purpose with ud2 (value in rdi), or faulted. */
    if (f->vector == 6) user_abort(f->rdi);
    report("ring-3 exception", f);
    user_abort(USER_FAULT_BASE | f->vector);
  }
  if (f->vector == VEC_SPURIOUS) return; /* spurious: no EOI */
  report(f->vector < 32 ? "unexpected exception" : "unexpected interrupt", f);
  guest_fail("unexpected %s %lu at rip %#lx", f->vector < 32 ? "exception" : "interrupt",
             f->vector, f->rip);
}
