#include "devices/legacy/debug_exit.h"

#include <gtest/gtest.h>

namespace vireo::devices {
namespace {

TEST(DebugExit, ValueOfAnyWidth) {
  std::vector<uint32_t> seen;
  DebugExit d([&](uint32_t v) { seen.push_back(v); });
  uint8_t b = 0x2a;
  d.write(0, std::span<const uint8_t>(&b, 1));
  uint8_t w[2] = {0x34, 0x12};
  d.write(0, w);
  uint8_t l[4] = {0x78, 0x56, 0x34, 0x12};
  d.write(0, l);
  EXPECT_EQ(seen, (std::vector<uint32_t>{0x2a, 0x1234, 0x12345678}));
  uint8_t r[4] = {9, 9, 9, 9};
  d.read(0, r);
  EXPECT_EQ(r[0] | r[1] | r[2] | r[3], 0);
}

}  // namespace
}  // namespace vireo::devices
