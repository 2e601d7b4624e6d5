#include "arch/x86/memory_map.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {
namespace {

TEST(MemoryMap, SmallGuestIsOneRange) {
  auto r = ram_ranges(512ull << 20);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].gpa, 0u);
  EXPECT_EQ(r[0].size, 512ull << 20);
}

TEST(MemoryMap, LargeGuestSkipsMmioHole) {
  auto r = ram_ranges(4ull << 30);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].size, layout::kMmioHoleStart);
  EXPECT_EQ(r[1].gpa, 4ull << 30);
  EXPECT_EQ(r[1].size, 1ull << 30);
}

TEST(MemoryMap, E820MatchesRam) {
  auto e = build_e820(512ull << 20);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].addr, 0u);
  EXPECT_EQ(e[0].size, layout::kEbdaStart);
  EXPECT_EQ(e[0].type, E820Type::kRam);
  EXPECT_EQ(e[1].type, E820Type::kReserved);
  EXPECT_EQ(e[2].addr, layout::kAcpiStart);
  EXPECT_EQ(e[2].type, E820Type::kReserved);
  EXPECT_EQ(e[3].addr, 1ull << 20);
  EXPECT_EQ(e[3].addr + e[3].size, 512ull << 20);
  // Entries are sorted and do not overlap.
  for (size_t i = 1; i < e.size(); ++i) EXPECT_GE(e[i].addr, e[i - 1].addr + e[i - 1].size);
}

TEST(MemoryMap, E820AboveFourGiB) {
  auto e = build_e820(6ull << 30);
  EXPECT_EQ(e.back().addr, 4ull << 30);
  EXPECT_EQ(e.back().size, 3ull << 30);
  EXPECT_EQ(e[3].addr + e[3].size, layout::kMmioHoleStart);
  uint64_t ram = 0;
  for (auto& x : e)
    if (x.type == E820Type::kRam) ram += x.size;
  // All RAM but the EBDA..1 MiB window (EBDA, VGA hole, BIOS/ACPI area) is usable.
  EXPECT_EQ(ram, (6ull << 30) - (layout::kHighMemStart - layout::kEbdaStart));
}

}  // namespace
}  // namespace vireo::arch::x86
