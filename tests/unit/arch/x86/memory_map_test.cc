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

TEST(MemoryMap, E820WithoutExtraRangesIsUnchanged) {
  for (uint64_t mem : {16ull << 20, 512ull << 20, 6ull << 30}) {
    auto a = build_e820(mem);
    auto b = build_e820(mem, {});
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].addr, b[i].addr);
      EXPECT_EQ(a[i].size, b[i].size);
      EXPECT_EQ(a[i].type, b[i].type);
    }
  }
}

TEST(MemoryMap, E820ReservesPciEcam) {
  // What Linux checks before using MMCONFIG: the whole ECAM range is one reserved entry.
  for (uint64_t mem : {512ull << 20, 6ull << 30}) {
    SCOPED_TRACE(mem);
    const E820Entry ecam[] = {{layout::kPciEcamBase, layout::kPciEcamSize, E820Type::kRam}};
    auto e = build_e820(mem, ecam);
    ASSERT_EQ(e.size(), build_e820(mem).size() + 1);
    size_t found = 0;
    for (const auto& x : e) {
      if (x.addr != layout::kPciEcamBase) continue;
      ++found;
      EXPECT_EQ(x.size, layout::kPciEcamSize);
      EXPECT_EQ(x.type, E820Type::kReserved) << "listed as reserved whatever it was given as";
    }
    EXPECT_EQ(found, 1u);
    for (size_t i = 1; i < e.size(); ++i)
      EXPECT_GE(e[i].addr, e[i - 1].addr + e[i - 1].size) << "sorted, no overlap at " << i;
    uint64_t ram = 0;
    for (const auto& x : e)
      if (x.type == E820Type::kRam) ram += x.size;
    EXPECT_EQ(ram, mem - (layout::kHighMemStart - layout::kEbdaStart)) << "RAM unchanged";
  }
}

TEST(MemoryMap, E820SortsSeveralReservedRanges) {
  const E820Entry extra[] = {
      {layout::kPciEcamBase, layout::kPciEcamSize, E820Type::kReserved},
      {0xfe000000, 0x1000, E820Type::kReserved},
      {0xd0000000, 0x2000, E820Type::kReserved},
      {0xd8000000, 0, E820Type::kReserved},  // empty: left out
  };
  auto e = build_e820(6ull << 30, extra);
  ASSERT_EQ(e.size(), build_e820(6ull << 30).size() + 3);
  for (size_t i = 1; i < e.size(); ++i) EXPECT_GT(e[i].addr, e[i - 1].addr);
  EXPECT_EQ(e.back().addr, 4ull << 30) << "high RAM stays last";
  EXPECT_EQ(e[e.size() - 2].addr, 0xfe000000u);
  EXPECT_EQ(e[e.size() - 3].addr, layout::kPciEcamBase);
  EXPECT_EQ(e[e.size() - 4].addr, 0xd0000000u);
}

}  // namespace
}  // namespace vireo::arch::x86
