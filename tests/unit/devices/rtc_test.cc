#include "devices/legacy/rtc.h"

#include <gtest/gtest.h>

namespace vireo::devices {
namespace {

// 2026-11-22 18:30:45 UTC, a Sunday.
constexpr std::time_t kFixed = 1795372245;

uint8_t cmos(Rtc& r, uint8_t index) {
  uint8_t i = index;
  r.write(0, std::span<const uint8_t>(&i, 1));
  uint8_t v;
  r.read(1, std::span<uint8_t>(&v, 1));
  return v;
}
void set(Rtc& r, uint8_t index, uint8_t v) {
  r.write(0, std::span<const uint8_t>(&index, 1));
  r.write(1, std::span<const uint8_t>(&v, 1));
}

TEST(Rtc, FixedClockSanity) {
  std::tm tm{};
  gmtime_r(&kFixed, &tm);
  ASSERT_EQ(tm.tm_year + 1900, 2026);
  ASSERT_EQ(tm.tm_hour, 18);
  ASSERT_EQ(tm.tm_wday, 0);
}

TEST(Rtc, BcdTime) {
  Rtc r([] { return kFixed; });
  EXPECT_EQ(cmos(r, Rtc::kSeconds), 0x45);
  EXPECT_EQ(cmos(r, Rtc::kMinutes), 0x30);
  EXPECT_EQ(cmos(r, Rtc::kHours), 0x18);
  EXPECT_EQ(cmos(r, Rtc::kWeekday), 0x01);
  EXPECT_EQ(cmos(r, Rtc::kDay), 0x22);
  EXPECT_EQ(cmos(r, Rtc::kMonth), 0x11);
  EXPECT_EQ(cmos(r, Rtc::kYear), 0x26);
  EXPECT_EQ(cmos(r, Rtc::kCentury), 0x20);
  EXPECT_EQ(cmos(r, Rtc::kRegA) & 0x80, 0) << "no update in progress";
  EXPECT_EQ(cmos(r, Rtc::kRegD), 0x80);
}

TEST(Rtc, BinaryAnd12HourModes) {
  Rtc r([] { return kFixed; });
  set(r, Rtc::kRegB, Rtc::kRegBBinary | Rtc::kRegB24Hour);
  EXPECT_EQ(cmos(r, Rtc::kSeconds), 45);
  EXPECT_EQ(cmos(r, Rtc::kHours), 18);
  EXPECT_EQ(cmos(r, Rtc::kYear), 26);
  set(r, Rtc::kRegB, 0);  // BCD, 12-hour
  EXPECT_EQ(cmos(r, Rtc::kHours), 0x80 | 0x06);
  set(r, Rtc::kRegB, Rtc::kRegBBinary);
  EXPECT_EQ(cmos(r, Rtc::kHours), 0x80 | 6);
}

TEST(Rtc, TimeFollowsTheClock) {
  std::time_t t = kFixed;
  Rtc r([&] { return t; });
  EXPECT_EQ(cmos(r, Rtc::kSeconds), 0x45);
  t += 10;
  EXPECT_EQ(cmos(r, Rtc::kSeconds), 0x55);
  set(r, Rtc::kSeconds, 0x00);  // guest writes to the clock are ignored
  EXPECT_EQ(cmos(r, Rtc::kSeconds), 0x55);
}

TEST(Rtc, CmosRamAndNmiBit) {
  Rtc r([] { return kFixed; });
  set(r, 0x40, 0xab);
  EXPECT_EQ(cmos(r, 0x40), 0xab);
  EXPECT_EQ(cmos(r, 0x80 | 0x40), 0xab) << "bit 7 of the index is the NMI mask";
  set(r, 0x7f, 0x11);
  EXPECT_EQ(cmos(r, 0x7f), 0x11);
  EXPECT_EQ(cmos(r, 0x41), 0x00);
}

}  // namespace
}  // namespace vireo::devices
