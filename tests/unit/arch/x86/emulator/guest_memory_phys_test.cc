#include "arch/x86/emulator/guest_phys_memory.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "arch/x86/emulator/assist.h"
#include "memory/guest_memory.h"

namespace vireo::arch::x86::emu {
namespace {

class GuestMemoryPhysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = memory::GuestMemory::create({{0, 0x400000}}, "emu-test");
    ASSERT_TRUE(m.ok()) << m.error().message();
    ram = std::move(*m);
  }
  // Pages of the (single) region marked since the last call, as page numbers.
  std::vector<uint64_t> dirty_pages() {
    std::vector<uint64_t> pages;
    auto words = ram.take_dirty_bitmap(0);
    EXPECT_TRUE(words.ok());
    if (!words.ok()) return pages;
    for (size_t w = 0; w < words->size(); ++w)
      for (unsigned b = 0; b < 64; ++b)
        if ((*words)[w] >> b & 1) pages.push_back(w * 64 + b);
    return pages;
  }
  memory::GuestMemory ram;
};

using Pages = std::vector<uint64_t>;

TEST_F(GuestMemoryPhysTest, ReadWriteAndOutsideRam) {
  GuestMemoryPhys phys(ram);
  const uint8_t in[3] = {1, 2, 3};
  ASSERT_TRUE(phys.write(0x1000, in).ok());
  uint8_t out[3] = {};
  ASSERT_TRUE(phys.read(0x1000, out).ok());
  EXPECT_EQ(out[2], 3);
  EXPECT_FALSE(phys.read(0x400000, out).ok());
  EXPECT_FALSE(phys.write(0x3ffffe, in).ok());
}

// KVM's dirty log does not see the assist's writes: GuestMemoryPhys marks them.
TEST_F(GuestMemoryPhysTest, WritesAndCompareExchangesMarkPagesDirty) {
  GuestMemoryPhys phys(ram);
  ASSERT_TRUE(ram.start_dirty_tracking().ok());
  uint8_t out[4] = {};
  ASSERT_TRUE(phys.read(0x1000, out).ok());
  EXPECT_EQ(dirty_pages(), Pages{});
  const uint8_t in[4] = {1, 2, 3, 4};
  ASSERT_TRUE(phys.write(0x1ffe, in).ok());  // pages 1 and 2
  EXPECT_EQ(dirty_pages(), (Pages{1, 2}));

  uint64_t expected = 0;
  auto r8 = phys.cmpxchg8(0x5008, expected, 9);
  ASSERT_TRUE(r8.ok() && *r8);
  EXPECT_EQ(dirty_pages(), Pages{5});
  expected = 1;  // fails: a locked write cycle all the same, as the CPU counts it
  r8 = phys.cmpxchg8(0x6000, expected, 9);
  ASSERT_TRUE(r8.ok() && !*r8);
  EXPECT_EQ(dirty_pages(), Pages{6});

  std::array<uint64_t, 2> exp16{0, 0};
  auto r16 = phys.cmpxchg16(0x7010, exp16, {1, 2});
  ASSERT_TRUE(r16.ok() && *r16);
  EXPECT_EQ(dirty_pages(), Pages{7});
  EXPECT_FALSE(phys.cmpxchg16(0x400000, exp16, {1, 2}).ok());  // not RAM: nothing marked
  EXPECT_FALSE(phys.cmpxchg8(0x8004, expected, 1).ok());        // unaligned: nothing either
  EXPECT_EQ(dirty_pages(), Pages{});
}

TEST_F(GuestMemoryPhysTest, Cmpxchg8) {
  GuestMemoryPhys phys(ram);
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x2000, 5).ok());
  uint64_t expected = 4;
  auto r = phys.cmpxchg8(0x2000, expected, 9);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(expected, 5u);
  r = phys.cmpxchg8(0x2000, expected, 9);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x2000), 9u);
  EXPECT_FALSE(phys.cmpxchg8(0x2004, expected, 1).ok());    // unaligned
  EXPECT_FALSE(phys.cmpxchg8(0x400000, expected, 1).ok());  // not RAM
}

TEST_F(GuestMemoryPhysTest, Cmpxchg16) {
  GuestMemoryPhys phys(ram);
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x3000, 1).ok());
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x3008, 2).ok());
  std::array<uint64_t, 2> expected{1, 3};
  auto r = phys.cmpxchg16(0x3000, expected, {7, 8});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(expected, (std::array<uint64_t, 2>{1, 2}));
  r = phys.cmpxchg16(0x3000, expected, {7, 8});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x3000), 7u);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x3008), 8u);
  EXPECT_FALSE(phys.cmpxchg16(0x3008, expected, {0, 0}).ok());   // unaligned
  EXPECT_FALSE(phys.cmpxchg16(0x400000, expected, {0, 0}).ok()); // not RAM
}

TEST_F(GuestMemoryPhysTest, Cmpxchg16IsAtomicAcrossThreads) {
  GuestMemoryPhys phys(ram);
  constexpr int kPerThread = 50000;
  auto work = [&] {
    for (int i = 0; i < kPerThread; ++i) {
      std::array<uint64_t, 2> cur{0, 0};
      for (;;) {
        std::array<uint64_t, 2> want{cur[0] + 1, cur[1] + 1};  // both halves move together
        auto r = phys.cmpxchg16(0x4000, cur, want);
        ASSERT_TRUE(r.ok());
        if (*r) break;
      }
    }
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x4000), 2u * kPerThread);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x4008), 2u * kPerThread);
}

// End to end: LOCK CMPXCHG16B by a 64-bit guest with its page tables in real guest RAM.
TEST_F(GuestMemoryPhysTest, AssistCmpxchg16bThroughGuestRam) {
  // PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000 with a 2-MiB identity page at 0.
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x10000, 0x11000 | 3).ok());
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x11000, 0x12000 | 3).ok());
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x12000, 0x0 | 0x83).ok());
  SystemRegs s;
  s.cr0 = kCr0Pe | kCr0Pg | kCr0Wp;
  s.cr3 = 0x10000;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  s.cs.l = 1;
  Regs regs;
  regs.rip = 0x1000;
  regs.gpr[kRdi] = 0x5000;
  regs.gpr[kRax] = 0;
  regs.gpr[kRdx] = 0;
  regs.gpr[kRbx] = 0x1111;
  regs.gpr[kRcx] = 0x2222;
  GuestMemoryPhys phys(ram);
  const uint8_t insn[] = {0xf0, 0x48, 0x0f, 0xc7, 0x0f};
  auto r = assist_bytes(insn, regs, s, phys, CpuFeatures{});
  ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
  EXPECT_TRUE(regs.rflags & kFlagZf);
  EXPECT_EQ(regs.rip, 0x1005u);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x5000), 0x1111u);
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x5008), 0x2222u);
  // The walk set the accessed and dirty bits of the 2-MiB page.
  EXPECT_EQ(*ram.read_obj<uint64_t>(0x12000) & 0x60, 0x60u);
}

// The same instruction with dirty tracking on: the data page and the page-table pages
// whose accessed/dirty bits the walk set are marked; the code page is only read.
TEST_F(GuestMemoryPhysTest, AssistMarksWhatItWrote) {
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x10000, 0x11000 | 3).ok());
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x11000, 0x12000 | 3).ok());
  ASSERT_TRUE(ram.write_obj<uint64_t>(0x12000, 0x0 | 0x83).ok());
  ASSERT_TRUE(ram.start_dirty_tracking().ok());
  SystemRegs s;
  s.cr0 = kCr0Pe | kCr0Pg | kCr0Wp;
  s.cr3 = 0x10000;
  s.cr4 = kCr4Pae;
  s.efer = kEferLme | kEferLma;
  s.cs.l = 1;
  Regs regs;
  regs.rip = 0x1000;
  regs.gpr[kRdi] = 0x5000;
  regs.gpr[kRbx] = 0x1111;
  regs.gpr[kRcx] = 0x2222;
  GuestMemoryPhys phys(ram);
  const uint8_t insn[] = {0xf0, 0x48, 0x0f, 0xc7, 0x0f};  // lock cmpxchg16b [rdi]
  auto r = assist_bytes(insn, regs, s, phys, CpuFeatures{});
  ASSERT_TRUE(std::holds_alternative<Completed>(r)) << to_string(r);
  EXPECT_EQ(dirty_pages(), (Pages{0x5, 0x10, 0x11, 0x12}));
}

TEST(CpuFeaturesTest, FromCpuid) {
  auto f = CpuFeatures::from_cpuid([](uint32_t fn, uint32_t idx) -> std::array<uint32_t, 4> {
    switch (fn) {
      case 0: return {0xd, 0, 0, 0};
      case 1: return {0, 0, (1u << 23) | (1u << 26), 1u << 8};  // POPCNT XSAVE; CX8
      case 7: return {0, 1u << 3, 0, 0};                        // BMI1
      case 0xd: return idx == 1 ? std::array<uint32_t, 4>{1u << 2, 0, 0, 0}
                                : std::array<uint32_t, 4>{};
      case 0x80000000: return {0x80000008, 0, 0, 0};
      case 0x80000001: return {0, 0, 0, 0};                      // no LZCNT, no 1G pages
      case 0x80000008: return {0x3027, 0, 0, 0};
      default: return {};
    }
  });
  EXPECT_TRUE(f.popcnt);
  EXPECT_TRUE(f.xsave);
  EXPECT_TRUE(f.cx8);
  EXPECT_FALSE(f.cx16);
  EXPECT_TRUE(f.bmi1);
  EXPECT_FALSE(f.smap);
  EXPECT_TRUE(f.xgetbv1);
  EXPECT_FALSE(f.lzcnt);
  EXPECT_FALSE(f.gbpages);
  EXPECT_EQ(f.maxphyaddr, 0x27);
}

TEST(CpuFeaturesTest, HostMatchesCpuinfoBasics) {
  auto f = CpuFeatures::host();
  EXPECT_TRUE(f.cx8);  // every x86-64 CPU
  EXPECT_GE(f.maxphyaddr, 32);
}

TEST(CpuState, ModesAndCpl) {
  SystemRegs s;
  EXPECT_EQ(exec_state(s, 2), ExecState::kReal);
  EXPECT_EQ(cpu_mode(s, 2), CpuMode::k16);
  EXPECT_EQ(current_cpl(s, 2), 0);
  s.cr0 = kCr0Pe;
  s.cs.db = 1;
  s.ss.dpl = 3;
  EXPECT_EQ(cpu_mode(s, 2), CpuMode::k32);
  EXPECT_EQ(current_cpl(s, 2), 3);
  EXPECT_EQ(exec_state(s, 2 | kFlagVm), ExecState::kVirtual8086);
  EXPECT_EQ(cpu_mode(s, 2 | kFlagVm), CpuMode::k16);
  s.efer = kEferLma | kEferLme;
  EXPECT_EQ(exec_state(s, 2), ExecState::kCompatibility);
  s.cs.l = 1;
  s.cs.db = 0;
  EXPECT_EQ(cpu_mode(s, 2), CpuMode::k64);
}

}  // namespace
}  // namespace vireo::arch::x86::emu
