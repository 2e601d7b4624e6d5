#include "vmm/address_allocator.h"

#include <gtest/gtest.h>

namespace vireo::vmm {
namespace {

TEST(AddressAllocator, FirstFitWithAlignment) {
  AddressAllocator a("test space", 0x1000, 0x10000);
  EXPECT_EQ(*a.allocate(0x100, 0x1000), 0x1000u);
  EXPECT_EQ(*a.allocate(0x100, 0x1000), 0x2000u) << "aligned past the first";
  EXPECT_EQ(*a.allocate(0x10, 0x10), 0x1100u) << "fits in the gap after the first";
  ASSERT_TRUE(a.release(0x1000).ok());
  EXPECT_EQ(*a.allocate(0x100, 0x100), 0x1000u) << "a released range is reused";
  EXPECT_FALSE(a.release(0x5555).ok());
}

TEST(AddressAllocator, RefusesWhatDoesNotFit) {
  AddressAllocator a("MMIO test", 0x1000, 0x3000);
  EXPECT_FALSE(a.allocate(0x3000, 0x1000).ok());
  EXPECT_FALSE(a.allocate(0, 0x1000).ok());
  EXPECT_FALSE(a.allocate(0x10, 3).ok()) << "alignment must be a power of two";
  ASSERT_TRUE(a.allocate(0x2000, 0x1000).ok());
  auto full = a.allocate(0x1, 0x1);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.error().message().find("MMIO test"), std::string::npos) << full.error().message();
  // Near the top of the address space: no wrap-around.
  AddressAllocator top("top", 0xfffffffffffff000, 0xffffffffffffffff);
  EXPECT_FALSE(top.allocate(0x1000, 0x1000).ok());
  EXPECT_EQ(*top.allocate(0x800, 0x800), 0xfffffffffffff000u);
  EXPECT_FALSE(top.allocate(0x800, 0x1000).ok());
}

TEST(AddressAllocator, AllocateAt) {
  AddressAllocator a("space", 0x1000, 0x9000);
  ASSERT_TRUE(a.allocate_at(0x4000, 0x1000).ok());
  EXPECT_FALSE(a.allocate_at(0x4800, 0x100).ok()) << "overlaps";
  EXPECT_FALSE(a.allocate_at(0x3800, 0x1000).ok()) << "overlaps from below";
  EXPECT_FALSE(a.allocate_at(0x8800, 0x1000).ok()) << "past the end";
  EXPECT_FALSE(a.allocate_at(0x0, 0x1000).ok()) << "before the start";
  EXPECT_EQ(*a.allocate(0x3000, 0x1000), 0x1000u);
  EXPECT_EQ(*a.allocate(0x1000, 0x1000), 0x5000u) << "skips the fixed range";
}

TEST(IdAllocator, LowestFreeAndReservations) {
  IdAllocator ids("GSIs", 5, 8);
  ids.reserve(6);
  ids.reserve(100);  // not ours: ignored
  EXPECT_EQ(*ids.allocate(), 5u);
  EXPECT_EQ(*ids.allocate(), 7u);
  EXPECT_FALSE(ids.allocate_at(7).ok());
  EXPECT_FALSE(ids.allocate_at(9).ok());
  EXPECT_TRUE(ids.allocate_at(8).ok());
  EXPECT_FALSE(ids.allocate().ok());
  ASSERT_TRUE(ids.release(5).ok());
  EXPECT_EQ(*ids.allocate(), 5u);
  EXPECT_FALSE(ids.release(42).ok());
}

}  // namespace
}  // namespace vireo::vmm
