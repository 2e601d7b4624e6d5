/*
 * Assisted instructions in ring 0: runs, at CPL 0, instructions that hosts without VT-x
 * reject (vireo completes them, see src/arch/x86/emulator/) and checks their
 * architectural results exactly as on a real CPU: POPCNT, LZCNT, TZCNT, INT3, INT n,
 * FWAIT, XGETBV, LDMXCSR/STMXCSR (with the #GP for a reserved bit), CMPXCHG16B (both
 * outcomes), CLAC/STAC (if the CPU has SMAP), and a single-step trap (RFLAGS.TF) taken
 * right after an assisted POPCNT. Prints one line per check and PASS.
 *
 * Command line: mxcsr_gp=skip leaves out the #GP check of LDMXCSR with a reserved bit,
 * for CPUs that do not raise it (QEMU 7.2's TCG, which the KVM sandbox runs on).
 *
 * This is the one guest allowed to contain those instructions in ring-0 code
 * (check_insns.sh --allow-assisted).
 */
#include "runtime.h"

#define X86_CR4_OSFXSR (1ul << 9)
#define X86_CR4_OSXSAVE (1ul << 18)
#define X86_RFLAGS_TF (1ul << 8)
#define X86_RFLAGS_AC (1ul << 18)
#define X86_RFLAGS_ZF (1ul << 6)
#define DR6_BS (1ul << 14)
#define SOFT_VECTOR 0x81

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline uint64_t read_cr4(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr4, %0" : "=r"(v));
  return v;
}
static inline void write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }
static inline uint64_t read_flags(void) {
  uint64_t f;
  __asm__ volatile("pushfq; popq %0" : "=r"(f));
  return f;
}

static unsigned soft_popcount(uint64_t v) {
  unsigned n = 0;
  for (; v; v &= v - 1) n++;
  return n;
}

/* Trap bookkeeping: the handlers record what they saw. */
static volatile struct {
  uint64_t vector, rip, dr6, error;
  unsigned count;
} seen;

static void on_trap(struct trap_frame* f) {
  seen.vector = f->vector;
  seen.rip = f->rip;
  seen.error = f->error;
  seen.count++;
  if (f->vector == 1) {
    uint64_t dr6;
    __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
    seen.dr6 = dr6;
    __asm__ volatile("mov %0, %%dr6" ::"r"(0xffff0ff0ul));
    f->rflags &= ~X86_RFLAGS_TF;
  }
}

volatile uint64_t after_rip, fault_rip, resume_rip;
static void on_gp(struct trap_frame* f) {
  seen.vector = f->vector;
  seen.rip = f->rip;
  seen.error = f->error;
  seen.count++;
  f->rip = resume_rip;
}

static void test_bitcount(uint32_t ecx1, uint32_t ebx7) {
  static const uint64_t values[] = {1, 0x8000000000000000ul, 0xf0f0f0f00f0f0f0ful, ~0ul,
                                    0x0000100000000000ul, 0};
  for (unsigned i = 0; i < sizeof values / sizeof values[0]; i++) {
    uint64_t v = values[i], r, flags;
    if (ecx1 & (1u << 23)) {
      __asm__ volatile("popcnt %2, %0; pushfq; popq %1" : "=r"(r), "=r"(flags) : "rm"(v) : "cc");
      GUEST_CHECK(r == soft_popcount(v), "popcnt(%#lx) = %lu", v, r);
      GUEST_CHECK(!!(flags & X86_RFLAGS_ZF) == (v == 0), "popcnt(%#lx): ZF wrong", v);
    }
    /* BMI1: TZCNT. Not with a zero source: this host's emulator runs TZCNT as BSF
     * (which leaves the destination unchanged) without an exit, see README.md. */
    if ((ebx7 & (1u << 3)) && v) {
      __asm__ volatile("tzcnt %1, %0" : "=r"(r) : "rm"(v) : "cc");
      uint64_t want = 64;
      for (unsigned b = 0; b < 64; b++)
        if (v & (1ul << b)) { want = b; break; }
      GUEST_CHECK(r == want, "tzcnt(%#lx) = %lu, want %lu", v, r, want);
    }
  }
  uint32_t e[4];
  cpuid(0x80000001, 0, e);
  if (e[2] & (1u << 5)) {
    uint64_t r;
    __asm__ volatile("lzcnt %1, %0" : "=r"(r) : "rm"(0x0000100000000000ul) : "cc");
    GUEST_CHECK(r == 19, "lzcnt = %lu, want 19", r);
    __asm__ volatile("lzcnt %1, %0" : "=r"(r) : "rm"(0ul) : "cc");
    GUEST_CHECK(r == 64, "lzcnt(0) = %lu, want 64", r);
  }
  printf("assist: popcnt/tzcnt/lzcnt ok\n");
}

static void test_soft_interrupts(void) {
  trap_set_handler(3, on_trap);
  trap_set_handler(SOFT_VECTOR, on_trap);
  unsigned n = seen.count;
  __asm__ volatile("int3\n1: leaq 1b(%%rip), %%rax; movq %%rax, after_rip(%%rip)" ::: "rax", "memory");
  GUEST_CHECK(seen.count == n + 1 && seen.vector == 3, "int3: vector %lu, count %u", seen.vector,
              seen.count - n);
  GUEST_CHECK(seen.rip == after_rip, "int3: return rip %#lx, want %#lx", seen.rip, after_rip);
  __asm__ volatile("int $0x81\n1: leaq 1b(%%rip), %%rax; movq %%rax, after_rip(%%rip)" ::: "rax", "memory");
  GUEST_CHECK(seen.count == n + 2 && seen.vector == SOFT_VECTOR, "int $0x81: vector %lu",
              seen.vector);
  GUEST_CHECK(seen.rip == after_rip, "int $0x81: return rip %#lx, want %#lx", seen.rip, after_rip);
  __asm__ volatile("fwait" ::: "memory");
  printf("assist: int3, int $0x81, fwait ok\n");
}

static void test_xgetbv_and_mxcsr(uint32_t ecx1) {
  if (ecx1 & (1u << 26)) { /* XSAVE */
    write_cr4(read_cr4() | X86_CR4_OSXSAVE);
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    GUEST_CHECK((lo & 1) && !(lo & ~7u) , "xgetbv(0) = %#x:%#x (x87 only expected)", hi, lo);
    write_cr4(read_cr4() & ~X86_CR4_OSXSAVE);
  }
  write_cr4(read_cr4() | X86_CR4_OSFXSR);
  uint32_t in = 0x1f80 | 0x8000 /* FTZ */ | 0x3 /* IE, DE flags */, out = 0;
  __asm__ volatile("ldmxcsr %0" ::"m"(in));
  __asm__ volatile("stmxcsr %0" : "=m"(out));
  GUEST_CHECK(out == in, "stmxcsr after ldmxcsr %#x gives %#x", in, out);
  if (cmdline_is("mxcsr_gp", "skip")) {
    printf("assist: xgetbv, ldmxcsr/stmxcsr ok (reserved-bit #GP not checked: mxcsr_gp=skip)\n");
    return;
  }
  /* A reserved bit (31) is #GP(0), and MXCSR keeps its value. */
  trap_set_handler(13, on_gp);
  unsigned n = seen.count;
  uint32_t bad = 0x80001f80;
  __asm__ volatile("leaq 2f(%%rip), %%rax; movq %%rax, fault_rip(%%rip)\n\t"
                   "leaq 1f(%%rip), %%rax; movq %%rax, resume_rip(%%rip)\n"
                   "2: ldmxcsr %0\n1:" ::"m"(bad) : "rax", "memory");
  GUEST_CHECK(seen.count == n + 1 && seen.vector == 13 && seen.error == 0,
              "ldmxcsr reserved bit: vector %lu error %#lx", seen.vector, seen.error);
  GUEST_CHECK(seen.rip == fault_rip, "ldmxcsr #GP at %#lx, want %#lx", seen.rip, fault_rip);
  __asm__ volatile("stmxcsr %0" : "=m"(out));
  GUEST_CHECK(out == in, "MXCSR changed by a faulting ldmxcsr: %#x", out);
  uint32_t dflt = 0x1f80;
  __asm__ volatile("ldmxcsr %0" ::"m"(dflt));
  trap_set_handler(13, 0);
  printf("assist: xgetbv, ldmxcsr/stmxcsr (and #GP) ok\n");
}

static void test_cmpxchg16b(uint32_t ecx1) {
  if (!(ecx1 & (1u << 13))) return;
  static volatile uint64_t slot[2] __attribute__((aligned(16))) = {1, 2};
  uint64_t lo = 1, hi = 2;
  uint8_t ok;
  __asm__ volatile("lock cmpxchg16b %1; sete %0"
                   : "=q"(ok), "+m"(slot[0]), "+a"(lo), "+d"(hi)
                   : "b"(0x11ul), "c"(0x22ul) : "memory", "cc");
  GUEST_CHECK(ok && slot[0] == 0x11 && slot[1] == 0x22, "cmpxchg16b (match) failed");
  lo = 5, hi = 6;
  __asm__ volatile("lock cmpxchg16b %1; sete %0"
                   : "=q"(ok), "+m"(slot[0]), "+a"(lo), "+d"(hi)
                   : "b"(0x33ul), "c"(0x44ul) : "memory", "cc");
  GUEST_CHECK(!ok && lo == 0x11 && hi == 0x22 && slot[0] == 0x11,
              "cmpxchg16b (mismatch): rdx:rax %#lx:%#lx", hi, lo);
  printf("assist: cmpxchg16b ok\n");
}

static void test_smap(uint32_t ebx7) {
  if (!(ebx7 & (1u << 20))) return;
  __asm__ volatile("stac" ::: "memory", "cc");
  GUEST_CHECK(read_flags() & X86_RFLAGS_AC, "stac: AC clear");
  __asm__ volatile("clac" ::: "memory", "cc");
  GUEST_CHECK(!(read_flags() & X86_RFLAGS_AC), "clac: AC set");
  printf("assist: clac/stac ok\n");
}

/* TF set by popf traps after the instruction that follows: here an assisted POPCNT. */
static void test_single_step(uint32_t ecx1) {
  if (!(ecx1 & (1u << 23))) return;
  trap_set_handler(1, on_trap);
  unsigned n = seen.count;
  uint64_t r;
  __asm__ volatile("pushfq; orq $0x100, (%%rsp); popfq\n\t"
                   "popcnt %2, %0\n"
                   "1: nop\n\t"
                   "leaq 1b(%%rip), %%r11; movq %%r11, after_rip(%%rip)"
                   : "=&r"(r) : "0"(0ul), "r"(0xfful) : "r11", "memory", "cc");
  GUEST_CHECK(r == 8, "popcnt under TF = %lu", r);
  GUEST_CHECK(seen.count == n + 1 && seen.vector == 1,
              "single step: %u #DB (vector %lu), want 1", seen.count - n, seen.vector);
  GUEST_CHECK(seen.rip == after_rip, "single step: #DB at %#lx, want %#lx (after popcnt)",
              seen.rip, after_rip);
  GUEST_CHECK(seen.dr6 & DR6_BS, "single step: DR6 %#lx without BS", seen.dr6);
  GUEST_CHECK(!(read_flags() & X86_RFLAGS_TF), "TF still set");
  printf("assist: single-step trap after popcnt ok\n");
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("assist: guest (assisted instructions at CPL 0)\n");
  uint32_t l1[4], l7[4];
  cpuid(1, 0, l1);
  cpuid(7, 0, l7);
  test_bitcount(l1[2], l7[1]);
  test_soft_interrupts();
  test_xgetbv_and_mxcsr(l1[2]);
  test_cmpxchg16b(l1[2]);
  test_smap(l7[1]);
  test_single_step(l1[2]);
  guest_pass();
}
