#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include <array>

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
  auto m = two_regions();
  ASSERT_GE(m.memfd(), 0);
  ASSERT_TRUE(m.write_obj<uint32_t>(0x100000, 0xdeadbeef).ok());
  // The third region starts at offset 128K of the memfd.
  uint32_t v = 0;
  ASSERT_EQ(::pread(m.memfd(), &v, 4, 0x20000), 4);
  EXPECT_EQ(v, 0xdeadbeefu);
}

}  // namespace
}  // namespace vireo::memory
