/*
 * SMP bring-up: learns the CPU count from the ACPI MADT (and/or `cpus=N`), starts every
 * AP with INIT-SIPI-SIPI through the real-mode trampoline at SMP_TRAMPOLINE, and waits
 * (up to `timeout_ms=N`, default 5000) for each AP to reach long mode and report its
 * APIC ID. Prints "smp: N/M cpus online" and the APIC IDs; PASS when all came up.
 */
#include "runtime.h"

#define VEC_AP_ONLINE 0x41 /* IPI from an AP to the BSP: "I am up" */
#define VEC_TICK 0x42      /* LAPIC timer, 10 ms: the timeout clock */
#define TICK_COUNT 625000  /* 10 ms at 1 GHz / 16 */

static uint32_t madt_ids[SMP_MAX_CPUS];
static volatile uint32_t online_ids[SMP_MAX_CPUS]; /* [0] is the BSP */
static volatile uint32_t next_index = 1;           /* taken with lock xadd */
static volatile uint32_t reported;                 /* APs whose ID is stored */
static volatile uint32_t bsp_id;
static volatile uint32_t ticks;

static void ap_main(unsigned slot) {
  (void)slot;
  lapic_enable();
  uint32_t id = lapic_id();
  uint32_t i = atomic_fetch_inc(&next_index);
  if (i < SMP_MAX_CPUS) online_ids[i] = id;
  atomic_fetch_inc(&reported);
  lapic_send_ipi(bsp_id, VEC_AP_ONLINE);
  /* returning halts this CPU with interrupts off */
}

static void on_ap_online(struct trap_frame* f) {
  (void)f;
  lapic_eoi();
}

static void on_tick(struct trap_frame* f) {
  (void)f;
  ticks++;
  lapic_eoi();
}

int guest_main(const struct hvm_start_info* si) {
  printf("smp: guest (INIT-SIPI-SIPI)\n");
  int madt = acpi_madt_cpus(madt_ids, SMP_MAX_CPUS);
  uint64_t arg = cmdline_u64("cpus", 0);
  uint32_t expected;
  if (madt < 0) {
    printf("smp: no ACPI MADT (rsdp_paddr %#lx), using cpus=%lu\n", si->rsdp_paddr, arg);
    GUEST_CHECK(arg > 0, "no ACPI MADT and no cpus=N on the command line");
    expected = (uint32_t)arg;
  } else {
    printf("smp: ACPI MADT lists %d enabled cpus\n", madt);
    GUEST_CHECK(madt > 0, "the MADT lists no enabled processor");
    GUEST_CHECK(!arg || arg == (uint64_t)madt, "the MADT lists %d cpus but cpus=%lu", madt,
                arg);
    expected = (uint32_t)madt;
  }
  GUEST_CHECK(expected <= SMP_MAX_CPUS, "%u cpus: at most %d supported", expected,
              SMP_MAX_CPUS);
  uint64_t timeout_ticks = (cmdline_u64("timeout_ms", 5000) + 9) / 10;

  bsp_id = lapic_id();
  online_ids[0] = bsp_id;
  if (madt > 0) {
    bool listed = false;
    for (int i = 0; i < madt; i++) listed |= madt_ids[i] == bsp_id;
    GUEST_CHECK(listed, "the BSP's APIC ID %u is not in the MADT", bsp_id);
  }

  trap_set_handler(VEC_AP_ONLINE, on_ap_online);
  trap_set_handler(VEC_TICK, on_tick);
  lapic_enable();
  lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
  lapic_write(LAPIC_LVT_TIMER, VEC_TICK | LAPIC_TIMER_PERIODIC);
  lapic_write(LAPIC_TIMER_INIT, TICK_COUNT);

  uint64_t t0 = rdtsc();
  if (expected > 1) {
    smp_prepare(ap_main);
    if (madt > 0) {
      for (int i = 0; i < madt; i++)
        if (madt_ids[i] != bsp_id) smp_start_ap(madt_ids[i]);
    } else {
      smp_start_ap(ICR_ALL_BUT_SELF);
    }
  }
  while (READ_ONCE(reported) < expected - 1 && ticks < timeout_ticks) {
    sti_hlt();
    cli();
  }
  uint64_t cycles = rdtsc() - t0;
  lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
  lapic_write(LAPIC_TIMER_INIT, 0);

  uint32_t online = 1 + READ_ONCE(reported);
  if (online > SMP_MAX_CPUS) online = SMP_MAX_CPUS;
  /* Sort the IDs (insertion sort, at most SMP_MAX_CPUS) for a stable line. */
  uint32_t ids[SMP_MAX_CPUS];
  for (uint32_t i = 0; i < online; i++) {
    uint32_t v = online_ids[i], j = i;
    for (; j > 0 && ids[j - 1] > v; j--) ids[j] = ids[j - 1];
    ids[j] = v;
  }
  printf("smp: %u/%u cpus online (%lu TSC cycles)\n", online, expected, cycles);
  printf("smp: apic ids:");
  for (uint32_t i = 0; i < online; i++) printf(" %u", ids[i]);
  printf("\n");

  GUEST_CHECK(online == expected, "only %u of %u cpus came online", online, expected);
  for (uint32_t i = 1; i < online; i++)
    GUEST_CHECK(ids[i] != ids[i - 1], "APIC ID %u reported twice", ids[i]);
  if (madt > 0) {
    for (uint32_t i = 0; i < online; i++) {
      bool listed = false;
      for (int k = 0; k < madt; k++) listed |= madt_ids[k] == ids[i];
      GUEST_CHECK(listed, "APIC ID %u is not in the MADT", ids[i]);
    }
  }
  guest_pass();
}
