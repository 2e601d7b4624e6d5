// Differential tests: the same instruction executed by the host CPU (inline assembly, at
// CPL 3) and by the assist, over many operand values and sizes; faults are compared too
// (trap number, error code and fault address from the SIGSEGV context).
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "arch/x86/emulator/assist.h"
#include "fake_phys_memory.h"

namespace vireo::arch::x86::emu {
namespace {

using namespace testing;
using Bytes = std::vector<uint8_t>;

// ---- host features ----

struct HostCpu {
  bool popcnt = false, lzcnt = false, bmi1 = false, cx16 = false, osxsave = false,
       xgetbv1 = false;
  HostCpu() {
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
      popcnt = c & (1u << 23);
      cx16 = c & (1u << 13);
      osxsave = c & (1u << 27);
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) bmi1 = b & (1u << 3);
    if (__get_cpuid(0x80000001, &a, &b, &c, &d)) lzcnt = c & (1u << 5);
    if (__get_cpuid_count(0xd, 1, &a, &b, &c, &d)) xgetbv1 = a & (1u << 2);
  }
};
const HostCpu& host() {
  static const HostCpu h;
  return h;
}

// ---- native execution ----

struct NativeOut {
  uint64_t dst;
  uint64_t flags;
};

// Sets the arithmetic flags to `fin`, runs the instruction, reads RFLAGS. The stack
// pointer is moved below the red zone around the pushes.
#define VIREO_FLAGS_PRE                       \
  "sub $128, %%rsp\n\t"                       \
  "pushfq\n\t"                                \
  "andq %[clr], (%%rsp)\n\t"                  \
  "orq %[fin], (%%rsp)\n\t"                   \
  "popfq\n\t"
#define VIREO_FLAGS_POST \
  "\n\tpushfq\n\t"       \
  "popq %[fl]\n\t"       \
  "add $128, %%rsp"
#define VIREO_NATIVE_BITOP(fn, mnem)                                                          \
  __attribute__((target("popcnt,lzcnt,bmi,cx16"))) NativeOut fn(unsigned size, uint64_t dst, \
                                                               uint64_t src, uint64_t fin) { \
    uint64_t fl;                                                                              \
    switch (size) {                                                                           \
      case 2:                                                                                 \
        asm volatile(VIREO_FLAGS_PRE mnem "w %w[s], %w[d]" VIREO_FLAGS_POST                  \
                     : [d] "+r"(dst), [fl] "=&r"(fl)                                          \
                     : [s] "r"(src), [fin] "r"(fin), [clr] "e"(~static_cast<int64_t>(0x8d5)) \
                     : "cc", "memory");                                                       \
        break;                                                                                \
      case 4:                                                                                 \
        asm volatile(VIREO_FLAGS_PRE mnem "l %k[s], %k[d]" VIREO_FLAGS_POST                  \
                     : [d] "+r"(dst), [fl] "=&r"(fl)                                          \
                     : [s] "r"(src), [fin] "r"(fin), [clr] "e"(~static_cast<int64_t>(0x8d5)) \
                     : "cc", "memory");                                                       \
        break;                                                                                \
      default:                                                                                \
        asm volatile(VIREO_FLAGS_PRE mnem "q %q[s], %q[d]" VIREO_FLAGS_POST                  \
                     : [d] "+r"(dst), [fl] "=&r"(fl)                                          \
                     : [s] "r"(src), [fin] "r"(fin), [clr] "e"(~static_cast<int64_t>(0x8d5)) \
                     : "cc", "memory");                                                       \
    }                                                                                         \
    return {dst, fl};                                                                         \
  }

VIREO_NATIVE_BITOP(native_popcnt, "popcnt")
VIREO_NATIVE_BITOP(native_lzcnt, "lzcnt")
VIREO_NATIVE_BITOP(native_tzcnt, "tzcnt")
VIREO_NATIVE_BITOP(native_bsf, "bsf")
VIREO_NATIVE_BITOP(native_bsr, "bsr")

__attribute__((target("cx16"))) bool native_cmpxchg16b(void* m, uint64_t& rax, uint64_t& rdx,
                                                       uint64_t rbx, uint64_t rcx) {
  bool zf;
  asm volatile("lock cmpxchg16b %[m]"
               : [m] "+m"(*static_cast<unsigned __int128*>(m)), "+a"(rax), "+d"(rdx),
                 "=@ccz"(zf)
               : "b"(rbx), "c"(rcx)
               : "memory");
  return zf;
}

bool native_cmpxchg8b(void* m, uint64_t& rax, uint64_t& rdx, uint64_t rbx, uint64_t rcx) {
  bool zf;
  asm volatile("lock cmpxchg8b %[m]"
               : [m] "+m"(*static_cast<uint64_t*>(m)), "+a"(rax), "+d"(rdx), "=@ccz"(zf)
               : "b"(rbx), "c"(rcx)
               : "memory");
  return zf;
}

uint64_t native_xgetbv(uint32_t ecx) {
  uint32_t eax, edx;
  asm volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(ecx));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

// ---- native faults ----

struct NativeFault {
  bool faulted = false;
  int trapno = -1;
  uint64_t err = 0;
  uint64_t addr = 0;
};

sigjmp_buf g_jump;
volatile int g_trapno;
volatile uint64_t g_err, g_addr;

void on_fault(int, siginfo_t* si, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  g_trapno = static_cast<int>(uc->uc_mcontext.gregs[REG_TRAPNO]);
  g_err = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_ERR]);
  g_addr = reinterpret_cast<uint64_t>(si->si_addr);
  siglongjmp(g_jump, 1);
}

template <class F>
NativeFault native_fault(F run) {
  struct sigaction sa {}, old_segv{}, old_bus{};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  NativeFault f;
  if (sigsetjmp(g_jump, 1) == 0) {
    run();
  } else {
    f = NativeFault{true, g_trapno, g_err, g_addr};
  }
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  return f;
}

// ---- the emulated side ----

constexpr uint64_t kTables = 0x100000;
constexpr uint64_t kFrames = 0x200000;
// Guest layout mirroring the native mapping: +0 and +0x1000 read/write, +0x2000 not
// present, +0x3000 read-only; all user pages.
constexpr uint64_t kVa = 0x7f00'0000'0000;

class NativeDiff : public ::testing::Test {
 protected:
  NativeDiff() : pt(mem, PagingMode::k4Level, kTables) {
    mem.add_ram(kFrames, 0x10000);
    pt.map(kVa, kFrames + 0x5000, 4096, kP | kRW | kUS);
    pt.map(kVa + 0x1000, kFrames + 0x2000, 4096, kP | kRW | kUS);
    pt.map(kVa + 0x3000, kFrames + 0x7000, 4096, kP | kUS);
    sregs = long_mode_sregs(pt.cr3());
    features = CpuFeatures::host();
  }
  void set_cpl3() {
    sregs.cs.dpl = 3;
    sregs.ss.dpl = 3;
  }
  uint64_t pa(uint64_t off) {
    if (off < 0x1000) return kFrames + 0x5000 + off;
    if (off < 0x2000) return kFrames + 0x2000 + off - 0x1000;
    return kFrames + 0x7000 + off - 0x3000;
  }
  AssistResult run(const Bytes& b, Regs& regs) {
    return assist_bytes(b, regs, sregs, mem, features);
  }

  FakePhysMemory mem;
  PageTables pt;
  SystemRegs sregs;
  CpuFeatures features;
};

std::vector<uint64_t> operand_values() {
  std::vector<uint64_t> v{0, 1, ~0ull, 0x8000'0000'0000'0000ull, 0x7fff'ffff'ffff'ffffull,
                          0xffff, 0x8000, 0xffff'ffff, 0x8000'0000, 0x1'0000, 0x1'0000'0000,
                          0x00ff'00ff'00ff'00ffull, 0xaaaa'aaaa'aaaa'aaaaull};
  for (int i = 0; i < 64; ++i) {
    v.push_back(1ull << i);
    v.push_back(~(1ull << i));
  }
  std::mt19937_64 rng(2024);
  for (int i = 0; i < 300; ++i) {
    uint64_t r = rng();
    switch (i % 4) {
      case 0: v.push_back(r); break;
      case 1: v.push_back(r & rng() & rng()); break;  // sparse
      case 2: v.push_back(r >> (rng() % 64)); break;  // leading zeros
      default: v.push_back(r << (rng() % 64)); break; // trailing zeros
    }
  }
  return v;
}

Bytes encode(uint8_t opcode, bool f3, unsigned size, uint8_t modrm) {
  Bytes b;
  if (size == 2) b.push_back(0x66);
  if (f3) b.push_back(0xf3);
  if (size == 8) b.push_back(0x48);
  b.insert(b.end(), {0x0f, opcode, modrm});
  return b;
}

struct BitOp {
  const char* name;
  NativeOut (*native)(unsigned, uint64_t, uint64_t, uint64_t);
  uint8_t opcode;
  bool f3;
  uint64_t defined_flags;
  bool bit_scan;  // BSF/BSR: destination undefined for a zero source
  bool HostCpu::*needs;
};

const BitOp kBitOps[] = {
    {"popcnt", native_popcnt, 0xb8, true, kArithFlags, false, &HostCpu::popcnt},
    {"lzcnt", native_lzcnt, 0xbd, true, kFlagCf | kFlagZf, false, &HostCpu::lzcnt},
    {"tzcnt", native_tzcnt, 0xbc, true, kFlagCf | kFlagZf, false, &HostCpu::bmi1},
    {"bsf", native_bsf, 0xbc, false, kFlagZf, true, nullptr},
    {"bsr", native_bsr, 0xbd, false, kFlagZf, true, nullptr},
};

void PrintTo(const BitOp& op, std::ostream* os) { *os << op.name; }

class NativeBitOps : public NativeDiff, public ::testing::WithParamInterface<BitOp> {};

TEST_P(NativeBitOps, RegisterAndPageCrossingMemoryOperands) {
  const BitOp& op = GetParam();
  if (op.needs && !(host().*op.needs)) GTEST_SKIP() << "host CPU lacks " << op.name;
  std::mt19937_64 rng(7);
  int compared = 0;
  for (unsigned size : {2u, 4u, 8u}) {
    for (uint64_t value : operand_values()) {
      for (uint64_t flags_in : {uint64_t{0}, kArithFlags}) {
        const uint64_t dst0 = rng();
        const NativeOut want = op.native(size, dst0, value, flags_in);
        // The destination is undefined for BSF/BSR with a zero source; both vendors keep
        // its low bits, Intel clears bits 63:32 for a 32-bit operand.
        uint64_t dst_mask = ~0ull;
        if (op.bit_scan && (value & 0xffffffff) == 0 && size == 4) dst_mask = 0xffffffff;

        // Register form: op rax, rcx.
        Regs regs;
        regs.rip = 0x400000;
        regs.rflags = 0x2 | flags_in;
        regs.gpr[kRax] = dst0;
        regs.gpr[kRcx] = value;
        auto r = run(encode(op.opcode, op.f3, size, 0xc1), regs);
        ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
        EXPECT_EQ(regs.gpr[kRax] & dst_mask, want.dst & dst_mask)
            << op.name << " size " << size << " value " << std::hex << value;
        EXPECT_EQ(regs.rflags & op.defined_flags, want.flags & op.defined_flags)
            << op.name << " size " << size << " value " << std::hex << value;

        // Memory form: op rax, [rsi] with the operand split across two guest pages.
        const uint64_t off = 0x1000 - size / 2;
        uint8_t bytes[8];
        std::memcpy(bytes, &value, 8);
        for (unsigned i = 0; i < size; ++i) mem.set_bytes(pa(off + i), &bytes[i], 1);
        Regs mregs;
        mregs.rip = 0x400000;
        mregs.rflags = 0x2 | flags_in;
        mregs.gpr[kRax] = dst0;
        mregs.gpr[kRsi] = kVa + off;
        auto m = run(encode(op.opcode, op.f3, size, 0x06), mregs);
        ASSERT_TRUE(std::holds_alternative<Completed>(m)) << to_string(m);
        EXPECT_EQ(mregs.gpr[kRax] & dst_mask, want.dst & dst_mask);
        EXPECT_EQ(mregs.rflags & op.defined_flags, want.flags & op.defined_flags);
        ++compared;
      }
    }
  }
  EXPECT_GT(compared, 2000);
}

INSTANTIATE_TEST_SUITE_P(Host, NativeBitOps, ::testing::ValuesIn(kBitOps),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- CMPXCHG16B / CMPXCHG8B ----

TEST_F(NativeDiff, Cmpxchg16b) {
  if (!host().cx16) GTEST_SKIP() << "host CPU lacks CMPXCHG16B";
  std::mt19937_64 rng(16);
  const uint64_t off = 0x1f0;
  for (int i = 0; i < 500; ++i) {
    alignas(16) uint64_t m[2] = {rng(), rng()};
    uint64_t rax = m[0], rdx = m[1];
    switch (i % 4) {  // equal, low differs, high differs, both differ
      case 1: rax ^= 1ull << (rng() % 64); break;
      case 2: rdx ^= 1ull << (rng() % 64); break;
      case 3: rax = rng(); rdx = rng(); break;
      default: break;
    }
    const uint64_t rbx = rng(), rcx = rng();
    mem.set_u64(pa(off), m[0]);
    mem.set_u64(pa(off + 8), m[1]);
    Regs regs;
    regs.rip = 0x400000;
    regs.rflags = 0x2 | (rng() & kArithFlags);
    regs.gpr[kRax] = rax;
    regs.gpr[kRdx] = rdx;
    regs.gpr[kRbx] = rbx;
    regs.gpr[kRcx] = rcx;
    regs.gpr[kRdi] = kVa + off;
    const uint64_t flags_before = regs.rflags;

    uint64_t nrax = rax, nrdx = rdx;
    const bool zf = native_cmpxchg16b(m, nrax, nrdx, rbx, rcx);

    auto r = run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, regs);
    ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
    EXPECT_EQ((regs.rflags & kFlagZf) != 0, zf);
    EXPECT_EQ(regs.rflags & ~kFlagZf, flags_before & ~kFlagZf);  // other flags unchanged
    EXPECT_EQ(regs.gpr[kRax], nrax);
    EXPECT_EQ(regs.gpr[kRdx], nrdx);
    EXPECT_EQ(mem.u64(pa(off)), m[0]);
    EXPECT_EQ(mem.u64(pa(off + 8)), m[1]);
  }
}

TEST_F(NativeDiff, Cmpxchg8bIn64BitModeIncludingUpperRegisterHalves) {
  std::mt19937_64 rng(8);
  for (int i = 0; i < 500; ++i) {
    // Offsets: aligned, misaligned within a 16-byte block, split across blocks and pages.
    static constexpr uint64_t kOffsets[] = {0x100, 0x104, 0x10c, 0xffc};
    const uint64_t off = kOffsets[i % 4];
    alignas(16) uint8_t buf[32] = {};
    uint8_t* native_m = buf + (off % 16);
    uint64_t value = rng();
    std::memcpy(native_m, &value, 8);
    uint64_t rax = (rng() << 32) | (value & 0xffffffff);
    uint64_t rdx = (rng() << 32) | (value >> 32);
    if (i % 3 == 1) rax ^= 1ull << (rng() % 32);
    if (i % 3 == 2) rdx ^= 1ull << (rng() % 32);
    const uint64_t rbx = rng(), rcx = rng();
    for (int b = 0; b < 8; ++b) mem.set_bytes(pa(off + b), native_m + b, 1);
    Regs regs;
    regs.rip = 0x400000;
    regs.gpr[kRax] = rax;
    regs.gpr[kRdx] = rdx;
    regs.gpr[kRbx] = rbx;
    regs.gpr[kRcx] = rcx;
    regs.gpr[kRsi] = kVa + off;

    uint64_t nrax = rax, nrdx = rdx;
    const bool zf = native_cmpxchg8b(native_m, nrax, nrdx, rbx, rcx);

    auto r = run({0xf0, 0x0f, 0xc7, 0x0e}, regs);
    ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
    EXPECT_EQ((regs.rflags & kFlagZf) != 0, zf);
    EXPECT_EQ(regs.gpr[kRax], nrax) << i;
    EXPECT_EQ(regs.gpr[kRdx], nrdx) << i;
    uint64_t emulated = 0, native = 0;
    for (int b = 0; b < 8; ++b) mem.get_bytes(pa(off + b), reinterpret_cast<uint8_t*>(&emulated) + b, 1);
    std::memcpy(&native, native_m, 8);
    EXPECT_EQ(emulated, native);
  }
}

// ---- XGETBV ----

TEST_F(NativeDiff, Xgetbv) {
  if (!host().osxsave) GTEST_SKIP() << "host OS has not enabled XSAVE (CR4.OSXSAVE)";
  const uint64_t xcr0 = native_xgetbv(0);
  sregs.cr4 |= kCr4Osxsave;
  sregs.xcr0 = xcr0;
  Regs regs;
  regs.gpr[kRcx] = 0;
  regs.gpr[kRax] = regs.gpr[kRdx] = ~0ull;
  auto r = run({0x0f, 0x01, 0xd0}, regs);
  ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
  uint64_t nrax = 0, nrdx = 0;
  {
    uint64_t a = ~0ull, d = ~0ull;
    asm volatile("xgetbv" : "+a"(a), "+d"(d) : "c"(0));
    nrax = a;
    nrdx = d;
  }
  EXPECT_EQ(regs.gpr[kRax], nrax);
  EXPECT_EQ(regs.gpr[kRdx], nrdx);
  if (host().xgetbv1) {
    // XINUSE: the assist reports every enabled component, a superset of the CPU's answer.
    const uint64_t inuse = native_xgetbv(1);
    regs.gpr[kRcx] = 1;
    ASSERT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0x01, 0xd0}, regs)));
    const uint64_t ours = (regs.gpr[kRdx] << 32) | regs.gpr[kRax];
    EXPECT_EQ(ours & inuse, inuse);
    EXPECT_EQ(ours & ~xcr0, 0u);
  }
}

// ---- faults: host CPU vs assist at CPL 3 ----

class NativeFaults : public NativeDiff {
 protected:
  NativeFaults() {
    base_ = static_cast<uint8_t*>(
        mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::memset(base_, 0, 2 * 4096);
    mprotect(base_ + 2 * 4096, 4096, PROT_NONE);
    volatile uint8_t touch = base_[3 * 4096];  // map the read-only page before protecting it
    (void)touch;
    mprotect(base_ + 3 * 4096, 4096, PROT_READ);
    set_cpl3();
  }
  ~NativeFaults() override { munmap(base_, 4 * 4096); }

  // Compares the native fault with the assist's exception for the same offset.
  void expect_same_fault(const NativeFault& n, const AssistResult& r) {
    ASSERT_TRUE(n.faulted) << "the host CPU did not fault";
    ASSERT_TRUE(std::holds_alternative<InjectException>(r)) << to_string(r);
    const auto& e = std::get<InjectException>(r);
    EXPECT_EQ(e.vector, n.trapno);
    EXPECT_EQ(e.error_code.value_or(~0u), n.err);
    if (n.trapno == kVectorPf) {
      ASSERT_TRUE(e.cr2.has_value());
      EXPECT_EQ(*e.cr2 - kVa, n.addr - reinterpret_cast<uint64_t>(base_));
    }
  }

  uint8_t* base_;
};

TEST_F(NativeFaults, ReadSplitIntoNotPresentPage) {
  if (!host().popcnt) GTEST_SKIP();
  const uint64_t off = 0x2000 - 4;
  auto n = native_fault([&] {
    uint64_t dst = 0;
    asm volatile("popcntq (%[p]), %[d]" : [d] "=r"(dst) : [p] "r"(base_ + off) : "cc", "memory");
  });
  Regs regs;
  regs.gpr[kRsi] = kVa + off;
  expect_same_fault(n, run({0xf3, 0x48, 0x0f, 0xb8, 0x06}, regs));
}

TEST_F(NativeFaults, UnalignedCmpxchg16bIsGp0) {
  if (!host().cx16) GTEST_SKIP();
  const uint64_t off = 0x108;
  auto n = native_fault([&] {
    uint64_t a = 0, d = 0;
    native_cmpxchg16b(base_ + off, a, d, 1, 2);
  });
  Regs regs;
  regs.gpr[kRdi] = kVa + off;
  expect_same_fault(n, run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, regs));
}

TEST_F(NativeFaults, Cmpxchg16bOnReadOnlyPageFaultsEvenWhenTheCompareFails) {
  if (!host().cx16) GTEST_SKIP();
  const uint64_t off = 0x3010;
  auto n = native_fault([&] {
    uint64_t a = 0x1234, d = 0x5678;  // memory holds zeros: the compare fails
    native_cmpxchg16b(base_ + off, a, d, 1, 2);
  });
  Regs regs;
  regs.gpr[kRax] = 0x1234;
  regs.gpr[kRdx] = 0x5678;
  regs.gpr[kRdi] = kVa + off;
  expect_same_fault(n, run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, regs));
}

TEST_F(NativeFaults, Cmpxchg8bSplitIntoNotPresentPage) {
  const uint64_t off = 0x2000 - 4;
  auto n = native_fault([&] {
    uint64_t a = 0, d = 0;
    native_cmpxchg8b(base_ + off, a, d, 1, 2);
  });
  Regs regs;
  regs.gpr[kRsi] = kVa + off;
  const Regs before = regs;
  expect_same_fault(n, run({0xf0, 0x0f, 0xc7, 0x0e}, regs));
  EXPECT_EQ(regs.rip, before.rip);
  EXPECT_EQ(mem.u32(pa(0x2000 - 4)), 0u);  // nothing written to the first page
}

TEST_F(NativeFaults, PopcntFromReadOnlyPageDoesNotFault) {
  if (!host().popcnt) GTEST_SKIP();
  const uint64_t off = 0x3008;
  auto n = native_fault([&] {
    uint64_t dst = 0;
    asm volatile("popcntq (%[p]), %[d]" : [d] "=r"(dst) : [p] "r"(base_ + off) : "cc", "memory");
  });
  EXPECT_FALSE(n.faulted);
  Regs regs;
  regs.gpr[kRsi] = kVa + off;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf3, 0x48, 0x0f, 0xb8, 0x06}, regs)));
}

}  // namespace
}  // namespace vireo::arch::x86::emu
