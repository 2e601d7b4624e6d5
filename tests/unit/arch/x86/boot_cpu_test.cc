#include "arch/x86/boot_cpu.h"

#include <gtest/gtest.h>

#include <cstring>

#include "arch/x86/gdt.h"
#include "arch/x86/layout.h"

namespace vireo::arch::x86 {
namespace {

TEST(Gdt, EntriesDecodeToFlatSegments) {
  auto gdt = boot_gdt();
  auto cs64 = segment_from_gdt(gdt[kSelCode64 / 8], kSelCode64);
  EXPECT_EQ(cs64.base, 0u);
  EXPECT_EQ(cs64.limit, 0xffffffffu);
  EXPECT_EQ(cs64.l, 1);
  EXPECT_EQ(cs64.db, 0);
  EXPECT_EQ(cs64.type, 0xb);
  EXPECT_EQ(cs64.present, 1);
  auto cs32 = segment_from_gdt(gdt[kSelCode32 / 8], kSelCode32);
  EXPECT_EQ(cs32.l, 0);
  EXPECT_EQ(cs32.db, 1);
  auto ds = segment_from_gdt(gdt[kSelData / 8], kSelData);
  EXPECT_EQ(ds.type, 0x3);
  EXPECT_EQ(ds.s, 1);
  EXPECT_EQ(gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffull);
  EXPECT_EQ(gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffull);
}

TEST(BootCpu, LongModeState) {
  kvm_sregs s{};
  setup_boot_sregs(s, EntryMode::kLong64);
  EXPECT_EQ(s.cs.selector, 0x10);  // __BOOT_CS
  EXPECT_EQ(s.ds.selector, 0x18);  // __BOOT_DS
  EXPECT_EQ(s.ss.selector, 0x18);
  EXPECT_TRUE(s.cr0 & 1);
  EXPECT_TRUE(s.cr0 & (1ull << 31));
  EXPECT_TRUE(s.cr4 & (1ull << 5));
  EXPECT_EQ(s.efer & 0x500, 0x500u);
  EXPECT_EQ(s.cr3, layout::kPml4);
  EXPECT_EQ(s.gdt.base, layout::kBootGdt);
  auto r = boot_regs(EntryMode::kLong64, 0x1000000, layout::kZeroPage);
  EXPECT_EQ(r.rip, 0x1000000u);
  EXPECT_EQ(r.rsi, layout::kZeroPage);
  EXPECT_EQ(r.rflags, 2u);
}

TEST(BootCpu, PvhState) {
  kvm_sregs s{};
  s.cr0 = 0x60000010;
  setup_boot_sregs(s, EntryMode::kProtected32);
  EXPECT_EQ(s.cs.selector, 0x08);
  EXPECT_EQ(s.cs.db, 1);
  EXPECT_EQ(s.cs.l, 0);
  EXPECT_TRUE(s.cr0 & 1);
  EXPECT_FALSE(s.cr0 & (1ull << 31));
  EXPECT_EQ(s.cr4, 0u);
  EXPECT_EQ(s.efer, 0u);
  EXPECT_EQ(s.tr.limit, 0x67u);
  EXPECT_EQ(s.tr.type, 0xb);
  auto r = boot_regs(EntryMode::kProtected32, 0x100000, layout::kPvhStartInfo);
  EXPECT_EQ(r.rbx, layout::kPvhStartInfo);
  EXPECT_EQ(r.rip, 0x100000u);
}

TEST(BootCpu, IdentityPageTablesCoverFourGiB) {
  auto mem = memory::GuestMemory::create({{0, 1 << 20}});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(write_boot_tables(*mem, EntryMode::kLong64).ok());
  uint64_t pml4 = *mem->read_obj<uint64_t>(layout::kPml4);
  EXPECT_EQ(pml4 & ~0xfffull, layout::kPdpt);
  EXPECT_EQ(pml4 & 3, 3u);
  // Walk a few addresses through the tables.
  for (uint64_t va : {0x0ull, 0x1000000ull, 0x7fe00000ull, 0xfee00000ull, 0xffffffffull}) {
    uint64_t pdpte = *mem->read_obj<uint64_t>(layout::kPdpt + ((va >> 30) & 511) * 8);
    ASSERT_TRUE(pdpte & 1);
    uint64_t pde = *mem->read_obj<uint64_t>((pdpte & ~0xfffull) + ((va >> 21) & 511) * 8);
    ASSERT_TRUE(pde & 1);
    ASSERT_TRUE(pde & 0x80);
    EXPECT_EQ((pde & ~0x1fffffull) | (va & 0x1fffff), va);
  }
  uint64_t gdt_code64 = *mem->read_obj<uint64_t>(layout::kBootGdt + 0x10);
  EXPECT_EQ(gdt_code64, 0x00af9b000000ffffull);
}

TEST(BootCpu, MsrsFilteredBySupport) {
  auto m = boot_msrs({0x10, 0x2ff});
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, 0x10u);
  EXPECT_EQ(m[1].second, (1u << 11) | 6u);
  EXPECT_TRUE(boot_msrs({}).empty());
}

TEST(BootCpu, LapicLintPins) {
  kvm_lapic_state l{};
  uint32_t masked = 0x10000;
  std::memcpy(l.regs + 0x350, &masked, 4);
  setup_lapic_lint(l);
  uint32_t lvt0, lvt1;
  std::memcpy(&lvt0, l.regs + 0x350, 4);
  std::memcpy(&lvt1, l.regs + 0x360, 4);
  EXPECT_EQ((lvt0 >> 8) & 7, 7u);  // ExtINT
  EXPECT_EQ((lvt1 >> 8) & 7, 4u);  // NMI
  EXPECT_EQ(lvt0 & 0x10000, 0x10000u);  // mask bit untouched
}

TEST(BootCpu, Fpu) {
  auto f = boot_fpu();
  EXPECT_EQ(f.fcw, 0x37f);
  EXPECT_EQ(f.mxcsr, 0x1f80u);
}

}  // namespace
}  // namespace vireo::arch::x86
