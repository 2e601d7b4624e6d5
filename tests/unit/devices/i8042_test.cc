#include "devices/legacy/i8042.h"

#include <gtest/gtest.h>

namespace vireo::devices {
namespace {

struct Kbc {
  int resets = 0;
  I8042 dev{[this] { ++resets; }};
  void cmd(uint8_t c) { dev.write(4, std::span<const uint8_t>(&c, 1)); }
  void data(uint8_t d) { dev.write(0, std::span<const uint8_t>(&d, 1)); }
  uint8_t status() { uint8_t v; dev.read(4, std::span<uint8_t>(&v, 1)); return v; }
  uint8_t read_data() { uint8_t v; dev.read(0, std::span<uint8_t>(&v, 1)); return v; }
};

TEST(I8042, PulseResetCallsBack) {
  Kbc k;
  k.cmd(0xfe);
  EXPECT_EQ(k.resets, 1);
}

TEST(I8042, OutputPortResetLine) {
  Kbc k;
  k.cmd(0xd1);
  k.data(0x01);  // reset line high: nothing
  EXPECT_EQ(k.resets, 0);
  k.cmd(0xd1);
  k.data(0x00);
  EXPECT_EQ(k.resets, 1);
}

TEST(I8042, SelfTestsAndCommandByte) {
  Kbc k;
  EXPECT_EQ(k.status() & 1, 0);
  k.cmd(0xaa);
  EXPECT_EQ(k.status() & 1, 1);
  EXPECT_EQ(k.read_data(), 0x55);
  EXPECT_EQ(k.status() & 1, 0);
  k.cmd(0xab);
  EXPECT_EQ(k.read_data(), 0x00);
  k.cmd(0x60);
  k.data(0x47);
  k.cmd(0x20);
  EXPECT_EQ(k.read_data(), 0x47);
  EXPECT_EQ(k.resets, 0);
  EXPECT_EQ(k.status() & 0x04, 0x04) << "system flag";
}

TEST(I8042, OtherCommandsAreHarmless) {
  Kbc k;
  for (int c : {0xad, 0xae, 0xa7, 0xa8, 0xd4, 0xff, 0x00}) k.cmd(static_cast<uint8_t>(c));
  k.data(0xf4);  // a keyboard command: no keyboard, no answer
  EXPECT_EQ(k.resets, 0);
  EXPECT_EQ(k.status() & 1, 0);
}

}  // namespace
}  // namespace vireo::devices
