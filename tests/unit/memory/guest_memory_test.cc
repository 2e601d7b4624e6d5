#include "memory/guest_memory.h"

#include <gtest/gtest.h>

#include <array>
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
