/* The machine state a reset must put back. Each boot reports it, then dirties it and
 * resets the machine (i8042): under `vireo --on-reboot restart` every boot must report
 * the power-on values again.
 *   kvmclock   MSR_KVM_SYSTEM_TIME_NEW (0 at power-on; the guest points it at a page of
 *              its RAM, which KVM then keeps writing the time into: it must be off after
 *              a reset, or KVM writes into the next boot's memory)
 *   page       the first word of that page (0: RAM is cleared, and nobody writes it)
 *   pat        IA32_PAT (0x0007040600070406 at power-on)
 *   tsc_aux    TSC_AUX (0)
 *   tpr        the LAPIC's task priority (0)
 * "kvmclock=none" where the vCPU's CPUID has no KVM clock (nothing to check then). */
#include "runtime.h"

#define MSR_PAT 0x277
#define MSR_TSC_AUX 0xc0000103
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define CLOCK_PAGE 0x2000000UL /* 32 MiB: clear of the image, the stack and the tables */

static void cpuid(uint32_t leaf, uint32_t* a, uint32_t* b, uint32_t* c, uint32_t* d) {
  __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  uint32_t a, b, c, d;
  cpuid(0x40000000, &a, &b, &c, &d);
  int has_clock = 0;
  if (b == 0x4b4d564b && a >= 0x40000001) { /* "KVMK" */
    cpuid(0x40000001, &a, &b, &c, &d);
    has_clock = (a >> 3) & 1; /* KVM_FEATURE_CLOCKSOURCE2 */
  }
  cpuid(0x80000001, &a, &b, &c, &d);
  const int has_rdtscp = (d >> 27) & 1;
  volatile uint32_t* page = (volatile uint32_t*)CLOCK_PAGE;
  char clock[32];
  if (has_clock)
    snprintf(clock, sizeof(clock), "%llx", (unsigned long long)rdmsr(MSR_KVM_SYSTEM_TIME_NEW));
  else
    snprintf(clock, sizeof(clock), "none");
  printf("reset-state: kvmclock=%s page=%x pat=%llx tsc_aux=%llx tpr=%x\n", clock, *page,
         (unsigned long long)rdmsr(MSR_PAT),
         (unsigned long long)(has_rdtscp ? rdmsr(MSR_TSC_AUX) : 0), lapic_read(LAPIC_TPR));

  if (has_clock) wrmsr(MSR_KVM_SYSTEM_TIME_NEW, CLOCK_PAGE | 1);
  wrmsr(MSR_PAT, 0x0606060606060606ULL); /* every entry write-back: harmless here */
  if (has_rdtscp) wrmsr(MSR_TSC_AUX, 0x1234);
  lapic_write(LAPIC_TPR, 0x20);
  for (int i = 0; i < 100000 && has_clock && *page == 0; ++i) cpu_relax();
  printf("reset-state: dirtied (page=%x)\n", *page);
  outb(0x64, 0xfe);
  for (int i = 0; i < 1000; ++i) cpu_relax();
  printf("FAIL: reset-state: still running\n");
  return 1;
}
