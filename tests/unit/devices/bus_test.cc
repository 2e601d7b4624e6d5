#include "devices/bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "stateless_device.h"

namespace vireo::devices {
namespace {

class Recorder : public StatelessTestDevice {
 public:
  explicit Recorder(uint8_t tag = 0) : tag(tag) {}
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    last_width = data.size();
    for (auto& b : data) b = static_cast<uint8_t>(tag + offset);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_width = data.size();
    last_write.assign(data.begin(), data.end());
  }
  uint8_t tag;
  uint64_t last_offset = ~0ull;
  size_t last_width = 0;
  std::vector<uint8_t> last_write;
};

TEST(Bus, DispatchesWithOffsets) {
  Bus bus;
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(a, 0x3f8, 8).ok());
  ASSERT_TRUE(bus.insert(b, 0x70, 2).ok());
  uint8_t v[1];
  EXPECT_TRUE(bus.read(0x3fd, v));
  EXPECT_EQ(a->last_offset, 5u);
  EXPECT_EQ(v[0], 5);
  uint8_t w[2] = {1, 2};
  EXPECT_TRUE(bus.write(0x71, w));
  EXPECT_EQ(b->last_offset, 1u);
  EXPECT_EQ(b->last_write, (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(a->last_offset, 5u) << "the other device saw nothing";
  EXPECT_EQ(bus.size(), 2u);
}

TEST(Bus, AccessWidthIsTheSpanSize) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(d, 0xd0000000, 0x1000).ok());
  for (size_t width : {1u, 2u, 4u, 8u}) {
    std::vector<uint8_t> buf(width);
    ASSERT_TRUE(bus.read(0xd0000010, buf));
    EXPECT_EQ(d->last_width, width);
    EXPECT_EQ(d->last_offset, 0x10u);
  }
}

TEST(Bus, AccessIsRoutedByItsFirstAddress) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(d, 0xf4, 4).ok());
  uint8_t v[4];
  EXPECT_TRUE(bus.read(0xf7, v));  // runs past the end: still the device's, offset 3
  EXPECT_EQ(d->last_offset, 3u);
  EXPECT_EQ(d->last_width, 4u);
}

TEST(Bus, UnmappedAccessesReportFalseAndLeaveDataAlone) {
  Bus bus;
  ASSERT_TRUE(bus.insert(std::make_shared<Recorder>(), 0x100, 0x10).ok());
  uint8_t v[4] = {1, 2, 3, 4};
  EXPECT_FALSE(bus.read(0xff, v));
  EXPECT_FALSE(bus.read(0x110, v));
  EXPECT_FALSE(bus.read(~0ull, v));
  EXPECT_FALSE(bus.write(0, v));
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v[3], 4);
  EXPECT_TRUE(bus.read(0x10f, v));
  EXPECT_TRUE(bus.read(0x100, v));
  Bus empty;
  EXPECT_FALSE(empty.read(0, v));
  EXPECT_FALSE(empty.write(0x3f8, v));
}

TEST(Bus, UnmappedReadsFloatHighWithTheHelper) {
  Bus bus;
  ASSERT_TRUE(bus.insert(std::make_shared<Recorder>(7), 0x60, 1).ok());
  uint8_t v[2] = {0, 0};
  EXPECT_FALSE(bus.read_or_all_ones(0x80, v));
  EXPECT_EQ(v[0], 0xff);
  EXPECT_EQ(v[1], 0xff);
  EXPECT_TRUE(bus.read_or_all_ones(0x60, v));
  EXPECT_EQ(v[0], 7);
}

TEST(Bus, RejectsOverlapsAndEmptyRanges) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(d, 0x100, 0x10).ok());
  EXPECT_FALSE(bus.insert(d, 0x100, 1).ok());      // same start
  EXPECT_FALSE(bus.insert(d, 0xf8, 0x9).ok());     // tail overlaps
  EXPECT_FALSE(bus.insert(d, 0x10f, 0x10).ok());   // head overlaps
  EXPECT_FALSE(bus.insert(d, 0x80, 0x100).ok());   // covers it
  EXPECT_FALSE(bus.insert(d, 0x104, 2).ok());      // inside it
  EXPECT_FALSE(bus.insert(d, 0x0, 0).ok());        // empty
  EXPECT_FALSE(bus.insert(d, ~0ull, 2).ok());      // wraps
  EXPECT_FALSE(bus.insert(nullptr, 0x200, 1).ok());
  EXPECT_TRUE(bus.insert(d, 0xf0, 0x10).ok());   // adjacent below
  EXPECT_TRUE(bus.insert(d, 0x110, 0x10).ok());  // adjacent above
  EXPECT_TRUE(bus.insert(d, ~0ull, 1).ok());     // the very last address
  EXPECT_FALSE(bus.insert(d, ~0ull - 1, 2).ok());
  EXPECT_EQ(bus.size(), 4u);
  uint8_t v;
  EXPECT_TRUE(bus.read(~0ull, std::span<uint8_t>(&v, 1)));
}

TEST(Bus, ErrorsNameTheRanges) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(d, 0x3f8, 8).ok());
  auto r = bus.insert(d, 0x3fc, 8);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("0x3fc-0x403"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("0x3f8-0x3ff"), std::string::npos) << r.error().message();
  auto e = bus.insert(d, 0x500, 0);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("0x500"), std::string::npos) << e.error().message();
}

TEST(Bus, LooksUpAmongManyRangesInAnyInsertionOrder) {
  Bus bus;
  std::vector<std::shared_ptr<Recorder>> devs;
  // Ranges [i*0x10, i*0x10+8) inserted in a scrambled order; gaps between them.
  for (int k = 0; k < 64; ++k) {
    int i = (k * 37) % 64;
    devs.resize(64);
    devs[i] = std::make_shared<Recorder>(static_cast<uint8_t>(i));
    ASSERT_TRUE(bus.insert(devs[i], static_cast<uint64_t>(i) * 0x10, 8).ok());
  }
  for (uint64_t addr = 0; addr < 64 * 0x10 + 0x10; ++addr) {
    uint8_t v = 0;
    bool mapped = addr % 0x10 < 8 && addr < 64 * 0x10;
    ASSERT_EQ(bus.read(addr, std::span<uint8_t>(&v, 1)), mapped) << std::hex << addr;
    if (mapped) {
      EXPECT_EQ(v, static_cast<uint8_t>(addr / 0x10 + addr % 0x10)) << std::hex << addr;
    }
  }
}

TEST(Bus, ConcurrentLookups) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(std::make_shared<Recorder>(1), 0x10, 4).ok());
  std::atomic<int> hits{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        uint8_t v;
        if (bus.read(0x10 + i % 8, std::span<uint8_t>(&v, 1))) hits.fetch_add(1);
      }
    });
  }
  // Insert while they look up: the lock makes it safe.
  ASSERT_TRUE(bus.insert(d, 0x100, 4).ok());
  for (auto& t : threads) t.join();
  EXPECT_EQ(hits.load(), 4 * 20000 / 2);
}

// A device whose handler registers another device on the same bus (as a PCI BAR write
// might): the bus lock is not held while the device runs.
class Inserter : public StatelessTestDevice {
 public:
  explicit Inserter(Bus& bus) : bus_(bus) {}
  void read(uint64_t, std::span<uint8_t> data) override { for (auto& b : data) b = 0; }
  void write(uint64_t, std::span<const uint8_t>) override {
    ok = bus_.insert(std::make_shared<Recorder>(9), 0x900, 1).ok();
  }
  bool ok = false;

 private:
  Bus& bus_;
};

TEST(Bus, DeviceMayInsertFromItsHandler) {
  Bus bus;
  auto ins = std::make_shared<Inserter>(bus);
  ASSERT_TRUE(bus.insert(ins, 0x800, 1).ok());
  uint8_t v = 1;
  EXPECT_TRUE(bus.write(0x800, std::span<const uint8_t>(&v, 1)));
  EXPECT_TRUE(ins->ok);
  EXPECT_TRUE(bus.read(0x900, std::span<uint8_t>(&v, 1)));
  EXPECT_EQ(v, 9);
}

TEST(Bus, RemoveUnregistersOneRange) {
  Bus bus;
  auto a = std::make_shared<Recorder>(1);
  auto b = std::make_shared<Recorder>(2);
  ASSERT_TRUE(bus.insert(a, 0x1000, 0x100).ok());
  ASSERT_TRUE(bus.insert(b, 0x2000, 0x100).ok());
  auto removed = bus.remove(0x1000);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->get(), a.get());
  uint8_t v[1];
  EXPECT_FALSE(bus.read(0x1000, v));
  EXPECT_TRUE(bus.read(0x2000, v));
  EXPECT_EQ(bus.size(), 1u);
  EXPECT_FALSE(bus.remove(0x1000).ok()) << "already gone";
  EXPECT_FALSE(bus.remove(0x2001).ok()) << "not the start of a range";
  EXPECT_TRUE(bus.insert(a, 0x1000, 0x100).ok()) << "the space is free again";
}

TEST(Bus, MoveRelocatesARange) {
  Bus bus;
  auto a = std::make_shared<Recorder>(1);
  auto b = std::make_shared<Recorder>(2);
  ASSERT_TRUE(bus.insert(a, 0xe0000000, 0x1000).ok());
  ASSERT_TRUE(bus.insert(b, 0xe0002000, 0x1000).ok());
  ASSERT_TRUE(bus.move(0xe0000000, 0xf0000000).ok());
  uint8_t v[1];
  EXPECT_FALSE(bus.read(0xe0000000, v));
  ASSERT_TRUE(bus.read(0xf0000010, v));
  EXPECT_EQ(a->last_offset, 0x10u);
  // Onto its own old place partly overlapping itself is fine; onto a neighbour is not.
  EXPECT_TRUE(bus.move(0xf0000000, 0xf0000800).ok());
  auto bad = bus.move(0xf0000800, 0xe0001800);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("overlaps"), std::string::npos) << bad.error().message();
  EXPECT_TRUE(bus.read(0xf0000800, v)) << "a failed move leaves the range where it was";
  EXPECT_FALSE(bus.move(0xf0000800, 0xfffffffffffff800).ok()) << "wraps around";
  EXPECT_FALSE(bus.move(0x1234, 0x5678).ok()) << "nothing there";
  auto ranges = bus.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].base, 0xe0002000u);
  EXPECT_EQ(ranges[1].base, 0xf0000800u);
  EXPECT_EQ(ranges[1].len, 0x1000u);
}

}  // namespace
}  // namespace vireo::devices
