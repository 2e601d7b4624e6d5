#include "devices/legacy/rtc.h"

#include <gtest/gtest.h>

namespace vireo::devices {
namespace {

// 2026-11-22 18:30:45 UTC, a Sunday.
constexpr std::time_t kFixed = 1795372245;

std::time_t utc(int y, int mon, int d, int h, int min, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = min;
  tm.tm_sec = s;
  return timegm(&tm);
}

uint8_t cmos(Rtc& r, uint8_t index) {
  r.write(0, std::span<const uint8_t>(&index, 1));
  uint8_t v;
  r.read(1, std::span<uint8_t>(&v, 1));
  return v;
}
void set(Rtc& r, uint8_t index, uint8_t v) {
  r.write(0, std::span<const uint8_t>(&index, 1));
  r.write(1, std::span<const uint8_t>(&v, 1));
}

struct Clocked {
  std::time_t t = kFixed;
  Rtc r{[this] { return t; }};
};

TEST(Rtc, FixedClockSanity) {
  std::tm tm{};
  gmtime_r(&kFixed, &tm);
  ASSERT_EQ(tm.tm_year + 1900, 2026);
  ASSERT_EQ(tm.tm_mon + 1, 11);
  ASSERT_EQ(tm.tm_mday, 22);
  ASSERT_EQ(tm.tm_hour, 18);
  ASSERT_EQ(tm.tm_min, 30);
  ASSERT_EQ(tm.tm_sec, 45);
  ASSERT_EQ(tm.tm_wday, 0);
  ASSERT_EQ(utc(2026, 11, 22, 18, 30, 45), kFixed);
}

TEST(Rtc, BcdTimeAtPowerOn) {
  Clocked c;
  EXPECT_EQ(cmos(c.r, Rtc::kRegB), 0x02) << "BCD, 24-hour";
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x45);
  EXPECT_EQ(cmos(c.r, Rtc::kMinutes), 0x30);
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x18);
  EXPECT_EQ(cmos(c.r, Rtc::kWeekday), 0x01) << "Sunday is 1";
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x22);
  EXPECT_EQ(cmos(c.r, Rtc::kMonth), 0x11);
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 0x26);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 0x20);
}

TEST(Rtc, BinaryMode) {
  Clocked c;
  set(c.r, Rtc::kRegB, Rtc::kRegBBinary | Rtc::kRegB24Hour);
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 45);
  EXPECT_EQ(cmos(c.r, Rtc::kMinutes), 30);
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 18);
  EXPECT_EQ(cmos(c.r, Rtc::kWeekday), 1);
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 22);
  EXPECT_EQ(cmos(c.r, Rtc::kMonth), 11);
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 26);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 20);
}

TEST(Rtc, TwelveHourMode) {
  Clocked c;
  set(c.r, Rtc::kRegB, 0);  // BCD, 12-hour
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x80 | 0x06) << "6 PM";
  set(c.r, Rtc::kRegB, Rtc::kRegBBinary);
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x80 | 6);
  struct Case { int hour; uint8_t bcd; };
  for (auto [hour, bcd] : {Case{0, 0x12}, Case{1, 0x01}, Case{11, 0x11}, Case{12, 0x92},
                           Case{13, 0x81}, Case{23, 0x91}}) {
    c.t = utc(2026, 11, 22, hour, 0, 0);
    set(c.r, Rtc::kRegB, 0);
    EXPECT_EQ(cmos(c.r, Rtc::kHours), bcd) << hour;
    set(c.r, Rtc::kRegB, Rtc::kRegBBinary);
    EXPECT_EQ(cmos(c.r, Rtc::kHours), (bcd & 0x80) | (hour % 12 == 0 ? 12 : hour % 12)) << hour;
  }
}

TEST(Rtc, CenturyAndYearBoundaries) {
  Clocked c;
  c.t = utc(1999, 12, 31, 23, 59, 59);
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 0x99);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 0x19);
  EXPECT_EQ(cmos(c.r, Rtc::kWeekday), 0x06) << "a Friday";
  c.t += 1;
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 0x20);
  EXPECT_EQ(cmos(c.r, Rtc::kMonth), 0x01);
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x01);
}

TEST(Rtc, TimeFollowsTheClock) {
  Clocked c;
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x45);
  c.t += 10;
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x55);
  c.t += 3600;
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x19);
}

TEST(Rtc, StatusRegisters) {
  Clocked c;
  EXPECT_EQ(cmos(c.r, Rtc::kRegA), 0x26);
  set(c.r, Rtc::kRegA, 0xa6);
  EXPECT_EQ(cmos(c.r, Rtc::kRegA), 0x26) << "UIP is read-only and reads 0";
  set(c.r, Rtc::kRegA, 0x70);  // divider reset, as Linux writes while setting the time
  EXPECT_EQ(cmos(c.r, Rtc::kRegA), 0x70);
  EXPECT_EQ(cmos(c.r, Rtc::kRegC), 0x00);
  set(c.r, Rtc::kRegC, 0xff);
  EXPECT_EQ(cmos(c.r, Rtc::kRegC), 0x00) << "read-only";
  EXPECT_EQ(cmos(c.r, Rtc::kRegD), 0x80) << "VRT: valid RAM and time";
  set(c.r, Rtc::kRegD, 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kRegD), 0x80);
  set(c.r, Rtc::kRegB, 0x66);  // PIE AIE BINARY 24H: stored as written
  EXPECT_EQ(cmos(c.r, Rtc::kRegB), 0x66);
}

// The sequence of mc146818_avoid_UIP / mc146818_get_time.
TEST(Rtc, LinuxReadSequence) {
  Clocked c;
  uint8_t seconds = cmos(c.r, Rtc::kSeconds);
  EXPECT_EQ(cmos(c.r, Rtc::kRegA) & Rtc::kRegAUip, 0);
  EXPECT_EQ(seconds, cmos(c.r, Rtc::kSeconds));
  uint8_t control = cmos(c.r, Rtc::kRegB);
  EXPECT_EQ(control & (Rtc::kRegBBinary | Rtc::kRegB24Hour), Rtc::kRegB24Hour);
  EXPECT_EQ(cmos(c.r, Rtc::kRegA) & Rtc::kRegAUip, 0);
}

// mc146818_set_time: SET, divider reset, year..seconds, then restore B and A.
TEST(Rtc, GuestSetsTheTimeWithSet) {
  Clocked c;
  const uint8_t b = cmos(c.r, Rtc::kRegB);
  set(c.r, Rtc::kRegB, b | Rtc::kRegBSet);
  const uint8_t a = cmos(c.r, Rtc::kRegA);
  set(c.r, Rtc::kRegA, a | 0x70);
  set(c.r, Rtc::kYear, 0x25);
  set(c.r, Rtc::kMonth, 0x01);
  set(c.r, Rtc::kDay, 0x31);
  set(c.r, Rtc::kHours, 0x23);
  set(c.r, Rtc::kMinutes, 0x59);
  set(c.r, Rtc::kSeconds, 0x58);
  c.t += 100;  // held while SET
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x58);
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x31);
  set(c.r, Rtc::kRegB, b);
  set(c.r, Rtc::kRegA, a);
  EXPECT_EQ(cmos(c.r, Rtc::kRegB), b);
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x58);
  c.t += 5;  // runs again: 2025-02-01 00:00:03, a Saturday
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x03);
  EXPECT_EQ(cmos(c.r, Rtc::kMinutes), 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x01);
  EXPECT_EQ(cmos(c.r, Rtc::kMonth), 0x02);
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 0x25);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 0x20);
  EXPECT_EQ(cmos(c.r, Rtc::kWeekday), 0x07);
}

TEST(Rtc, FieldsWrittenUnderSetAreNotNormalisedOneByOne) {
  Clocked c;
  c.t = utc(2026, 1, 31, 12, 0, 0);
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour | Rtc::kRegBSet);
  set(c.r, Rtc::kMonth, 0x02);  // "Feb 31" for a moment
  set(c.r, Rtc::kDay, 0x28);
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour);
  EXPECT_EQ(cmos(c.r, Rtc::kMonth), 0x02);
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x28);
}

TEST(Rtc, SetClearsUpdateInterruptEnable) {
  Clocked c;
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour | Rtc::kRegBUie);
  EXPECT_EQ(cmos(c.r, Rtc::kRegB), Rtc::kRegB24Hour | Rtc::kRegBUie);
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour | Rtc::kRegBUie | Rtc::kRegBSet);
  EXPECT_EQ(cmos(c.r, Rtc::kRegB), Rtc::kRegB24Hour | Rtc::kRegBSet);
}

TEST(Rtc, DirectWritesMoveTheClock) {
  Clocked c;
  set(c.r, Rtc::kSeconds, 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x00);
  EXPECT_EQ(cmos(c.r, Rtc::kMinutes), 0x30);
  c.t += 2;
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x02);
  set(c.r, Rtc::kCentury, 0x21);
  EXPECT_EQ(cmos(c.r, Rtc::kYear), 0x26);
  EXPECT_EQ(cmos(c.r, Rtc::kCentury), 0x21);
  set(c.r, Rtc::kWeekday, 0x05);  // derived from the date: ignored
  EXPECT_EQ(cmos(c.r, Rtc::kDay), 0x22);
}

TEST(Rtc, WritesFollowTheDataMode) {
  Clocked c;
  set(c.r, Rtc::kRegB, Rtc::kRegBBinary);  // binary, 12-hour
  set(c.r, Rtc::kHours, 0x80 | 7);          // 7 PM
  set(c.r, Rtc::kMinutes, 5);
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour);   // BCD, 24-hour
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x19);
  EXPECT_EQ(cmos(c.r, Rtc::kMinutes), 0x05);
  set(c.r, Rtc::kRegB, 0);
  set(c.r, Rtc::kHours, 0x12);              // 12 AM = midnight
  set(c.r, Rtc::kRegB, Rtc::kRegB24Hour);
  EXPECT_EQ(cmos(c.r, Rtc::kHours), 0x00);
}

TEST(Rtc, CmosRamAndNmiBit) {
  Clocked c;
  set(c.r, 0x40, 0xab);
  EXPECT_EQ(cmos(c.r, 0x40), 0xab);
  EXPECT_EQ(cmos(c.r, 0x80 | 0x40), 0xab) << "bit 7 of the index is the NMI mask";
  set(c.r, 0x80 | 0x41, 0xcd);
  EXPECT_EQ(cmos(c.r, 0x41), 0xcd);
  uint8_t idx;
  c.r.read(0, std::span<uint8_t>(&idx, 1));
  EXPECT_EQ(idx, 0x41);
  // Every byte that is not a clock or status register is plain RAM, alarms included.
  for (int i = 0; i < 128; ++i) {
    if (i <= Rtc::kRegD && i != Rtc::kSecondsAlarm && i != Rtc::kMinutesAlarm &&
        i != Rtc::kHoursAlarm)
      continue;
    if (i == Rtc::kCentury) continue;
    set(c.r, static_cast<uint8_t>(i), static_cast<uint8_t>(i ^ 0x5a));
  }
  for (int i = 0; i < 128; ++i) {
    if (i <= Rtc::kRegD && i != Rtc::kSecondsAlarm && i != Rtc::kMinutesAlarm &&
        i != Rtc::kHoursAlarm)
      continue;
    if (i == Rtc::kCentury) continue;
    EXPECT_EQ(cmos(c.r, static_cast<uint8_t>(i)), i ^ 0x5a) << i;
  }
  EXPECT_EQ(cmos(c.r, Rtc::kSeconds), 0x45) << "RAM writes left the clock alone";
}

TEST(Rtc, WideAccessCoversIndexAndData) {
  Clocked c;
  const uint8_t w[2] = {Rtc::kMonth, 0x00};
  c.r.write(0, std::span<const uint8_t>(w, 1));
  uint8_t r[2];
  c.r.read(0, r);
  EXPECT_EQ(r[0], Rtc::kMonth);
  EXPECT_EQ(r[1], 0x11);
}

TEST(Rtc, DefaultClockIsTheHostsTime) {
  Rtc r;
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  set(r, Rtc::kRegB, Rtc::kRegBBinary | Rtc::kRegB24Hour);
  int year = cmos(r, Rtc::kCentury) * 100 + cmos(r, Rtc::kYear);
  EXPECT_NEAR(year, tm.tm_year + 1900, 1);
}

}  // namespace
}  // namespace vireo::devices
