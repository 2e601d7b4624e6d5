#include "devices/bus.h"

#include <gtest/gtest.h>

namespace vireo::devices {
namespace {

class Recorder : public BusDevice {
 public:
  void read(uint64_t offset, std::span<uint8_t> data) override {
    last_offset = offset;
    for (auto& b : data) b = static_cast<uint8_t>(offset);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    last_offset = offset;
    last_write.assign(data.begin(), data.end());
  }
  uint64_t last_offset = ~0ull;
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
}

TEST(Bus, UnmappedAccessesReportFalse) {
  Bus bus;
  ASSERT_TRUE(bus.insert(std::make_shared<Recorder>(), 0x100, 0x10).ok());
  uint8_t v[4];
  EXPECT_FALSE(bus.read(0xff, v));
  EXPECT_FALSE(bus.read(0x110, v));
  EXPECT_FALSE(bus.write(0, v));
  EXPECT_TRUE(bus.read(0x10f, v));
}

TEST(Bus, RejectsOverlapsAndEmptyRanges) {
  Bus bus;
  auto d = std::make_shared<Recorder>();
  ASSERT_TRUE(bus.insert(d, 0x100, 0x10).ok());
  EXPECT_FALSE(bus.insert(d, 0x100, 1).ok());
  EXPECT_FALSE(bus.insert(d, 0xf8, 0x9).ok());
  EXPECT_FALSE(bus.insert(d, 0x10f, 0x10).ok());
  EXPECT_FALSE(bus.insert(d, 0x0, 0).ok());
  EXPECT_FALSE(bus.insert(d, ~0ull, 2).ok());
  EXPECT_TRUE(bus.insert(d, 0xf0, 0x10).ok());   // adjacent below
  EXPECT_TRUE(bus.insert(d, 0x110, 0x10).ok());  // adjacent above
  auto r = bus.insert(d, 0x105, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("0x105"), std::string::npos);
}

}  // namespace
}  // namespace vireo::devices
