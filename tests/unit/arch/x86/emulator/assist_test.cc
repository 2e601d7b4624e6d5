#include "arch/x86/emulator/assist.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "arch/x86/emulator/describe.h"
#include "fake_phys_memory.h"

namespace vireo::arch::x86::emu {
namespace {

using namespace testing;
using Bytes = std::vector<uint8_t>;

constexpr uint64_t kTables = 0x100000;
constexpr uint64_t kData = 0x200000;
constexpr uint64_t kVa = 0x40000000;  // kVa..+0x2000 mapped (not contiguous), +0x2000 absent
constexpr uint64_t kRip = 0xffffffff81000000;

class AssistTest : public ::testing::Test {
 protected:
  AssistTest() : pt(mem, PagingMode::k4Level, kTables) {
    mem.add_ram(kData, 0x10000);
    pt.map(kVa, kData + 0x4000, 4096, kP | kRW);
    pt.map(kVa + 0x1000, kData + 0x2000, 4096, kP | kRW);
    pt.map(kVa + 0x3000, kData + 0x6000, 4096, kP);  // read-only
    sregs = long_mode_sregs(pt.cr3());
    regs.rip = kRip;
    regs.rflags = 0x2;
  }

  AssistResult run(const Bytes& b) { return assist_bytes(b, regs, sregs, mem, features); }
  // Guest-physical address of kVa + off.
  static uint64_t pa(uint64_t off) {
    return off < 0x1000 ? kData + 0x4000 + off : kData + 0x2000 + (off - 0x1000);
  }

  FakePhysMemory mem;
  PageTables pt;
  SystemRegs sregs;
  Regs regs;
  CpuFeatures features;
};

template <class T>
const T& as(const AssistResult& r) {
  EXPECT_TRUE(std::holds_alternative<T>(r)) << to_string(r);
  static const T empty{};
  return std::holds_alternative<T>(r) ? std::get<T>(r) : empty;
}

void expect_exception(const AssistResult& r, const Exception& e) {
  ASSERT_TRUE(std::holds_alternative<InjectException>(r)) << to_string(r);
  EXPECT_EQ(std::get<InjectException>(r), e) << to_string(r);
}

// ---- software interrupts and exceptions ----

TEST_F(AssistTest, Int3InjectsSoftwareBreakpointPastTheInstruction) {
  regs.rflags |= kFlagRf;
  auto r = run({0xcc});
  EXPECT_EQ(as<InjectSoftware>(r), (InjectSoftware{kVectorBp, 1, SoftwareKind::kSoftException}));
  EXPECT_EQ(regs.rip, kRip + 1);
  EXPECT_FALSE(regs.rflags & kFlagRf);
}

TEST_F(AssistTest, IntNInjectsSoftwareInterrupt) {
  auto r = run({0xcd, 0x80});
  EXPECT_EQ(as<InjectSoftware>(r), (InjectSoftware{0x80, 2, SoftwareKind::kSoftInterrupt}));
  EXPECT_EQ(regs.rip, kRip + 2);
  // INT 3 spelled CD 03 is a software interrupt, not a software exception.
  regs.rip = kRip;
  EXPECT_EQ(as<InjectSoftware>(run({0xcd, 0x03})).kind, SoftwareKind::kSoftInterrupt);
}

TEST_F(AssistTest, Int1InjectsPrivilegedSoftwareException) {
  auto r = run({0xf1});
  EXPECT_EQ(as<InjectSoftware>(r),
            (InjectSoftware{kVectorDb, 1, SoftwareKind::kPrivilegedSoftException}));
  EXPECT_EQ(regs.rip, kRip + 1);
}

TEST_F(AssistTest, IntoIn32BitMode) {
  sregs = protected_mode_sregs(false);
  regs.rip = 0x1000;
  auto none = run({0xce});
  EXPECT_TRUE(std::holds_alternative<Completed>(none)) << to_string(none);
  EXPECT_EQ(regs.rip, 0x1001u);
  regs.rflags |= kFlagOf;
  auto of = run({0xce});
  EXPECT_EQ(as<InjectSoftware>(of), (InjectSoftware{kVectorOf, 1, SoftwareKind::kSoftException}));
  EXPECT_EQ(regs.rip, 0x1002u);
}

TEST_F(AssistTest, IntoIsUndefinedIn64BitMode) {
  regs.rflags |= kFlagOf;
  expect_exception(run({0xce}), make_ud());
  EXPECT_EQ(regs.rip, kRip);
}

TEST_F(AssistTest, IntNInVirtual8086ModeIsIoplSensitive) {
  sregs = protected_mode_sregs(false);
  regs.rflags = 0x2 | kFlagVm;
  regs.rip = 0x100;
  expect_exception(run({0xcd, 0x21}), (Exception{kVectorGp, 0u, std::nullopt}));
  EXPECT_EQ(regs.rip, 0x100u);
  EXPECT_TRUE(std::holds_alternative<InjectSoftware>(run({0xcc})));  // INT3 is not
  regs.rip = 0x100;
  regs.rflags |= kFlagIoplMask;
  EXPECT_EQ(as<InjectSoftware>(run({0xcd, 0x21})).vector, 0x21);
}

// ---- FWAIT, CLAC/STAC, XGETBV ----

TEST_F(AssistTest, FwaitIsANop) {
  regs.gpr[kRax] = 42;
  auto r = run({0x9b});
  EXPECT_TRUE(std::holds_alternative<Completed>(r));
  EXPECT_EQ(regs.rip, kRip + 1);
  EXPECT_EQ(regs.gpr[kRax], 42u);
  sregs.cr0 |= kCr0Ts;  // TS without MP: still nothing
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x9b})));
}

TEST_F(AssistTest, FwaitWithTsAndMpRaisesNm) {
  sregs.cr0 |= kCr0Ts | kCr0Mp;
  expect_exception(run({0x9b}), make_nm());
  EXPECT_EQ(regs.rip, kRip);
}

TEST_F(AssistTest, ClacStac) {
  regs.rflags |= kFlagAc;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0x01, 0xca})));
  EXPECT_FALSE(regs.rflags & kFlagAc);
  EXPECT_EQ(regs.rip, kRip + 3);
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0x01, 0xcb})));
  EXPECT_TRUE(regs.rflags & kFlagAc);
  EXPECT_EQ(regs.rip, kRip + 6);
  // CR4.SMAP does not matter, CPUID.SMAP does.
  EXPECT_FALSE(sregs.cr4 & kCr4Smap);
}

TEST_F(AssistTest, ClacStacFaults) {
  features.smap = false;
  expect_exception(run({0x0f, 0x01, 0xca}), make_ud());
  features.smap = true;
  expect_exception(run({0xf0, 0x0f, 0x01, 0xcb}), make_ud());  // LOCK
  sregs.ss.dpl = 3;                                             // CPL 3
  expect_exception(run({0x0f, 0x01, 0xcb}), make_ud());
  EXPECT_EQ(regs.rip, kRip);
  EXPECT_FALSE(regs.rflags & kFlagAc);
}

TEST_F(AssistTest, ErestuIsNotMistakenForClac) {
  auto r = run({0xf3, 0x0f, 0x01, 0xca});
  ASSERT_TRUE(std::holds_alternative<Unsupported>(r));
  EXPECT_NE(std::get<Unsupported>(r).reason.find("eretu"), std::string::npos);
}

TEST_F(AssistTest, Xgetbv) {
  sregs.cr4 |= kCr4Osxsave;
  sregs.xcr0 = 0x0000'0002'0000'02e7;
  regs.gpr[kRax] = ~0ull;
  regs.gpr[kRdx] = ~0ull;
  regs.gpr[kRcx] = 0xffffffff'00000000;  // only ECX counts
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0x01, 0xd0})));
  EXPECT_EQ(regs.gpr[kRax], 0x2e7u);
  EXPECT_EQ(regs.gpr[kRdx], 2u);
  EXPECT_EQ(regs.rip, kRip + 3);
}

TEST_F(AssistTest, XgetbvFaults) {
  regs.gpr[kRcx] = 0;
  expect_exception(run({0x0f, 0x01, 0xd0}), make_ud());  // CR4.OSXSAVE clear
  sregs.cr4 |= kCr4Osxsave;
  regs.gpr[kRcx] = 1;
  features.xgetbv1 = false;
  expect_exception(run({0x0f, 0x01, 0xd0}), make_gp0(sregs));
  regs.gpr[kRcx] = 2;
  features.xgetbv1 = true;
  expect_exception(run({0x0f, 0x01, 0xd0}), make_gp0(sregs));
  regs.gpr[kRcx] = 1;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0x01, 0xd0})));
  EXPECT_EQ(regs.gpr[kRax], sregs.xcr0);
}

// ---- LDMXCSR / STMXCSR ----

class MxcsrTest : public AssistTest {
 protected:
  MxcsrTest() { sregs.cr4 |= kCr4Osfxsr; }
  uint32_t read32(uint64_t gpa) {
    uint32_t v = 0;
    EXPECT_TRUE(mem.read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4)).ok());
    return v;
  }
  void write32(uint64_t gpa, uint32_t v) {
    EXPECT_TRUE(mem.write(gpa, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&v), 4)).ok());
  }
};

// 0F AE 16: ldmxcsr [rsi]; 0F AE 1E: stmxcsr [rsi].
TEST_F(MxcsrTest, LdmxcsrLoadsFromMemory) {
  regs.gpr[kRsi] = kVa + 0x10;
  write32(pa(0x10), 0x9fc0);  // FTZ, DAZ, all masks
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0xae, 0x16})));
  EXPECT_EQ(sregs.mxcsr, 0x9fc0u);
  EXPECT_EQ(regs.rip, kRip + 3);
}

TEST_F(MxcsrTest, StmxcsrStoresAcrossPages) {
  sregs.mxcsr = 0x1f80 | 0x3f;  // default masks plus sticky exception flags
  regs.gpr[kRsi] = kVa + 0xffe;  // two bytes on each page
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0xae, 0x1e})));
  EXPECT_EQ(read32(pa(0xffe)) & 0xffff, 0x1fbfu);
  EXPECT_EQ(read32(pa(0x1000)) & 0xffff, 0u);
  EXPECT_EQ(sregs.mxcsr, 0x1fbfu);
}

TEST_F(MxcsrTest, LdmxcsrReservedBitIsGpAfterTheRead) {
  features.mxcsr_mask = 0xffff;
  regs.gpr[kRsi] = kVa;
  write32(pa(0), 0x10000);
  expect_exception(run({0x0f, 0xae, 0x16}), make_gp0(sregs));
  EXPECT_EQ(sregs.mxcsr, 0x1f80u);
  EXPECT_EQ(regs.rip, kRip);
  // With MM (AMD's misaligned-SSE mask, bit 17) in the mask, that bit is accepted.
  features.mxcsr_mask = 0x2ffff;
  write32(pa(0), 0x21f80);
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x0f, 0xae, 0x16})));
  EXPECT_EQ(sregs.mxcsr, 0x21f80u);
  // A page fault on the operand comes before the reserved-bit check.
  regs.rip = kRip;
  regs.gpr[kRsi] = kVa + 0x2000;
  expect_exception(run({0x0f, 0xae, 0x16}), make_pf(0, kVa + 0x2000));
}

TEST_F(MxcsrTest, StateChecks) {
  regs.gpr[kRsi] = kVa;
  sregs.cr0 |= kCr0Ts;
  expect_exception(run({0x0f, 0xae, 0x16}), make_nm());
  expect_exception(run({0x0f, 0xae, 0x1e}), make_nm());
  sregs.cr0 |= kCr0Em;  // #UD wins over #NM
  expect_exception(run({0x0f, 0xae, 0x16}), make_ud());
  sregs.cr0 &= ~(kCr0Em | kCr0Ts);
  sregs.cr4 &= ~kCr4Osfxsr;
  expect_exception(run({0x0f, 0xae, 0x1e}), make_ud());
  sregs.cr4 |= kCr4Osfxsr;
  features.sse = false;
  expect_exception(run({0x0f, 0xae, 0x16}), make_ud());
  features.sse = true;
  expect_exception(run({0xf0, 0x0f, 0xae, 0x16}), make_ud());  // LOCK
  // Stores to a read-only page fault with W set.
  regs.gpr[kRsi] = kVa + 0x3000;
  expect_exception(run({0x0f, 0xae, 0x1e}), make_pf(kPfPresent | kPfWrite, kVa + 0x3000));
}

// The mask the assist uses is the host CPU's, as LDMXCSR on this CPU enforces it.
TEST(MxcsrNative, HostMaskMatchesWhatTheCpuAccepts) {
  uint32_t mask = CpuFeatures::host_mxcsr_mask();
  EXPECT_EQ(mask & 0xffbf, 0xffbfu);
  uint32_t saved = 0, v = 0x1f80 | 0x40 /* DAZ */ | 0x8000 /* FTZ */;
  __asm__ volatile("stmxcsr %0" : "=m"(saved));
  if (mask & 0x40) {
    __asm__ volatile("ldmxcsr %0" ::"m"(v));
    uint32_t back = 0;
    __asm__ volatile("stmxcsr %0" : "=m"(back));
    EXPECT_EQ(back, v);
  }
  __asm__ volatile("ldmxcsr %0" ::"m"(saved));
}

// ---- POPCNT / LZCNT / TZCNT / BSF / BSR ----

TEST_F(AssistTest, PopcntRegister64) {
  regs.gpr[kRcx] = 0xf0f0'0000'0000'0001;
  regs.rflags |= kArithFlags;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf3, 0x48, 0x0f, 0xb8, 0xc1})));
  EXPECT_EQ(regs.gpr[kRax], 9u);
  EXPECT_EQ(regs.rflags & kArithFlags, 0u);
  EXPECT_EQ(regs.rip, kRip + 5);
  regs.gpr[kRcx] = 0;
  run({0xf3, 0x48, 0x0f, 0xb8, 0xc1});
  EXPECT_EQ(regs.gpr[kRax], 0u);
  EXPECT_EQ(regs.rflags & kArithFlags, kFlagZf);
}

TEST_F(AssistTest, PopcntOperandSizes) {
  regs.gpr[kR9] = 0xffff'ffff'ffff'ffff;
  regs.gpr[kR8] = 0x1234'5678'9abc'def0;
  run({0x66, 0xf3, 0x45, 0x0f, 0xb8, 0xc1});  // popcnt r8w, r9w
  EXPECT_EQ(regs.gpr[kR8], 0x1234'5678'9abc'0010u);  // upper 48 bits kept
  run({0xf3, 0x45, 0x0f, 0xb8, 0xc1});  // popcnt r8d, r9d
  EXPECT_EQ(regs.gpr[kR8], 32u);        // zero-extended
}

TEST_F(AssistTest, PopcntMemoryAcrossPages) {
  mem.set_u32(pa(0xffc), 0x00000003);  // low half in the first page
  mem.set_u32(pa(0x1000), 0x80000000);  // high half in the second
  regs.gpr[kRsi] = kVa + 0xffc;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf3, 0x48, 0x0f, 0xb8, 0x06})));
  EXPECT_EQ(regs.gpr[kRax], 3u);
}

TEST_F(AssistTest, PopcntRipRelativeAndFsBase) {
  // popcnt eax, [rip+disp32] with RIP placed so that the target is kVa+0x10.
  mem.set_u32(pa(0x10), 0xff);
  regs.rip = kVa - 0x100;
  const int32_t disp = 0x110 - 8;
  Bytes b{0xf3, 0x0f, 0xb8, 0x05};
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(disp >> (8 * i)));
  EXPECT_TRUE(std::holds_alternative<Completed>(run(b)));
  EXPECT_EQ(regs.gpr[kRax], 8u);
  sregs.fs.base = kVa;
  regs.gpr[kRbx] = 0x10;
  run({0x64, 0xf3, 0x0f, 0xb8, 0x0b});  // popcnt ecx, fs:[rbx]
  EXPECT_EQ(regs.gpr[kRcx], 8u);
}

TEST_F(AssistTest, PopcntNotPresentPageFaultsWithoutChanges) {
  regs.gpr[kRsi] = kVa + 0x2000;
  regs.gpr[kRax] = 77;
  regs.rflags |= kFlagCf;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0x06}), make_pf(0, kVa + 0x2000));
  EXPECT_EQ(regs.gpr[kRax], 77u);
  EXPECT_EQ(regs.rip, kRip);
  EXPECT_TRUE(regs.rflags & kFlagCf);
  // The same read across into the absent page: CR2 is the absent page.
  regs.gpr[kRsi] = kVa + 0x1ffc;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0x06}), make_pf(0, kVa + 0x2000));
  // From CPL 3 onto a supervisor page.
  regs.gpr[kRsi] = kVa;
  sregs.ss.dpl = 3;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0x06}), make_pf(kPfPresent | kPfUser, kVa));
}

TEST_F(AssistTest, PopcntNonCanonicalIsGpOrSs) {
  regs.gpr[kRsi] = 0x8000'0000'0000;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0x06}), make_gp0(sregs));
  regs.gpr[kRbp] = 0x8000'0000'0000;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0x45, 0x00}),
                   (Exception{kVectorSs, 0u, std::nullopt}));
}

TEST_F(AssistTest, PopcntWithoutFeatureOrWithLockIsUd) {
  expect_exception(run({0xf0, 0xf3, 0x48, 0x0f, 0xb8, 0xc1}), make_ud());
  features.popcnt = false;
  expect_exception(run({0xf3, 0x48, 0x0f, 0xb8, 0xc1}), make_ud());
  EXPECT_EQ(regs.rip, kRip);
}

TEST_F(AssistTest, LzcntTzcnt) {
  regs.gpr[kRcx] = 0x0000'0000'0001'0000;
  run({0xf3, 0x48, 0x0f, 0xbd, 0xc1});  // lzcnt rax, rcx
  EXPECT_EQ(regs.gpr[kRax], 47u);
  EXPECT_FALSE(regs.rflags & (kFlagCf | kFlagZf));
  run({0xf3, 0x48, 0x0f, 0xbc, 0xc1});  // tzcnt rax, rcx
  EXPECT_EQ(regs.gpr[kRax], 16u);
  regs.gpr[kRcx] = 0;
  run({0x66, 0xf3, 0x0f, 0xbd, 0xc1});  // lzcnt ax, cx
  EXPECT_EQ(regs.gpr[kRax] & 0xffff, 16u);
  EXPECT_TRUE(regs.rflags & kFlagCf);
  EXPECT_FALSE(regs.rflags & kFlagZf);
  regs.gpr[kRcx] = 0x8000'0000;
  run({0xf3, 0x0f, 0xbd, 0xc1});  // lzcnt eax, ecx: result 0 -> ZF
  EXPECT_EQ(regs.gpr[kRax], 0u);
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_FALSE(regs.rflags & kFlagCf);
}

TEST_F(AssistTest, LzcntTzcntFallBackToBsrBsfWithoutTheFeature) {
  features.lzcnt = false;
  features.bmi1 = false;
  regs.gpr[kRcx] = 0x0000'0000'0001'0000;
  run({0xf3, 0x48, 0x0f, 0xbd, 0xc1});  // executes as BSR
  EXPECT_EQ(regs.gpr[kRax], 16u);
  run({0xf3, 0x48, 0x0f, 0xbc, 0xc1});  // executes as BSF
  EXPECT_EQ(regs.gpr[kRax], 16u);
  regs.gpr[kRcx] = 0;
  regs.gpr[kRax] = 1234;
  run({0xf3, 0x48, 0x0f, 0xbd, 0xc1});
  EXPECT_EQ(regs.gpr[kRax], 1234u);
  EXPECT_TRUE(regs.rflags & kFlagZf);
}

TEST_F(AssistTest, BsfBsr) {
  regs.gpr[kRdx] = 0x00f0'0000'0000'0100;
  run({0x48, 0x0f, 0xbc, 0xc2});  // bsf rax, rdx
  EXPECT_EQ(regs.gpr[kRax], 8u);
  EXPECT_FALSE(regs.rflags & kFlagZf);
  run({0x48, 0x0f, 0xbd, 0xc2});  // bsr rax, rdx
  EXPECT_EQ(regs.gpr[kRax], 55u);
  regs.gpr[kRdx] = 0xffff'ffff'0000'0000;
  regs.gpr[kRax] = 0xdead'beef'cafe'f00d;
  run({0x0f, 0xbc, 0xc2});  // bsf eax, edx: zero source
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_EQ(regs.gpr[kRax], 0xdead'beef'cafe'f00du);  // unchanged
}

// ---- CMPXCHG8B / CMPXCHG16B ----

TEST_F(AssistTest, Cmpxchg16bSuccessAndFailure) {
  const uint64_t off = 0x40;
  mem.set_u64(pa(off), 0x1111);
  mem.set_u64(pa(off + 8), 0x2222);
  regs.gpr[kRdi] = kVa + off;
  regs.gpr[kRax] = 0x1111;
  regs.gpr[kRdx] = 0x2222;
  regs.gpr[kRbx] = 0xaaaa;
  regs.gpr[kRcx] = 0xbbbb;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f})));
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_EQ(mem.u64(pa(off)), 0xaaaau);
  EXPECT_EQ(mem.u64(pa(off + 8)), 0xbbbbu);
  EXPECT_EQ(regs.gpr[kRax], 0x1111u);
  EXPECT_EQ(regs.rip, kRip + 5);
  // Now memory differs: RDX:RAX gets the current value, memory is unchanged.
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f})));
  EXPECT_FALSE(regs.rflags & kFlagZf);
  EXPECT_EQ(regs.gpr[kRax], 0xaaaau);
  EXPECT_EQ(regs.gpr[kRdx], 0xbbbbu);
  EXPECT_EQ(mem.u64(pa(off)), 0xaaaau);
}

TEST_F(AssistTest, Cmpxchg16bFaults) {
  regs.gpr[kRdi] = kVa + 0x48;  // 8-aligned only
  expect_exception(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}), make_gp0(sregs));
  regs.gpr[kRdi] = kVa + 0x2000;  // not present
  expect_exception(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}), make_pf(kPfWrite, kVa + 0x2000));
  regs.gpr[kRdi] = kVa + 0x3000;  // read-only: faults even if the compare would fail
  expect_exception(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}),
                   make_pf(kPfPresent | kPfWrite, kVa + 0x3000));
  expect_exception(run({0x48, 0x0f, 0xc7, 0xc8}), make_ud());  // register operand
  features.cx16 = false;
  regs.gpr[kRdi] = kVa;
  expect_exception(run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}), make_ud());
  EXPECT_EQ(regs.rip, kRip);
}

TEST_F(AssistTest, Cmpxchg8bIn64BitModeZeroExtendsOnFailure) {
  mem.set_u64(pa(0x80), 0x89abcdef'01234567);
  regs.gpr[kRsi] = kVa + 0x80;
  regs.gpr[kRax] = 0xffffffff'00000000;
  regs.gpr[kRdx] = 0xffffffff'00000000;
  run({0xf0, 0x0f, 0xc7, 0x0e});
  EXPECT_FALSE(regs.rflags & kFlagZf);
  EXPECT_EQ(regs.gpr[kRax], 0x01234567u);
  EXPECT_EQ(regs.gpr[kRdx], 0x89abcdefu);
  regs.gpr[kRbx] = 0x5555'5555'1111'1111;  // only EBX/ECX are stored
  regs.gpr[kRcx] = 0x5555'5555'2222'2222;
  run({0xf0, 0x0f, 0xc7, 0x0e});
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_EQ(mem.u64(pa(0x80)), 0x22222222'11111111u);
}

TEST_F(AssistTest, Cmpxchg8bMisalignedAcrossPages) {
  mem.set_u32(pa(0xffc), 0x44332211);
  mem.set_u32(pa(0x1000), 0x88776655);
  regs.gpr[kRsi] = kVa + 0xffc;
  regs.gpr[kRax] = 0x44332211;
  regs.gpr[kRdx] = 0x88776655;
  regs.gpr[kRbx] = 0xdddddddd;
  regs.gpr[kRcx] = 0xeeeeeeee;
  run({0x0f, 0xc7, 0x0e});
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_EQ(mem.u32(pa(0xffc)), 0xddddddddu);
  EXPECT_EQ(mem.u32(pa(0x1000)), 0xeeeeeeeeu);
}

TEST_F(AssistTest, Cmpxchg8bIn32BitProtectedMode) {
  sregs = protected_mode_sregs(false);
  sregs.ds.base = kData;
  regs.rip = 0x1000;
  mem.set_u64(kData + 0x100, 5);
  regs.gpr[kRsi] = 0x100;
  regs.gpr[kRax] = 5;
  regs.gpr[kRdx] = 0;
  regs.gpr[kRbx] = 6;
  regs.gpr[kRcx] = 7;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf0, 0x0f, 0xc7, 0x0e})));
  EXPECT_EQ(mem.u64(kData + 0x100), 0x00000007'00000006u);
  EXPECT_EQ(regs.rip, 0x1004u);
  // Beyond the DS limit: #GP(0).
  sregs.ds.limit = 0xff;
  expect_exception(run({0xf0, 0x0f, 0xc7, 0x0e}), make_gp0(sregs));
}

// ---- real mode, completion details ----

TEST_F(AssistTest, RealModePopcntAndIpWrap) {
  sregs = real_mode_sregs();
  sregs.ds.base = kData;  // DS = kData >> 4
  mem.set_u32(kData + 0x20, 0x0707);
  regs.gpr[kRbx] = 0x20;
  regs.rip = 0x10;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0xf3, 0x0f, 0xb8, 0x07})));  // [bx]
  EXPECT_EQ(regs.gpr[kRax] & 0xffff, 6u);
  regs.rip = 0xffff;
  EXPECT_TRUE(std::holds_alternative<Completed>(run({0x9b})));
  EXPECT_EQ(regs.rip, 0u);  // IP wraps at 64 KiB
  // Segment overrun in real mode: #GP without error code.
  regs.gpr[kRbx] = 0xffff;  // the second byte would be at offset 0x10000
  regs.rip = 0x10;
  expect_exception(run({0xf3, 0x0f, 0xb8, 0x07}), (Exception{kVectorGp, std::nullopt, std::nullopt}));
  EXPECT_EQ(regs.rip, 0x10u);
}

TEST_F(AssistTest, TrapFlagReportsSingleStep) {
  regs.rflags |= kFlagTf;
  auto r = run({0x9b});
  EXPECT_TRUE(as<Completed>(r).single_step_trap);
  regs.rflags &= ~kFlagTf;
  EXPECT_FALSE(as<Completed>(run({0x9b})).single_step_trap);
}

// ---- what is not assisted ----

TEST_F(AssistTest, UnsupportedInstructionsNameThemselves) {
  const Regs before = regs;
  auto xrstor = run({0x0f, 0xae, 0x2f});
  EXPECT_EQ(as<Unsupported>(xrstor).reason, "xrstor (0F AE /5) is not assisted [0f ae 2f]");
  auto xrstor64 = run({0x48, 0x0f, 0xae, 0x2f});
  EXPECT_EQ(as<Unsupported>(xrstor64).reason,
            "xrstor64 (REX.W 0F AE /5) is not assisted [48 0f ae 2f]");
  auto avx = run({0xc5, 0xfe, 0x6f, 0x06});
  EXPECT_EQ(as<Unsupported>(avx).reason,
            "vmovdqu (VEX.256.F3.0F.W0 6F /r) is not assisted [c5 fe 6f 06]");
  auto unknown = run({0x0f, 0x38, 0x99, 0xc1});
  EXPECT_EQ(as<Unsupported>(unknown).reason,
            "unknown instruction (0F 38 99 /r) is not assisted [0f 38 99 c1]");
  EXPECT_EQ(regs.rip, before.rip);
  EXPECT_EQ(regs.rflags, before.rflags);
}

TEST_F(AssistTest, DecodeFailures) {
  expect_exception(run({0x06}), make_ud());                     // push es in 64-bit mode
  expect_exception(run({0x66, 0xc5, 0xf8, 0x77}), make_ud());   // VEX after 66
  expect_exception(run(Bytes(15, 0x66)), make_gp0(sregs));      // longer than 15 bytes
  auto trunc = run({0xf3, 0x48, 0x0f});
  EXPECT_NE(as<Unsupported>(trunc).reason.find("cannot decode"), std::string::npos);
  auto undef = run({0x0f, 0x04});
  EXPECT_NE(as<Unsupported>(undef).reason.find("0f 04"), std::string::npos);
  EXPECT_EQ(regs.rip, kRip);
}

TEST_F(AssistTest, ModeMismatchIsRefused) {
  auto d = decode(Bytes{0x9b}, CpuMode::k32);
  ASSERT_TRUE(d.ok());
  auto r = assist(d.insn, regs, sregs, mem, 0, features);
  EXPECT_NE(as<Unsupported>(r).reason.find("32-bit"), std::string::npos);
}

// Random instruction bytes (biased towards the assisted opcodes) in every mode: the
// assist never crashes, and a fault or an unsupported instruction changes nothing.
TEST_F(AssistTest, RandomBytesNeverCorruptState) {
  std::mt19937_64 rng(99);
  const uint8_t interesting[] = {0xcc, 0xcd, 0xce, 0xf1, 0x9b, 0x0f, 0x01, 0xca, 0xcb, 0xd0,
                                 0xb8, 0xbc, 0xbd, 0xc7, 0xf3, 0x66, 0x48, 0xf0, 0x67, 0x64};
  const SystemRegs modes[] = {long_mode_sregs(pt.cr3()), protected_mode_sregs(false),
                              real_mode_sregs()};
  const int iterations = std::getenv("VIREO_EMU_FUZZ") ? std::atoi(std::getenv("VIREO_EMU_FUZZ")) : 20000;
  for (int i = 0; i < iterations; ++i) {
    sregs = modes[i % 3];
    sregs.cr4 |= (rng() & 1) ? kCr4Osxsave : 0;
    Bytes b(1 + rng() % 15);
    for (auto& x : b) x = (rng() % 3) ? interesting[rng() % sizeof(interesting)] : rng();
    Regs start;
    for (auto& g : start.gpr) g = (rng() % 2) ? kVa + rng() % 0x4000 : rng();
    start.rip = (i % 3 == 0) ? kRip : 0x1000;
    start.rflags = 0x2 | (rng() & (kArithFlags | kFlagAc | kFlagTf));
    regs = start;
    auto r = run(b);
    if (std::holds_alternative<InjectException>(r) || std::holds_alternative<Unsupported>(r)) {
      EXPECT_EQ(regs.rip, start.rip) << hex_bytes(b);
      EXPECT_EQ(regs.rflags, start.rflags) << hex_bytes(b);
      for (int g = 0; g < 16; ++g) EXPECT_EQ(regs.gpr[g], start.gpr[g]) << hex_bytes(b);
    } else {
      EXPECT_NE(regs.rip, start.rip) << hex_bytes(b);
    }
  }
}

TEST(AssistToString, Formats) {
  EXPECT_EQ(to_string(AssistResult{Completed{}}), "completed");
  EXPECT_EQ(to_string(AssistResult{make_pf(kPfWrite, 0x1000)}), "inject #PF(0x2) at 0x1000");
  EXPECT_EQ(to_string(AssistResult{Exception{kVectorGp, 0u, std::nullopt}}), "inject #GP(0x0)");
  EXPECT_EQ(to_string(AssistResult{InjectSoftware{0x80, 2, SoftwareKind::kSoftInterrupt}}),
            "inject soft interrupt 0x80 (length 2)");
}

// ---- describe ----

TEST(Describe, NamesAndOperands) {
  auto d = [](Bytes b, CpuMode m = CpuMode::k64) { return decode(b, m).insn; };
  EXPECT_EQ(describe(d({0xf3, 0x48, 0x0f, 0xb8, 0xc1})), "popcnt r64, r/m64 [f3 48 0f b8 c1]");
  EXPECT_EQ(describe_short(d({0x66, 0xf3, 0x0f, 0xb8, 0xc1})), "popcnt r16, r/m16");
  EXPECT_EQ(describe_short(d({0xf3, 0x0f, 0xbd, 0xc1})), "lzcnt r32, r/m32");
  EXPECT_EQ(describe_short(d({0x0f, 0xbd, 0xc1})), "bsr r32, r/m32");
  EXPECT_EQ(describe_short(d({0xf0, 0x48, 0x0f, 0xc7, 0x0e})), "cmpxchg16b m128");
  EXPECT_EQ(describe_short(d({0x0f, 0xc7, 0x0e}, CpuMode::k32)), "cmpxchg8b m64");
  EXPECT_EQ(describe_short(d({0xcd, 0x80})), "int imm8");
  EXPECT_EQ(describe_short(d({0x0f, 0x01, 0xca})), "clac");
  EXPECT_EQ(describe_short(d({0xc5, 0xfe, 0x6f, 0x06})), "vmovdqu ymm, ymm/m");
  EXPECT_EQ(describe_short(d({0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06})),
            "unknown (EVEX.512.0F.W0 10 /r)");
  EXPECT_EQ(opcode_notation(d({0x0f, 0x01, 0xd0})), "0F 01 D0");
  EXPECT_EQ(opcode_notation(d({0xf3, 0x48, 0x0f, 0xb8, 0xc1})), "F3 REX.W 0F B8 /r");
  EXPECT_EQ(opcode_notation(d({0x66, 0x0f, 0xae, 0x38})), "66 0F AE /7");
  EXPECT_STREQ(mnemonic(d({0x66, 0x0f, 0xae, 0x38})), "clflushopt");
  EXPECT_STREQ(mnemonic(d({0x0f, 0xae, 0x38})), "clflush");
  EXPECT_EQ(mnemonic(d({0x0f, 0x38, 0x99, 0xc1})), nullptr);
}

}  // namespace
}  // namespace vireo::arch::x86::emu
