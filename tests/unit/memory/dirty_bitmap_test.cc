#include "memory/dirty_bitmap.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace vireo::memory {
namespace {

DirtyBitmap make(uint64_t pages) {
  auto b = DirtyBitmap::create(pages);
  EXPECT_TRUE(b.ok()) << b.error().message();
  return std::move(*b);
}

TEST(DirtyBitmap, OneBitPerPageInWholeWords) {
  EXPECT_EQ(make(0).words(), 0u);
  EXPECT_EQ(make(1).words(), 1u);
  EXPECT_EQ(make(64).words(), 1u);
  EXPECT_EQ(make(65).words(), 2u);
  EXPECT_EQ(make(262144).words(), 4096u);  // 1 GiB of 4-KiB pages: 32 KiB of bitmap
  EXPECT_TRUE(make(0).take().empty());
}

// KVM_GET_DIRTY_LOG: bit i of word w is page w * 64 + i.
TEST(DirtyBitmap, KvmLayout) {
  auto b = make(200);
  b.mark(0, 1);
  b.mark(65, 66);
  b.mark(199, 200);
  auto words = b.take();
  ASSERT_EQ(words.size(), 4u);
  EXPECT_EQ(words[0], 1u);
  EXPECT_EQ(words[1], 2u);
  EXPECT_EQ(words[2], 0u);
  EXPECT_EQ(words[3], 1ull << (199 - 192));
  // As bytes (what KVM copies to user space), bit j of byte k is page 8k + j.
  b.mark(9, 10);
  words = b.take();
  uint8_t bytes[32];
  std::memcpy(bytes, words.data(), sizeof(bytes));
  EXPECT_EQ(bytes[1], 2);
  for (size_t i = 0; i < sizeof(bytes); ++i)
    if (i != 1) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(DirtyBitmap, RangesAcrossWords) {
  auto b = make(256);
  b.mark(60, 70);  // pages 60..69
  auto words = b.take();
  EXPECT_EQ(words[0], 0xf000000000000000ull);
  EXPECT_EQ(words[1], 0x3full);
  b.mark(0, 256);
  words = b.take();
  for (uint64_t w : words) EXPECT_EQ(w, ~0ull);
  b.mark(64, 128);
  words = b.take();
  EXPECT_EQ(words, (std::vector<uint64_t>{0, ~0ull, 0, 0}));
  b.mark(5, 5);  // empty
  b.mark(7, 3);  // empty
  EXPECT_EQ(b.take(), (std::vector<uint64_t>(4, 0)));
}

TEST(DirtyBitmap, IgnoresPagesPastTheEnd) {
  auto b = make(70);
  b.mark(68, 1000);
  b.mark(500, 600);
  EXPECT_EQ(b.take(), (std::vector<uint64_t>{0, 0x30}));
}

TEST(DirtyBitmap, TakeAndClearEmptyIt) {
  auto b = make(64);
  b.mark(3, 4);
  EXPECT_EQ(b.take()[0], 8u);
  EXPECT_EQ(b.take()[0], 0u);
  b.mark(3, 4);
  b.clear();
  EXPECT_EQ(b.take()[0], 0u);
}

TEST(DirtyBitmap, MoveKeepsBits) {
  auto a = make(64);
  a.mark(1, 2);
  DirtyBitmap b(std::move(a));
  EXPECT_EQ(a.words(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  a.mark(0, 64);             // and ignores marks
  DirtyBitmap c;
  c = std::move(b);
  EXPECT_EQ(c.take(), (std::vector<uint64_t>{2}));
}

// Threads marking interleaved pages contend on every word: a non-atomic OR loses bits.
TEST(DirtyBitmap, ConcurrentMarksLoseNoBits) {
  constexpr int kThreads = 4;
  constexpr uint64_t kPages = 64 * 256;
  auto b = make(kPages);
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        for (uint64_t p = t; p < kPages; p += kThreads) b.mark(p, p + 1);
      });
    for (auto& th : threads) th.join();
    auto words = b.take();
    for (size_t w = 0; w < words.size(); ++w)
      ASSERT_EQ(words[w], ~0ull) << "round " << round << ", word " << w;
  }
}

// take() racing with marks: every page marked is in exactly one of the takes.
TEST(DirtyBitmap, TakeRacingWithMarksLosesNoBits) {
  constexpr int kThreads = 2;
  constexpr uint64_t kPages = 64 * 256;
  auto b = make(kPages);
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        for (uint64_t p = t; p < kPages; p += kThreads) b.mark(p, p + 1);
        done.fetch_add(1);
      });
    std::vector<uint64_t> seen(b.words(), 0);
    uint64_t twice = 0;
    auto collect = [&] {
      auto words = b.take();
      for (size_t w = 0; w < words.size(); ++w) {
        twice |= seen[w] & words[w];
        seen[w] |= words[w];
      }
    };
    while (done.load() < kThreads) collect();
    for (auto& th : threads) th.join();
    collect();
    EXPECT_EQ(twice, 0u);
    for (size_t w = 0; w < seen.size(); ++w)
      ASSERT_EQ(seen[w], ~0ull) << "round " << round << ", word " << w;
  }
}

}  // namespace
}  // namespace vireo::memory
