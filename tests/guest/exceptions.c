/*
 * Exceptions and the LAPIC timer: takes #UD, #DE, #GP and #PF on purpose, checks each
 * handler saw the right vector, error code, RIP (and CR2) and that execution resumed
 * after the faulting instruction; then counts `ticks=N` (default 10) periodic LAPIC
 * timer interrupts in a `sti; hlt` loop, checking the ISR bit and EOI.
 */
#include "runtime.h"

#define TIMER_VECTOR 0x40
/* Divide by 16 and 62500 counts: 1 ms with KVM's (and QEMU's) 1 GHz APIC bus. */
#define TIMER_DIVIDE_16 0x3
#define TIMER_COUNT 62500

/* Set by each probe just before its faulting instruction (asm labels 2: and 1:). */
volatile uint64_t fault_rip, resume_rip;

static volatile struct {
  uint64_t vector, error, rip, cr2, cs;
  unsigned count;
} seen;

static void on_fault(struct trap_frame* f) {
  seen.vector = f->vector;
  seen.error = f->error;
  seen.rip = f->rip;
  seen.cs = f->cs;
  seen.cr2 = f->vector == 14 ? read_cr2() : 0;
  seen.count++;
  f->rip = resume_rip; /* skip the faulting instruction */
}

/* Records the fault and resume addresses, then runs `insn` at label 2. */
#define ARM "leaq 2f(%%rip), %%r11\n\tmovq %%r11, fault_rip(%%rip)\n\t" \
            "leaq 1f(%%rip), %%r11\n\tmovq %%r11, resume_rip(%%rip)\n"

static void expect(const char* what, uint64_t vector, uint64_t error, uint64_t cr2,
                   unsigned before) {
  GUEST_CHECK(seen.count == before + 1, "%s: handler ran %u times, want 1", what,
              seen.count - before);
  GUEST_CHECK(seen.vector == vector, "%s: vector %lu, want %lu", what, seen.vector, vector);
  GUEST_CHECK(seen.error == error, "%s: error code %#lx, want %#lx", what, seen.error, error);
  GUEST_CHECK(seen.rip == fault_rip, "%s: rip %#lx, want %#lx", what, seen.rip, fault_rip);
  GUEST_CHECK(seen.cs == KERNEL_CS, "%s: cs %#lx, want %#x", what, seen.cs, KERNEL_CS);
  if (vector == 14)
    GUEST_CHECK(seen.cr2 == cr2, "%s: cr2 %#lx, want %#lx", what, seen.cr2, cr2);
  printf("exceptions: %-28s vector %2lu %s error %#lx rip %#lx%s ok\n", what, seen.vector,
         trap_name((unsigned)vector), seen.error, seen.rip, vector == 14 ? " cr2 match" : "");
}

static void test_exceptions(void) {
  for (unsigned v = 0; v < 32; v++) trap_set_handler(v, on_fault);
  unsigned n;
  uint64_t marker;

  n = seen.count;
  __asm__ volatile(ARM "2: ud2\n1:" ::: "r11", "memory");
  expect("#UD (ud2)", 6, 0, 0, n);

  n = seen.count;
  {
    uint32_t a = 1, d = 0, c = 0;
    __asm__ volatile(ARM "2: divl %2\n1:" : "+a"(a), "+d"(d) : "r"(c) : "r11", "memory");
  }
  expect("#DE (div by zero)", 0, 0, 0, n);

  n = seen.count;
  marker = 0;
  __asm__ volatile(ARM "2: movq (%1), %0\n1:"
                   : "+r"(marker)
                   : "r"(0x8000000000000000UL)
                   : "r11", "memory");
  expect("#GP (non-canonical load)", 13, 0, 0, n);
  GUEST_CHECK(marker == 0, "#GP: the faulting load wrote its destination");

  n = seen.count;
  {
    uint16_t bad = 0x50; /* past the end of the GDT */
    __asm__ volatile(ARM "2: movw %0, %%fs\n1:" ::"r"(bad) : "r11", "memory");
  }
  expect("#GP (selector past GDT limit)", 13, 0x50, 0, n);

  n = seen.count;
  marker = 0x1234;
  __asm__ volatile(ARM "2: movq (%1), %0\n1:"
                   : "+r"(marker)
                   : "r"(PF_HOLE_ADDR + 0x128)
                   : "r11", "memory");
  expect("#PF (read of unmapped page)", 14, 0, PF_HOLE_ADDR + 0x128, n);
  GUEST_CHECK(marker == 0x1234, "#PF: the faulting load wrote its destination");

  n = seen.count;
  __asm__ volatile(ARM "2: movq %0, (%1)\n1:" ::"r"(0x5a5aUL), "r"(PF_HOLE_ADDR + 0x1ff008)
                   : "r11", "memory");
  expect("#PF (write to unmapped page)", 14, 2, PF_HOLE_ADDR + 0x1ff008, n);

  for (unsigned v = 0; v < 32; v++) trap_set_handler(v, NULL);
}

static volatile uint32_t ticks, in_service, still_in_service;
static volatile uint64_t tick_tsc[2];

static void on_timer(struct trap_frame* f) {
  (void)f;
  if (lapic_in_service(TIMER_VECTOR)) in_service++;
  uint32_t t = ticks + 1;
  ticks = t;
  tick_tsc[t == 1 ? 0 : 1] = rdtsc();
  lapic_eoi();
  if (lapic_in_service(TIMER_VECTOR)) still_in_service++;
}

static void test_lapic_timer(void) {
  uint32_t want = (uint32_t)cmdline_u64("ticks", 10);
  GUEST_CHECK(want >= 1 && want <= 100000, "ticks=%u out of range", want);
  trap_set_handler(TIMER_VECTOR, on_timer);
  lapic_enable();
  lapic_write(LAPIC_TIMER_DIV, TIMER_DIVIDE_16);
  lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LAPIC_TIMER_PERIODIC);
  lapic_write(LAPIC_TIMER_INIT, TIMER_COUNT);

  /* The current count must move, or the hlt loop below would wait forever. */
  uint32_t c0 = lapic_read(LAPIC_TIMER_CUR), c1 = c0;
  for (int i = 0; i < 1000 && c1 == c0; i++) c1 = lapic_read(LAPIC_TIMER_CUR);
  GUEST_CHECK(c1 != c0 && c0 <= TIMER_COUNT, "LAPIC timer current count stuck at %u", c0);

  uint32_t halts = 0;
  while (READ_ONCE(ticks) < want) {
    sti_hlt();
    cli();
    halts++;
  }
  lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
  lapic_write(LAPIC_TIMER_INIT, 0);
  uint32_t got = ticks;
  GUEST_CHECK(got == want, "counted %u ticks, want %u", got, want);
  /* In the handler the vector's ISR bit must be set (and PPR raised), and EOI must clear
   * it. Nested KVM without VT-x (our development hosts) never sets ISR: there the check
   * is reported and skipped, unless isr=strict. */
  if (in_service == 0 && !cmdline_is("isr", "strict")) {
    printf("exceptions: note: the LAPIC never showed the timer vector in service (ISR); "
           "host quirk, ISR/EOI check skipped (isr=strict enforces it)\n");
  } else {
    GUEST_CHECK(in_service == got, "timer vector in service in %u of %u handler runs",
                in_service, got);
  }
  GUEST_CHECK(still_in_service == 0, "ISR bit still set after EOI (%u times)",
              still_in_service);
  uint64_t per_tick = got > 1 ? (tick_tsc[1] - tick_tsc[0]) / (got - 1) : 0;
  printf("exceptions: lapic timer %u ticks on vector %#x in %u halts, %lu TSC cycles/tick, "
         "%s\n", got, TIMER_VECTOR, halts, per_tick,
         in_service ? "ISR set in the handler and clear after EOI" : "ISR not tracked");
}

/* unhandled=ud|pf: take an exception nobody handles, to see the runtime's report (the
 * guest then fails with exit value 1). */
static void take_unhandled(void) {
  if (cmdline_is("unhandled", "ud")) __asm__ volatile("ud2");
  if (cmdline_is("unhandled", "pf")) (void)*(volatile uint64_t*)(PF_HOLE_ADDR + 8);
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("exceptions: guest (IDT, #UD #DE #GP #PF, LAPIC timer)\n");
  take_unhandled();
  test_exceptions();
  test_lapic_timer();
  guest_pass();
}
