#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/prctl.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>
#include <type_traits>

namespace vireo::memory {
namespace {

GuestMemory two_regions() {
  // [0, 64K) and [64K, 128K): adjacent, separately mapped; [1M, 1M+64K) apart.
  auto m = GuestMemory::create({{0, 0x10000}, {0x10000, 0x10000}, {0x100000, 0x10000}});
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

TEST(GuestMemory, RejectsUnalignedRanges) {
  EXPECT_FALSE(GuestMemory::create({{0, 100}}).ok());
  EXPECT_FALSE(GuestMemory::create({{0x10, 0x1000}}).ok());
}

TEST(GuestMemory, ReadWriteObjects) {
  auto m = two_regions();
  ASSERT_TRUE(m.write_obj<uint64_t>(0x100, 0x1122334455667788ull).ok());
  EXPECT_EQ(*m.read_obj<uint64_t>(0x100), 0x1122334455667788ull);
  EXPECT_EQ(*m.read_obj<uint8_t>(0x100), 0x88);
  EXPECT_EQ(m.total_size(), 0x30000u);
}

TEST(GuestMemory, CopiesAcrossAdjacentRegions) {
  auto m = two_regions();
  std::array<uint8_t, 8> in = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_TRUE(m.write(0xfffc, in).ok());
  std::array<uint8_t, 8> out{};
  ASSERT_TRUE(m.read(0xfffc, out).ok());
  EXPECT_EQ(in, out);
  // slice() must not hand out a view spanning two mappings.
  EXPECT_FALSE(m.slice(0xfffc, 8).ok());
  EXPECT_TRUE(m.slice(0xfff8, 8).ok());
}

TEST(GuestMemory, SliceIsReadOnlyAndWritableSliceWrites) {
  auto m = two_regions();
  ASSERT_TRUE(m.write_obj<uint32_t>(0x200, 0x04030201).ok());
  auto view = m.slice(0x200, 4);
  ASSERT_TRUE(view.ok());
  static_assert(std::is_const_v<std::remove_reference_t<decltype(view->front())>>);
  EXPECT_EQ((*view)[3], 4);
  {
    auto w = m.writable_slice(0x200, 4);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->gpa(), 0x200u);
    ASSERT_EQ(w->bytes().size(), 4u);
    w->bytes()[0] = 9;
  }
  EXPECT_EQ(*m.read_obj<uint32_t>(0x200), 0x04030209u);
}

TEST(GuestMemory, AtomicAccessorsRoundTrip) {
  auto m = two_regions();
  ASSERT_TRUE(m.store_release<uint16_t>(0x100, 0xbeef).ok());
  ASSERT_TRUE(m.store_release<uint32_t>(0x104, 0x11223344).ok());
  ASSERT_TRUE(m.store_release<uint64_t>(0x108, 0x0102030405060708ull).ok());
  EXPECT_EQ(*m.load_acquire<uint16_t>(0x100), 0xbeef);
  EXPECT_EQ(*m.load_acquire<uint32_t>(0x104), 0x11223344u);
  EXPECT_EQ(*m.load_acquire<uint64_t>(0x108), 0x0102030405060708ull);
  // The same bytes as the copies see them: little-endian, in place.
  EXPECT_EQ(*m.read_obj<uint8_t>(0x104), 0x44);
  EXPECT_EQ(*m.read_obj<uint64_t>(0x100), 0x11223344'0000beefull);
  ASSERT_TRUE(m.write_obj<uint16_t>(0x10fffe, 0x1234).ok());  // last 2 bytes of RAM
  EXPECT_EQ(*m.load_acquire<uint16_t>(0x10fffe), 0x1234);
  EXPECT_EQ(*m.load_acquire<uint64_t>(0xfff8), 0u);  // last word of region 0
}

TEST(GuestMemory, AtomicAccessorsRejectMisalignment) {
  auto m = two_regions();
  EXPECT_FALSE(m.load_acquire<uint16_t>(0x101).ok());
  EXPECT_FALSE(m.load_acquire<uint32_t>(0x102).ok());
  EXPECT_FALSE(m.load_acquire<uint64_t>(0x104).ok());
  EXPECT_FALSE(m.store_release<uint16_t>(0x101, 1).ok());
  EXPECT_FALSE(m.store_release<uint32_t>(0x106, 1).ok());
  EXPECT_FALSE(m.store_release<uint64_t>(0xfffc, 1).ok());  // would straddle two mappings
  auto r = m.load_acquire<uint32_t>(0x102);
  EXPECT_NE(r.error().message().find("aligned"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("0x102"), std::string::npos) << r.error().message();
  EXPECT_EQ(*m.read_obj<uint64_t>(0xfff8), 0u);  // nothing stored
}

TEST(GuestMemory, AtomicAccessorsRejectOutOfRange) {
  auto m = two_regions();
  EXPECT_FALSE(m.load_acquire<uint16_t>(0x20000).ok());  // in the gap
  EXPECT_FALSE(m.load_acquire<uint64_t>(0x110000).ok());  // past the end
  EXPECT_FALSE(m.load_acquire<uint64_t>(~0ull - 7).ok());  // top of the address space
  EXPECT_FALSE(m.store_release<uint32_t>(0x20000, 1).ok());
  EXPECT_FALSE(m.store_release<uint16_t>(~0ull - 1, 1).ok());
  auto r = m.store_release<uint16_t>(0x20000, 1);
  EXPECT_NE(r.error().message().find("outside guest memory"), std::string::npos);
}

TEST(GuestMemory, RejectsOutOfRangeAccess) {
  auto m = two_regions();
  std::array<uint8_t, 16> buf{};
  EXPECT_FALSE(m.read(0x20000, buf).ok());        // in the gap
  EXPECT_FALSE(m.read(0x1ffff, buf).ok());        // runs into the gap
  EXPECT_FALSE(m.write(0x10fff8, buf).ok());      // runs past the end
  EXPECT_FALSE(m.read(~0ull - 4, buf).ok());      // wraps around
  EXPECT_FALSE(m.slice(0x100000, 0x10001).ok());
  EXPECT_FALSE(m.slice(~0ull, 2).ok());
  EXPECT_FALSE(m.read_obj<uint32_t>(0x10fffe).ok());
  auto r = m.read(0x20000, buf);
  EXPECT_NE(r.error().message().find("0x20000"), std::string::npos);
}

TEST(GuestMemory, ContainsChecksWholeRange) {
  auto m = two_regions();
  EXPECT_TRUE(m.contains(0, 0x10000));
  EXPECT_FALSE(m.contains(0, 0x10001));
  EXPECT_TRUE(m.contains(0x100000, 0x10000));
  EXPECT_FALSE(m.contains(0x50000, 1));
}

TEST(GuestMemory, BackedBySharedMemfd) {
  auto made = GuestMemory::create({{0, 0x10000}, {0x10000, 0x10000}, {0x100000, 0x10000}},
                                  "test-ram", GuestMemory::Backing::kSharedMemfd);
  ASSERT_TRUE(made.ok()) << made.error().message();
  auto& m = *made;
  ASSERT_GE(m.memfd(), 0);
  ASSERT_TRUE(m.write_obj<uint32_t>(0x100000, 0xdeadbeef).ok());
  // The third region starts at offset 128K of the memfd.
  uint32_t v = 0;
  ASSERT_EQ(::pread(m.memfd(), &v, 4, 0x20000), 4);
  EXPECT_EQ(v, 0xdeadbeefu);
}

// The smaps entry of the mapping that holds `host`: its header line and fields.
std::string smaps_entry(const void* host) {
  std::ifstream f("/proc/self/smaps");
  std::string line, entry;
  bool in = false;
  const auto at = reinterpret_cast<uintptr_t>(host);
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > 8) {
      if (in) break;
      in = at >= lo && at < hi;
    }
    if (in) entry += line + "\n";
  }
  return entry;
}

// Whether this kernel names anonymous mappings (CONFIG_ANON_VMA_NAME).
bool kernel_names_anonymous_mappings() {
  void* p = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = ::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, 4096, "probe") == 0;
  ::munmap(p, 4096);
  return ok;
}

TEST(GuestMemory, PrivateBackingIsNamedAndAdvisedForHugePages) {
  auto m = two_regions();
  EXPECT_LT(m.memfd(), 0);
  const bool named = kernel_names_anonymous_mappings();
  for (const auto& r : m.regions()) {
    const std::string e = smaps_entry(r.host);
    ASSERT_FALSE(e.empty());
    // MADV_HUGEPAGE ("hg" in VmFlags) on every region, and its name where the kernel
    // keeps names (adjacent regions may share one mapping).
    if (named) EXPECT_NE(e.find("[anon:vireo-guest-ram]"), std::string::npos) << e;
    auto flags = e.find("VmFlags:");
    ASSERT_NE(flags, std::string::npos) << e;
    EXPECT_NE(e.find(" hg", flags), std::string::npos) << e;
  }
}

class GuestMemoryBacking : public ::testing::TestWithParam<GuestMemory::Backing> {};

TEST_P(GuestMemoryBacking, DiscardZeroesWholePagesAndKeepsTheirNeighbours) {
  auto made = GuestMemory::create({{0, 0x10000}}, "test-ram", GetParam());
  ASSERT_TRUE(made.ok()) << made.error().message();
  auto& m = *made;
  std::vector<uint8_t> ones(0x10000, 0x5a);
  ASSERT_TRUE(m.write(0, ones).ok());
  ASSERT_TRUE(m.start_dirty_tracking().ok());
  ASSERT_TRUE(m.discard(0x2000, 0x3000).ok());
  std::vector<uint8_t> back(0x10000);
  ASSERT_TRUE(m.read(0, back).ok());
  for (uint64_t i = 0; i < back.size(); ++i)
    ASSERT_EQ(back[i], i >= 0x2000 && i < 0x5000 ? 0 : 0x5a) << "byte " << i;
  // A discard changes the contents: its pages count as written.
  auto bitmap = m.take_dirty_bitmap(0);
  ASSERT_TRUE(bitmap.ok());
  EXPECT_EQ((*bitmap)[0], 0b11100u);
  EXPECT_FALSE(m.discard(0x2001, 0x1000).ok());
  EXPECT_FALSE(m.discard(0x2000, 0x800).ok());
  EXPECT_FALSE(m.discard(0xf000, 0x2000).ok());
}

INSTANTIATE_TEST_SUITE_P(Backings, GuestMemoryBacking,
                         ::testing::Values(GuestMemory::Backing::kPrivate,
                                           GuestMemory::Backing::kSharedMemfd),
                         [](const auto& info) {
                           return info.param == GuestMemory::Backing::kPrivate ? "Private"
                                                                               : "SharedMemfd";
                         });

}  // namespace
}  // namespace vireo::memory
