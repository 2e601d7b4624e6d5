#include "arch/x86/emulator/virtual_memory.h"

#include <gtest/gtest.h>

#include <vector>

#include "fake_phys_memory.h"

namespace vireo::arch::x86::emu {
namespace {

using namespace testing;

constexpr uint64_t kTables = 0x100000;
constexpr uint64_t kData = 0x200000;

// ---- segmentation ----

TEST(Segmentation, Canonical) {
  EXPECT_TRUE(is_canonical(0x0000'7fff'ffff'ffff, false));
  EXPECT_TRUE(is_canonical(0xffff'8000'0000'0000, false));
  EXPECT_FALSE(is_canonical(0x0000'8000'0000'0000, false));
  EXPECT_TRUE(is_canonical(0x0000'8000'0000'0000, true));
  EXPECT_FALSE(is_canonical(0x0100'0000'0000'0000, true));
}

TEST(Segmentation, LongModeBasesAndCanonicalFaults) {
  auto s = long_mode_sregs(0);
  s.ds.base = 0x1000;  // ignored in 64-bit mode
  s.fs.base = 0x7000'0000;
  auto ds = linear_address(s, 2, SegReg::kDs, 0x10, 8, AccessType::kRead);
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(ds.value(), 0x10u);
  auto fs = linear_address(s, 2, SegReg::kFs, 0x10, 8, AccessType::kRead);
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(fs.value(), 0x7000'0010u);
  auto gp = linear_address(s, 2, SegReg::kDs, 0x8000'0000'0000, 8, AccessType::kRead);
  ASSERT_TRUE(gp.faulted());
  EXPECT_EQ(gp.fault(), (Exception{kVectorGp, 0u, std::nullopt}));
  auto ss = linear_address(s, 2, SegReg::kSs, 0x8000'0000'0000, 8, AccessType::kWrite);
  ASSERT_TRUE(ss.faulted());
  EXPECT_EQ(ss.fault(), (Exception{kVectorSs, 0u, std::nullopt}));
  // The last byte crossing into the non-canonical hole faults too.
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0x7fff'ffff'fffc, 8, AccessType::kRead).faulted());
}

TEST(Segmentation, ProtectedModeLimitsAndTypes) {
  auto s = protected_mode_sregs(false);
  s.ds.base = 0x10000;
  s.ds.limit = 0xfff;
  auto ok = linear_address(s, 2, SegReg::kDs, 0xff8, 8, AccessType::kRead);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 0x10ff8u);
  auto over = linear_address(s, 2, SegReg::kDs, 0xffc, 8, AccessType::kRead);
  ASSERT_TRUE(over.faulted());
  EXPECT_EQ(over.fault().vector, kVectorGp);
  EXPECT_EQ(over.fault().error_code, 0u);
  s.ss.limit = 0xfff;
  EXPECT_EQ(linear_address(s, 2, SegReg::kSs, 0x1000, 1, AccessType::kRead).fault().vector,
            kVectorSs);
  // Read-only data segment, execute-only and readable code segments.
  s.es.type = 0x1;
  EXPECT_TRUE(linear_address(s, 2, SegReg::kEs, 0, 4, AccessType::kRead).ok());
  EXPECT_TRUE(linear_address(s, 2, SegReg::kEs, 0, 4, AccessType::kWrite).faulted());
  s.cs.type = 0x8;
  EXPECT_TRUE(linear_address(s, 2, SegReg::kCs, 0, 4, AccessType::kRead).faulted());
  s.cs.type = 0xa;
  EXPECT_TRUE(linear_address(s, 2, SegReg::kCs, 0, 4, AccessType::kRead).ok());
  EXPECT_TRUE(linear_address(s, 2, SegReg::kCs, 0, 4, AccessType::kWrite).faulted());
  // Null (unusable) segment.
  s.gs.unusable = 1;
  EXPECT_TRUE(linear_address(s, 2, SegReg::kGs, 0, 4, AccessType::kRead).faulted());
}

TEST(Segmentation, ExpandDown) {
  auto s = protected_mode_sregs(false);
  s.ds.type = 0x7;  // data, expand-down, writable
  s.ds.limit = 0xfff;
  s.ds.db = 1;
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0xff0, 4, AccessType::kRead).faulted());
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0x1000, 4, AccessType::kWrite).ok());
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0xfffffffc, 4, AccessType::kRead).ok());
  s.ds.db = 0;  // 64-KiB upper bound
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0xfffe, 4, AccessType::kRead).faulted());
  EXPECT_TRUE(linear_address(s, 2, SegReg::kDs, 0xfffc, 4, AccessType::kRead).ok());
}

TEST(Segmentation, LinearAddressWrapsAt4GiB) {
  auto s = protected_mode_sregs(false);
  s.ds.base = 0x1000;
  auto r = linear_address(s, 2, SegReg::kDs, 0xfffff000, 4, AccessType::kRead);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value(), 0u);
}

TEST(Segmentation, RealModeFaultsHaveNoErrorCode) {
  auto s = real_mode_sregs();
  s.ds.base = 0x12340;
  auto ok = linear_address(s, 2, SegReg::kDs, 0x10, 2, AccessType::kWrite);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value(), 0x12350u);
  auto gp = linear_address(s, 2, SegReg::kDs, 0xffff, 2, AccessType::kRead);
  ASSERT_TRUE(gp.faulted());
  EXPECT_EQ(gp.fault(), (Exception{kVectorGp, std::nullopt, std::nullopt}));
}

// ---- accesses through paging ----

class VirtualMemoryTest : public ::testing::Test {
 protected:
  VirtualMemoryTest() : pt(mem, PagingMode::k4Level, kTables) {
    mem.add_ram(kData, 0x10000);
    pt.map(0x10000, kData + 0x3000, 4096, kP | kRW);  // not contiguous physically
    pt.map(0x11000, kData + 0x1000, 4096, kP | kRW);
    pt.map(0x12000, kData + 0x5000, 4096, kP);         // read-only
    // 0x13000 is not mapped
    sregs = long_mode_sregs(pt.cr3());
  }
  VirtualMemory vm(int cpl = 0, uint64_t rflags = 2) {
    return VirtualMemory(mem, sregs, rflags, cpl, features);
  }

  FakePhysMemory mem;
  PageTables pt;
  SystemRegs sregs;
  CpuFeatures features;
};

TEST_F(VirtualMemoryTest, ReadAcrossPagesGathersBothFrames) {
  mem.set_u32(kData + 0x3ffc, 0xbbaa0000);
  mem.set_u32(kData + 0x1000, 0x0000ddcc);
  uint8_t out[4];
  auto r = vm().read(SegReg::kDs, 0x10ffe, out);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(out[0], 0xaa);
  EXPECT_EQ(out[1], 0xbb);
  EXPECT_EQ(out[2], 0xcc);
  EXPECT_EQ(out[3], 0xdd);
}

TEST_F(VirtualMemoryTest, WriteAcrossPages) {
  const uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(vm().write(SegReg::kDs, 0x10ffc, in).ok());
  EXPECT_EQ(mem.u32(kData + 0x3ffc), 0x04030201u);
  EXPECT_EQ(mem.u32(kData + 0x1000), 0x08070605u);
}

TEST_F(VirtualMemoryTest, SecondPageAbsentFaultsWithoutPartialWrite) {
  mem.set_u64(kData + 0x5ff8, 0x1111111111111111);
  pt.map(0x12000, kData + 0x5000, 4096, kP | kRW);
  mem.clear_log();
  const uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  auto r = vm().write(SegReg::kDs, 0x12ffc, in);
  ASSERT_TRUE(r.faulted());
  EXPECT_EQ(r.fault(), make_pf(kPfWrite, 0x13000));  // CR2: the first byte not mapped
  EXPECT_EQ(mem.u64(kData + 0x5ff8), 0x1111111111111111u);
  for (const auto& w : mem.writes)  // only A/D bits of page-table entries were written
    EXPECT_LT(w.gpa, kData) << std::hex << w.gpa;
}

TEST_F(VirtualMemoryTest, SecondPageReadOnlyFaultsWithoutPartialWrite) {
  mem.clear_log();
  const uint8_t in[4] = {9, 9, 9, 9};
  auto r = vm().write(SegReg::kDs, 0x11ffe, in);
  ASSERT_TRUE(r.faulted());
  EXPECT_EQ(r.fault(), make_pf(kPfPresent | kPfWrite, 0x12000));
  EXPECT_EQ(mem.u32(kData + 0x1ffe) & 0xffff, 0u);
  for (const auto& w : mem.writes) EXPECT_LT(w.gpa, kData);
}

TEST_F(VirtualMemoryTest, SegmentFaultComesBeforePaging) {
  uint8_t out[8];
  auto r = vm().read(SegReg::kSs, 0x8000'0000'0000, out);
  ASSERT_TRUE(r.faulted());
  EXPECT_EQ(r.fault().vector, kVectorSs);
}

TEST_F(VirtualMemoryTest, AlignmentCheckOnlyAtCpl3WithAmAndAc) {
  pt.map(0x20000, kData + 0x8000, 4096, kP | kRW | kUS);
  sregs.cr0 |= kCr0Am;
  uint8_t out[4];
  EXPECT_TRUE(vm(3, 2).read(SegReg::kDs, 0x20001, out).ok());
  auto ac = vm(3, 2 | kFlagAc).read(SegReg::kDs, 0x20001, out);
  ASSERT_TRUE(ac.faulted());
  EXPECT_EQ(ac.fault(), (Exception{kVectorAc, 0u, std::nullopt}));
  EXPECT_TRUE(vm(3, 2 | kFlagAc).read(SegReg::kDs, 0x20004, out).ok());
  EXPECT_TRUE(vm(0, 2 | kFlagAc).read(SegReg::kDs, 0x20001, out).ok());
}

TEST_F(VirtualMemoryTest, CmpxchgAligned8And16) {
  mem.set_u64(kData + 0x3010, 0x1122334455667788);
  uint64_t exp = 0x1122334455667788, des = 0xaaaa;
  ASSERT_TRUE(vm().cmpxchg(SegReg::kDs, 0x10010, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&exp), 8),
                           std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&des), 8)).value());
  EXPECT_EQ(mem.u64(kData + 0x3010), 0xaaaau);
  uint64_t exp2[2] = {1, 2}, des2[2] = {3, 4};
  auto r = vm().cmpxchg(SegReg::kDs, 0x10010, std::span<uint8_t>(reinterpret_cast<uint8_t*>(exp2), 16),
                        std::span<const uint8_t>(reinterpret_cast<uint8_t*>(des2), 16));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
  EXPECT_EQ(exp2[0], 0xaaaau);  // current value returned
  EXPECT_EQ(exp2[1], 0u);
}

TEST_F(VirtualMemoryTest, CmpxchgMisalignedInsideA16ByteBlockIsAtomic) {
  mem.set_u64(kData + 0x3024, 0x0102030405060708);
  mem.set_u32(kData + 0x3020, 0xcafebabe);
  mem.clear_log();
  uint64_t exp = 0x0102030405060708, des = 0xfffefdfcfbfaf9f8;
  auto r = vm().cmpxchg(SegReg::kDs, 0x10024, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&exp), 8),
                        std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&des), 8));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value());
  EXPECT_EQ(mem.u64(kData + 0x3024), des);
  EXPECT_EQ(mem.u32(kData + 0x3020), 0xcafebabeu);
  EXPECT_GE(mem.cmpxchgs, 1);  // through the 16-byte compare-exchange
}

TEST_F(VirtualMemoryTest, CmpxchgAcrossPages) {
  mem.set_u32(kData + 0x3ffc, 0x44332211);
  mem.set_u32(kData + 0x1000, 0x88776655);
  uint64_t exp = 0x8877665544332211, des = 0x0123456789abcdef;
  auto r = vm().cmpxchg(SegReg::kDs, 0x10ffc, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&exp), 8),
                        std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&des), 8));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value());
  EXPECT_EQ(mem.u32(kData + 0x3ffc), 0x89abcdefu);
  EXPECT_EQ(mem.u32(kData + 0x1000), 0x01234567u);
}

TEST_F(VirtualMemoryTest, CmpxchgIsAWriteAccess) {
  mem.set_u64(kData + 0x5000, 7);
  uint64_t exp = 8, des = 9;  // would not match, but the page is read-only
  auto r = vm().cmpxchg(SegReg::kDs, 0x12000, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&exp), 8),
                        std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&des), 8));
  ASSERT_TRUE(r.faulted());
  EXPECT_EQ(r.fault(), make_pf(kPfPresent | kPfWrite, 0x12000));
}

TEST_F(VirtualMemoryTest, MmioIsAnError) {
  pt.map(0x30000, 0xfee00000, 4096, kP | kRW);  // not RAM in the fake
  uint8_t out[4];
  auto r = vm().read(SegReg::kDs, 0x30000, out);
  ASSERT_TRUE(r.failed());
}

}  // namespace
}  // namespace vireo::arch::x86::emu
