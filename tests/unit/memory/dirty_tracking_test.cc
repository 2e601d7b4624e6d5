// GuestMemory's log of the pages the VMM writes (the DirtyBitmap of each region).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <thread>
#include <vector>

#include "memory/guest_memory.h"

namespace vireo::memory {
namespace {

// Region 0: [0, 64K) (16 pages), region 1: [64K, 128K) adjacent to it, region 2:
// [1M, 1.5M) (128 pages: two bitmap words).
class DirtyTracking : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create({{0, 0x10000}, {0x10000, 0x10000}, {0x100000, 0x80000}});
    ASSERT_TRUE(m.ok()) << m.error().message();
    mem = std::move(*m);
  }
  void start() {
    auto r = mem.start_dirty_tracking();
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  std::vector<uint64_t> take(size_t region) {
    auto b = mem.take_dirty_bitmap(region);
    EXPECT_TRUE(b.ok()) << b.error().message();
    return b.ok() ? *b : std::vector<uint64_t>{};
  }
  // True if no region has a page marked (and clears them).
  bool all_clean() {
    bool clean = true;
    for (size_t i = 0; i < mem.regions().size(); ++i)
      for (uint64_t w : take(i)) clean = clean && w == 0;
    return clean;
  }
  GuestMemory mem;
};

TEST_F(DirtyTracking, BitmapPerRegionInKvmLayout) {
  EXPECT_EQ(take(0).size(), 1u);
  EXPECT_EQ(take(2).size(), 2u);
  start();
  EXPECT_TRUE(mem.dirty_tracking());
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x100000, 1).ok());                // region 2, page 0
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x100000 + 65 * kPageSize, 1).ok());  // page 65
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x3000, 1).ok());                  // region 0, page 3
  EXPECT_EQ(take(2), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(take(0), (std::vector<uint64_t>{8}));
  EXPECT_EQ(take(1), (std::vector<uint64_t>{0}));
  EXPECT_FALSE(mem.take_dirty_bitmap(3).ok());
}

TEST_F(DirtyTracking, WritesMarkEveryPageTheyTouch) {
  start();
  std::vector<uint8_t> data(0x2001, 0xaa);
  ASSERT_TRUE(mem.write(0x1fff, data).ok());  // bytes 0x1fff..0x3fff: pages 1, 2, 3
  EXPECT_EQ(take(0), (std::vector<uint64_t>{0xe}));
  std::array<uint8_t, 2> two{1, 2};
  ASSERT_TRUE(mem.write(0xffff, two).ok());  // last byte of region 0, first of region 1
  EXPECT_EQ(take(0), (std::vector<uint64_t>{1ull << 15}));
  EXPECT_EQ(take(1), (std::vector<uint64_t>{1}));
  std::vector<uint8_t> across(0x80000, 0);
  ASSERT_TRUE(mem.write(0x100000, across).ok());  // all of region 2
  EXPECT_EQ(take(2), (std::vector<uint64_t>{~0ull, ~0ull}));
}

TEST_F(DirtyTracking, FailedWriteMarksWhatItChanged) {
  start();
  std::array<uint8_t, 16> buf{};
  EXPECT_FALSE(mem.write(0x1fff8, buf).ok());  // 8 bytes in region 1, then the gap
  EXPECT_EQ(take(1), (std::vector<uint64_t>{1ull << 15}));
  EXPECT_TRUE(all_clean());
}

TEST_F(DirtyTracking, EveryWritePathMarksAndReadsDoNot) {
  start();
  uint8_t out[4];
  ASSERT_TRUE(mem.read(0x1000, out).ok());
  ASSERT_TRUE(mem.read_obj<uint32_t>(0x2000).ok());
  ASSERT_TRUE(mem.load_acquire<uint64_t>(0x3000).ok());
  ASSERT_TRUE(mem.slice(0x4000, 8).ok());
  EXPECT_TRUE(all_clean());

  ASSERT_TRUE(mem.write_obj<uint32_t>(0x1000, 1).ok());
  ASSERT_TRUE(mem.store_release<uint16_t>(0x2000, 1).ok());
  ASSERT_TRUE(mem.store_release<uint32_t>(0x3000, 1).ok());
  ASSERT_TRUE(mem.store_release<uint64_t>(0x4000, 1).ok());
  EXPECT_EQ(take(0), (std::vector<uint64_t>{0x1e}));
}

// A WritableSlice marks its range when released, after the caller wrote through it.
TEST_F(DirtyTracking, WritableSliceMarksWhenReleased) {
  start();
  {
    auto s = mem.writable_slice(0x10000 + 0x1ff0, 0x20);  // region 1, pages 1 and 2
    ASSERT_TRUE(s.ok());
    s->bytes()[0] = 7;
    EXPECT_EQ(take(1), (std::vector<uint64_t>{0}));
    WritableSlice moved(std::move(*s));  // the moved-from slice marks nothing
  }
  EXPECT_EQ(take(1), (std::vector<uint64_t>{0x6}));
  EXPECT_EQ(*mem.read_obj<uint8_t>(0x11ff0), 7);
  EXPECT_FALSE(mem.writable_slice(0xfffc, 8).ok());  // across two mappings
  EXPECT_FALSE(mem.writable_slice(0x20000, 1).ok());
}

TEST_F(DirtyTracking, NothingMarkedWhileOff) {
  EXPECT_FALSE(mem.dirty_tracking());
  std::array<uint8_t, 8> buf{1};
  ASSERT_TRUE(mem.write(0x1000, buf).ok());
  ASSERT_TRUE(mem.store_release<uint16_t>(0x2000, 1).ok());
  { auto s = mem.writable_slice(0x3000, 8); }
  mem.mark_dirty(0, 0x200000);
  EXPECT_TRUE(all_clean());

  start();
  mem.stop_dirty_tracking();
  EXPECT_FALSE(mem.dirty_tracking());
  ASSERT_TRUE(mem.write(0x1000, buf).ok());
  EXPECT_TRUE(all_clean());
}

TEST_F(DirtyTracking, TakeAndStartClear) {
  start();
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x5000, 1).ok());
  EXPECT_EQ(take(0), (std::vector<uint64_t>{0x20}));
  EXPECT_EQ(take(0), (std::vector<uint64_t>{0}));
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x5000, 1).ok());
  mem.stop_dirty_tracking();
  start();  // a new session starts from a clean bitmap
  EXPECT_TRUE(all_clean());
}

TEST_F(DirtyTracking, MarkDirtySkipsWhatIsNotRam) {
  start();
  mem.mark_dirty(0x1f000, 0x100000 + 0x2000 - 0x1f000);  // end of region 1, gap, region 2
  EXPECT_EQ(take(1), (std::vector<uint64_t>{1ull << 15}));
  EXPECT_EQ(take(2), (std::vector<uint64_t>{3, 0}));
  mem.mark_dirty(~0ull - 0x10, 0x100);  // wraps: nothing there
  mem.mark_dirty(0x1000, 0);
  EXPECT_TRUE(all_clean());
}

TEST_F(DirtyTracking, MoveKeepsTrackingAndBits) {
  start();
  ASSERT_TRUE(mem.write_obj<uint8_t>(0x100000, 1).ok());
  GuestMemory moved(std::move(mem));
  EXPECT_TRUE(moved.dirty_tracking());
  EXPECT_FALSE(mem.dirty_tracking());  // NOLINT(bugprone-use-after-move): moved-from is empty
  ASSERT_TRUE(moved.write_obj<uint8_t>(0x101000, 1).ok());
  GuestMemory assigned;
  assigned = std::move(moved);
  EXPECT_TRUE(assigned.dirty_tracking());
  ASSERT_TRUE(assigned.write_obj<uint8_t>(0x102000, 1).ok());
  auto b = assigned.take_dirty_bitmap(2);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, (std::vector<uint64_t>{7, 0}));
}

// Device threads and vCPU threads mark at the same time; no page may be lost, also
// while the bitmap is being taken.
TEST_F(DirtyTracking, ConcurrentWritersLoseNoPages) {
  start();
  constexpr int kThreads = 4;
  constexpr uint64_t kPages = 128;  // region 2
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (uint64_t p = t; p < kPages; p += kThreads)
          ASSERT_TRUE(mem.store_release<uint16_t>(0x100000 + p * kPageSize, 1).ok());
        done.fetch_add(1);
      });
    std::vector<uint64_t> seen(2, 0);
    auto collect = [&] {
      auto b = take(2);
      for (size_t w = 0; w < b.size(); ++w) seen[w] |= b[w];
    };
    while (done.load() < kThreads) collect();
    for (auto& th : threads) th.join();
    collect();
    ASSERT_EQ(seen, (std::vector<uint64_t>{~0ull, ~0ull})) << "round " << round;
  }
}

}  // namespace
}  // namespace vireo::memory
