#include "devices/legacy/debug_exit.h"

#include <gtest/gtest.h>

#include <vector>

namespace vireo::devices {
namespace {

TEST(DebugExit, ValueOfAnyWidthLittleEndian) {
  std::vector<uint32_t> seen;
  DebugExit d([&](uint32_t v) { seen.push_back(v); });
  const uint8_t b = 0x2a;
  d.write(0, std::span<const uint8_t>(&b, 1));
  const uint8_t w[2] = {0x34, 0x12};
  d.write(0, w);
  const uint8_t l[4] = {0x78, 0x56, 0x34, 0x12};
  d.write(0, l);
  const uint8_t q[8] = {0x01, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0xff};
  d.write(0, q);
  EXPECT_EQ(seen, (std::vector<uint32_t>{0x2a, 0x1234, 0x12345678, 0x80000001}));
}

TEST(DebugExit, ZeroIsAValueToo) {
  std::vector<uint32_t> seen;
  DebugExit d([&](uint32_t v) { seen.push_back(v); });
  const uint8_t z = 0;
  d.write(0, std::span<const uint8_t>(&z, 1));
  EXPECT_EQ(seen, (std::vector<uint32_t>{0}));
}

TEST(DebugExit, AnyOffsetInTheRangeExits) {
  std::vector<uint32_t> seen;
  DebugExit d([&](uint32_t v) { seen.push_back(v); });
  for (uint64_t off = 0; off < DebugExit::kPortSpan; ++off) {
    const uint8_t b = static_cast<uint8_t>(off + 1);
    d.write(off, std::span<const uint8_t>(&b, 1));
  }
  EXPECT_EQ(seen, (std::vector<uint32_t>{1, 2, 3, 4}));
}

TEST(DebugExit, ReadsReturnZero) {
  int calls = 0;
  DebugExit d([&](uint32_t) { ++calls; });
  for (size_t width : {1u, 2u, 4u}) {
    std::vector<uint8_t> r(width, 0x99);
    d.read(0, r);
    EXPECT_EQ(r, std::vector<uint8_t>(width, 0));
  }
  EXPECT_EQ(calls, 0) << "reads never exit";
}

TEST(DebugExit, EmptyCallbackOrDataIsHarmless) {
  DebugExit d(nullptr);
  const uint8_t b = 1;
  d.write(0, std::span<const uint8_t>(&b, 1));
  int calls = 0;
  DebugExit e([&](uint32_t) { ++calls; });
  e.write(0, std::span<const uint8_t>());
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace vireo::devices
