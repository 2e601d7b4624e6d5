/* Local APIC (xAPIC MMIO at LAPIC_BASE) and AP start-up. */
#include "runtime.h"

void lapic_enable(void) {
  lapic_write(LAPIC_TPR, 0);
  lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
}

void lapic_send_ipi(uint32_t dest, uint32_t icr_lo) {
  lapic_write(LAPIC_ICR_HI, dest << 24);
  lapic_write(LAPIC_ICR_LO, icr_lo);
  while (lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING) cpu_relax();
}

void ioapic_route(uint64_t ioapic, uint32_t gsi, uint8_t vector, uint32_t dest, uint16_t flags) {
  volatile uint32_t* sel = (volatile uint32_t*)(uintptr_t)ioapic;
  volatile uint32_t* win = (volatile uint32_t*)(uintptr_t)(ioapic + 0x10);
  uint32_t lo = vector;
  if ((flags & 3) == 3) lo |= 1u << 13;        /* active low */
  if (((flags >> 2) & 3) == 3) lo |= 1u << 15; /* level triggered */
  *sel = 0x10 + 2 * gsi + 1;
  *win = dest << 24;
  *sel = 0x10 + 2 * gsi;
  *win = lo; /* unmasked */
}

/* ---- SMP ---- */
uint8_t ap_stacks[SMP_MAX_CPUS][AP_STACK_SIZE] __attribute__((aligned(16)));
volatile uint32_t ap_slot_counter;
static void (*ap_fn)(unsigned slot);
extern const char ap_trampoline_start[], ap_trampoline_end[];

void ap_main_entry(unsigned slot);

void ap_main_entry(unsigned slot) {
  idt_load();
  ap_fn(slot);
}

void smp_prepare(void (*fn)(unsigned slot)) {
  ap_fn = fn;
  memcpy((void*)SMP_TRAMPOLINE, ap_trampoline_start,
         (size_t)(ap_trampoline_end - ap_trampoline_start));
}

void smp_start_ap(uint32_t dest) {
  uint32_t shorthand = dest == ICR_ALL_BUT_SELF ? ICR_ALL_BUT_SELF : 0;
  if (shorthand) dest = 0;
  lapic_send_ipi(dest, shorthand | ICR_INIT | ICR_ASSERT);
  /* The MP spec wants 10 ms after INIT and 200 us between the SIPIs; virtual CPUs
   * need neither, and a SIPI to a CPU that is already running is ignored. */
  for (int i = 0; i < 2; i++)
    lapic_send_ipi(dest, shorthand | ICR_STARTUP | (uint32_t)(SMP_TRAMPOLINE >> 12));
}
