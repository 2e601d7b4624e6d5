#include "devices/legacy/acpi_pm.h"

#include <gtest/gtest.h>

#include <vector>

#include "arch/x86/layout.h"

namespace vireo::devices {
namespace {

class AcpiPmTest : public ::testing::Test {
 protected:
  void write8(uint64_t offset, uint8_t v) { pm.write(offset, std::span<const uint8_t>(&v, 1)); }
  uint8_t read8(uint64_t offset) {
    uint8_t v = 0xaa;
    pm.read(offset, std::span<uint8_t>(&v, 1));
    return v;
  }
  static uint8_t sleep(uint8_t slp_typ, bool enable = true) {
    return static_cast<uint8_t>((slp_typ << AcpiPm::kSlpTypShift) |
                                (enable ? AcpiPm::kSlpEn : 0));
  }

  int poweroffs = 0;
  int resets = 0;
  AcpiPm pm{[this] { ++poweroffs; }, [this] { ++resets; }};
};

TEST_F(AcpiPmTest, RegisterLayoutMatchesTheAcpiSpec) {
  EXPECT_EQ(AcpiPm::kSlpEn, 1u << 5);
  EXPECT_EQ(AcpiPm::kSlpTypMask, 0x7u << 2);
  EXPECT_EQ(AcpiPm::kWakSts, 1u << 7);
  EXPECT_EQ(AcpiPm::kSlpTypS5, 5);
  EXPECT_NE(AcpiPm::kSleepControlOffset, AcpiPm::kSleepStatusOffset);
  EXPECT_NE(AcpiPm::kSleepControlOffset, AcpiPm::kResetOffset);
  EXPECT_NE(AcpiPm::kSleepStatusOffset, AcpiPm::kResetOffset);
  for (auto off : {AcpiPm::kSleepControlOffset, AcpiPm::kSleepStatusOffset,
                   AcpiPm::kResetOffset})
    EXPECT_LT(off, arch::x86::layout::kPortAcpiPmSize);
  EXPECT_NE(AcpiPm::kResetValue, 0);
}

TEST_F(AcpiPmTest, S5PowersOff) {
  write8(AcpiPm::kSleepControlOffset, sleep(5));  // what Linux writes: 0x34
  EXPECT_EQ(sleep(5), 0x34);
  EXPECT_EQ(poweroffs, 1);
  EXPECT_EQ(resets, 0);
}

TEST_F(AcpiPmTest, S5InAWiderAccessPowersOff) {
  const uint8_t data[2] = {sleep(5), 0};
  pm.write(AcpiPm::kSleepControlOffset, data);
  EXPECT_EQ(poweroffs, 1);
}

TEST_F(AcpiPmTest, OtherSleepTypesOrNoSleepEnableDoNotPowerOff) {
  for (uint8_t typ = 0; typ < 8; ++typ) {
    if (typ != AcpiPm::kSlpTypS5) write8(AcpiPm::kSleepControlOffset, sleep(typ));
    write8(AcpiPm::kSleepControlOffset, sleep(typ, /*enable=*/false));
  }
  write8(AcpiPm::kSleepStatusOffset, sleep(5));  // right value, wrong register
  write8(AcpiPm::kResetOffset, sleep(5));
  EXPECT_EQ(poweroffs, 0);
  EXPECT_EQ(resets, 0);
}

TEST_F(AcpiPmTest, SleepOtherThanS5WakesAtOnceAndWakeStatusClearsOnWriteOne) {
  EXPECT_EQ(read8(AcpiPm::kSleepStatusOffset), 0);
  write8(AcpiPm::kSleepControlOffset, sleep(3));  // S3: not supported, "wakes" at once
  EXPECT_EQ(read8(AcpiPm::kSleepStatusOffset), AcpiPm::kWakSts);
  EXPECT_EQ(read8(AcpiPm::kSleepStatusOffset), AcpiPm::kWakSts) << "reading does not clear";
  write8(AcpiPm::kSleepStatusOffset, 0);
  EXPECT_EQ(read8(AcpiPm::kSleepStatusOffset), AcpiPm::kWakSts) << "writing 0 does not clear";
  write8(AcpiPm::kSleepStatusOffset, AcpiPm::kWakSts);
  EXPECT_EQ(read8(AcpiPm::kSleepStatusOffset), 0);
  EXPECT_EQ(poweroffs, 0);
}

TEST_F(AcpiPmTest, ResetValueResets) {
  write8(AcpiPm::kResetOffset, AcpiPm::kResetValue);
  EXPECT_EQ(resets, 1);
  EXPECT_EQ(poweroffs, 0);
}

TEST_F(AcpiPmTest, OtherResetValuesOrRegistersDoNotReset) {
  for (int v = 0; v < 256; ++v)
    if (v != AcpiPm::kResetValue) write8(AcpiPm::kResetOffset, static_cast<uint8_t>(v));
  write8(AcpiPm::kSleepControlOffset, AcpiPm::kResetValue);
  write8(AcpiPm::kSleepStatusOffset, AcpiPm::kResetValue);
  for (uint64_t off = 3; off < arch::x86::layout::kPortAcpiPmSize; ++off)
    write8(off, AcpiPm::kResetValue);
  EXPECT_EQ(resets, 0);
  EXPECT_EQ(poweroffs, 0);
}

TEST_F(AcpiPmTest, ReadsAreDeterministic) {
  for (size_t width : {1u, 2u, 4u, 8u}) {
    for (uint64_t off = 0; off + width <= arch::x86::layout::kPortAcpiPmSize; ++off) {
      std::vector<uint8_t> a(width, 0xaa), b(width, 0x55);
      pm.read(off, a);
      pm.read(off, b);
      EXPECT_EQ(a, b) << "offset " << off << " width " << width;
      EXPECT_EQ(a, std::vector<uint8_t>(width, 0)) << "offset " << off << " width " << width;
    }
  }
  EXPECT_EQ(poweroffs, 0);
  EXPECT_EQ(resets, 0);
}

TEST(AcpiPm, EmptyCallbacksAreIgnored) {
  AcpiPm pm({}, {});
  const uint8_t s5 = AcpiPm::kSlpEn | (AcpiPm::kSlpTypS5 << AcpiPm::kSlpTypShift);
  pm.write(AcpiPm::kSleepControlOffset, std::span<const uint8_t>(&s5, 1));
  pm.write(AcpiPm::kResetOffset, std::span<const uint8_t>(&AcpiPm::kResetValue, 1));
}

}  // namespace
}  // namespace vireo::devices
