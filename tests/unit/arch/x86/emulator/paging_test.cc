#include "arch/x86/emulator/paging.h"

#include <gtest/gtest.h>

#include "fake_phys_memory.h"

namespace vireo::arch::x86::emu {
namespace {

using namespace testing;

constexpr uint64_t kTables = 0x100000;
constexpr uint64_t kData = 0x200000;

class PagingTest : public ::testing::Test {
 protected:
  PagingTest() { mem.add_ram(kData, 0x10000); }

  Outcome<uint64_t> xlate(const SystemRegs& s, uint64_t la, AccessType t, int cpl = 0,
                          uint64_t rflags = 2, bool implicit = false) {
    PageWalker w(mem, s, rflags, features);
    return w.translate(la, PageAccess{t, cpl, implicit});
  }
  static uint32_t pf_code(const Outcome<uint64_t>& r) {
    EXPECT_TRUE(r.faulted());
    if (!r.faulted()) return 0xdead;
    EXPECT_EQ(r.fault().vector, kVectorPf);
    return r.fault().error_code.value_or(0xdead);
  }

  FakePhysMemory mem;
  CpuFeatures features;
};

// ---- 4-level ----

TEST_F(PagingTest, FourLevel4KiBPage) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x7fff'0040'0000, kData + 0x3000, 4096, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_EQ(paging_mode(s), PagingMode::k4Level);
  auto r = xlate(s, 0x7fff'0040'0123, AccessType::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kData + 0x3123);
}

TEST_F(PagingTest, AccessedBitsOnReadDirtyOnWrite) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  const uint64_t va = 0x40'0000'0000;
  pt.map(va, kData, 4096, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  ASSERT_TRUE(xlate(s, va, AccessType::kRead).ok());
  for (int level = 4; level >= 1; --level) EXPECT_TRUE(pt.entry(va, level) & kA) << level;
  EXPECT_FALSE(pt.entry(va, 1) & kD);
  ASSERT_TRUE(xlate(s, va + 8, AccessType::kWrite).ok());
  EXPECT_TRUE(pt.entry(va, 1) & kD);
  for (int level = 4; level >= 2; --level) EXPECT_FALSE(pt.entry(va, level) & kD) << level;
}

TEST_F(PagingTest, NoAccessedBitsWhenFaulting) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  const uint64_t va = 0x1000'0000;
  pt.map(va, kData, 4096, kP);  // read-only
  auto s = long_mode_sregs(pt.cr3());
  ASSERT_TRUE(xlate(s, va, AccessType::kWrite).faulted());
  for (int level = 4; level >= 1; --level) EXPECT_FALSE(pt.entry(va, level) & kA) << level;
}

TEST_F(PagingTest, FourLevel2MiBPage) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  mem.add_ram(0x400000, 0x1000);
  pt.map(0xffff'8000'0060'0000, 0x400000, 2 << 20, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  auto r = xlate(s, 0xffff'8000'006a'bcde, AccessType::kWrite);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0x4abcdeu);
  uint64_t pde = pt.entry(0xffff'8000'0060'0000, 2);
  EXPECT_TRUE(pde & kPS);
  EXPECT_TRUE(pde & kA);
  EXPECT_TRUE(pde & kD);
}

TEST_F(PagingTest, FourLevel1GiBPage) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x80000000, 0x40000000, 1 << 30, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  auto r = xlate(s, 0x80001234, AccessType::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0x40001234u);
  // Without 1-GiB page support PDPTE.PS is a reserved bit.
  features.gbpages = false;
  EXPECT_EQ(pf_code(xlate(s, 0x80001234, AccessType::kRead)), kPfPresent | kPfReserved);
}

TEST_F(PagingTest, NotPresentErrorCodes) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW | kUS);
  auto s = long_mode_sregs(pt.cr3());
  // PTE not present (the neighbouring page), PML4E not present (another 512 GiB).
  auto r = xlate(s, 0x2000, AccessType::kRead);
  EXPECT_EQ(pf_code(r), 0u);
  EXPECT_EQ(r.fault().cr2, 0x2000u);
  EXPECT_EQ(pf_code(xlate(s, 0x2000, AccessType::kWrite)), kPfWrite);
  EXPECT_EQ(pf_code(xlate(s, 0x2000, AccessType::kWrite, 3)), kPfWrite | kPfUser);
  EXPECT_EQ(pf_code(xlate(s, 0x80'0000'0000, AccessType::kRead, 3)), kPfUser);
  // Instruction fetch: I/D is reported because EFER.NXE is set.
  EXPECT_EQ(pf_code(xlate(s, 0x2000, AccessType::kExecute)), kPfFetch);
}

TEST_F(PagingTest, WriteProtectHonoursCr0Wp) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kUS);          // user, read-only
  pt.map(0x3000, kData + 0x1000, 4096, kP);       // supervisor, read-only
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_EQ(pf_code(xlate(s, 0x3000, AccessType::kWrite)), kPfPresent | kPfWrite);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite)), kPfPresent | kPfWrite);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite, 3)),
            kPfPresent | kPfWrite | kPfUser);
  s.cr0 &= ~kCr0Wp;  // supervisor writes ignore R/W
  EXPECT_TRUE(xlate(s, 0x3000, AccessType::kWrite).ok());
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kWrite).ok());
  // ... but user writes never do.
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite, 3)),
            kPfPresent | kPfWrite | kPfUser);
}

TEST_F(PagingTest, ReadOnlyAtUpperLevel) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW, kP | kUS);  // tables without R/W
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite)), kPfPresent | kPfWrite);
}

TEST_F(PagingTest, UserAccessToSupervisorPage) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW);                       // PTE supervisor
  pt.map(0x80'0000'1000, kData, 4096, kP | kRW | kUS, kP | kRW);  // PML4E supervisor
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead, 3)), kPfPresent | kPfUser);
  EXPECT_EQ(pf_code(xlate(s, 0x80'0000'1000, AccessType::kRead, 3)), kPfPresent | kPfUser);
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead, 0).ok());
  // Implicit supervisor accesses at CPL 3 are supervisor accesses.
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead, 3, 2, true).ok());
}

TEST_F(PagingTest, Smap) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW | kUS);
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());  // SMAP off
  s.cr4 |= kCr4Smap;
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead)), kPfPresent);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite)), kPfPresent | kPfWrite);
  const uint64_t ac = 2 | kFlagAc;
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead, 0, ac).ok());
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kWrite, 0, ac).ok());
  // Implicit supervisor accesses ignore RFLAGS.AC.
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead, 0, ac, true)), kPfPresent);
  // User-mode accesses are not affected.
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead, 3).ok());
}

TEST_F(PagingTest, Smep) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW | kUS);
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kExecute).ok());
  s.cr4 |= kCr4Smep;
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kExecute)), kPfPresent | kPfFetch);
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());  // data reads are fine
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kExecute, 3).ok());
}

TEST_F(PagingTest, NoExecute) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW | kUS | kXD);
  auto s = long_mode_sregs(pt.cr3());
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kExecute)), kPfPresent | kPfFetch);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kExecute, 3)),
            kPfPresent | kPfFetch | kPfUser);
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());
  // With EFER.NXE clear, bit 63 is reserved (and I/D is not reported without SMEP).
  s.efer &= ~kEferNxe;
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead)), kPfPresent | kPfReserved);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kExecute)), kPfPresent | kPfReserved);
}

TEST_F(PagingTest, ReservedBits) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW);
  pt.map(0x400000, 0x400000, 2 << 20, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  features.maxphyaddr = 40;
  ASSERT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());
  const uint64_t pte = pt.entry(0x1000, 1);
  pt.set_entry(0x1000, 1, pte | (1ull << 45));  // above MAXPHYADDR
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kWrite)),
            kPfPresent | kPfReserved | kPfWrite);
  pt.set_entry(0x1000, 1, pte | (1ull << 52));  // ignored bit (software available)
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());
  // PS in a PML4E is reserved.
  const uint64_t pml4e = pt.entry(0x1000, 4);
  pt.set_entry(0x1000, 4, pml4e | kPS);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead, 3)),
            kPfPresent | kPfReserved | kPfUser);
  pt.set_entry(0x1000, 4, pml4e);
  // Bits 20:13 of a 2-MiB PDE are reserved.
  const uint64_t pde = pt.entry(0x400000, 2);
  pt.set_entry(0x400000, 2, pde | (1ull << 13));
  EXPECT_EQ(pf_code(xlate(s, 0x400000, AccessType::kRead)), kPfPresent | kPfReserved);
  // The reserved-bit fault of an upper level comes before a not-present lower level.
  pt.set_entry(0x1000, 1, 0);
  pt.set_entry(0x1000, 3, pt.entry(0x1000, 3) | (1ull << 46));
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead)), kPfPresent | kPfReserved);
}

TEST_F(PagingTest, FiveLevel) {
  PageTables pt(mem, PagingMode::k5Level, kTables);
  const uint64_t va = 0x0001'2345'6789'a000;  // needs 57-bit addresses
  pt.map(va, kData + 0x2000, 4096, kP | kRW);
  auto s = long_mode_sregs(pt.cr3(), /*la57=*/true);
  EXPECT_EQ(paging_mode(s), PagingMode::k5Level);
  auto r = xlate(s, va + 0x10, AccessType::kWrite);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kData + 0x2010);
  EXPECT_TRUE(pt.entry(va, 5) & kA);
  EXPECT_TRUE(pt.entry(va, 1) & kD);
}

TEST_F(PagingTest, EntryChangedConcurrentlyIsRetried) {
  PageTables pt(mem, PagingMode::k4Level, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW);
  auto s = long_mode_sregs(pt.cr3());
  const uint64_t pte_gpa = pt.entry_gpa(0x1000, 1);
  int calls = 0;
  mem.before_cmpxchg = [&](uint64_t gpa) {
    if (gpa == pte_gpa && calls++ == 0) mem.set_u64(gpa, mem.u64(gpa) | (1ull << 9));
  };
  ASSERT_TRUE(xlate(s, 0x1000, AccessType::kWrite).ok());
  const uint64_t pte = pt.entry(0x1000, 1);
  EXPECT_TRUE(pte & (1ull << 9));  // the other writer's bit survives
  EXPECT_TRUE(pte & kA);
  EXPECT_TRUE(pte & kD);
  EXPECT_GE(calls, 2);
}

TEST_F(PagingTest, TablesOutsideRamAreAnError) {
  auto s = long_mode_sregs(0x7000'0000);
  auto r = xlate(s, 0x1000, AccessType::kRead);
  ASSERT_TRUE(r.failed());
  EXPECT_NE(r.error().message().find("PML4E"), std::string::npos) << r.error().message();
}

// ---- PAE ----

TEST_F(PagingTest, Pae) {
  PageTables pt(mem, PagingMode::kPae, kTables);
  pt.map(0xc0001000, kData + 0x1000, 4096, kP | kRW);
  mem.add_ram(0x600000, 0x1000);
  pt.map(0x00600000, 0x600000, 2 << 20, kP | kRW | kUS);
  auto s = protected_mode_sregs(true, pt.cr3(), kCr4Pae);
  EXPECT_EQ(paging_mode(s), PagingMode::kPae);
  auto r = xlate(s, 0xc0001abc, AccessType::kWrite);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kData + 0x1abc);
  EXPECT_TRUE(pt.entry(0xc0001000, 1) & kD);
  EXPECT_FALSE(pt.entry(0xc0001000, 3) & kA);  // PAE PDPTEs have no accessed bit
  auto big = xlate(s, 0x00654321, AccessType::kRead, 3);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big.value(), 0x654321u);
  // PDPTE not present; PDPTE with reserved bits (R/W is reserved in a PAE PDPTE).
  EXPECT_EQ(pf_code(xlate(s, 0x40000000, AccessType::kRead)), 0u);
  pt.set_entry(0xc0001000, 3, pt.entry(0xc0001000, 3) | kRW);
  EXPECT_EQ(pf_code(xlate(s, 0xc0001000, AccessType::kRead)), kPfPresent | kPfReserved);
}

TEST_F(PagingTest, PaeNoExecuteNeedsNxe) {
  PageTables pt(mem, PagingMode::kPae, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW | kXD);
  auto s = protected_mode_sregs(true, pt.cr3(), kCr4Pae);
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kRead)), kPfPresent | kPfReserved);
  s.efer |= kEferNxe;
  EXPECT_TRUE(xlate(s, 0x1000, AccessType::kRead).ok());
  EXPECT_EQ(pf_code(xlate(s, 0x1000, AccessType::kExecute)), kPfPresent | kPfFetch);
}

// ---- 32-bit ----

TEST_F(PagingTest, ThirtyTwoBit4KiBAndAccessedBitsOn4ByteEntries) {
  PageTables pt(mem, PagingMode::k32Bit, kTables);
  pt.map(0x00401000, kData + 0x5000, 4096, kP | kRW);
  pt.map(0x00402000, kData + 0x6000, 4096, kP | kRW);  // neighbouring 4-byte PTE
  auto s = protected_mode_sregs(true, pt.cr3());
  EXPECT_EQ(paging_mode(s), PagingMode::k32Bit);
  const uint32_t neighbour = static_cast<uint32_t>(pt.entry(0x00402000, 1));
  auto r = xlate(s, 0x00401fff, AccessType::kWrite);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kData + 0x5fff);
  EXPECT_TRUE(pt.entry(0x00401000, 2) & kA);
  EXPECT_TRUE(pt.entry(0x00401000, 1) & kA);
  EXPECT_TRUE(pt.entry(0x00401000, 1) & kD);
  EXPECT_EQ(pt.entry(0x00402000, 1), neighbour);
  // No NX in 32-bit paging: execute is allowed, and I/D is not reported without SMEP.
  EXPECT_EQ(pf_code(xlate(s, 0x00403000, AccessType::kExecute)), 0u);
  s.cr4 |= kCr4Smep;
  EXPECT_EQ(pf_code(xlate(s, 0x00403000, AccessType::kExecute)), kPfFetch);
}

TEST_F(PagingTest, ThirtyTwoBitPse4MiBPage) {
  PageTables pt(mem, PagingMode::k32Bit, kTables);
  mem.add_ram(0x800000, 0x1000);
  pt.map(0xc0000000, 0x800000, 4 << 20, kP | kRW);
  auto s = protected_mode_sregs(true, pt.cr3(), kCr4Pse);
  auto r = xlate(s, 0xc0012345, AccessType::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0x812345u);
  // PSE-36: PDE bits 20:13 are physical address bits 39:32.
  pt.map(0x80000000, 0x12'0040'0000, 4 << 20, kP | kRW);
  auto hi = xlate(s, 0x80000010, AccessType::kRead);
  ASSERT_TRUE(hi.ok());
  EXPECT_EQ(hi.value(), 0x12'0040'0010u);
  // Bit 21 is reserved.
  pt.set_entry(0xc0000000, 2, pt.entry(0xc0000000, 2) | (1u << 21));
  EXPECT_EQ(pf_code(xlate(s, 0xc0000000, AccessType::kRead)), kPfPresent | kPfReserved);
}

TEST_F(PagingTest, ThirtyTwoBitPsIgnoredWithoutCr4Pse) {
  PageTables pt(mem, PagingMode::k32Bit, kTables);
  pt.map(0x1000, kData, 4096, kP | kRW);
  auto s = protected_mode_sregs(true, pt.cr3(), 0);
  pt.set_entry(0x1000, 2, pt.entry(0x1000, 2) | kPS);  // PS ignored: still a page table
  auto r = xlate(s, 0x1234, AccessType::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), kData + 0x234);
}

TEST_F(PagingTest, NoPaging) {
  auto s = protected_mode_sregs(false);
  EXPECT_EQ(paging_mode(s), PagingMode::kNone);
  auto r = xlate(s, 0x12345678, AccessType::kWrite, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0x12345678u);
  EXPECT_EQ(mem.reads, 0);
}

}  // namespace
}  // namespace vireo::arch::x86::emu
