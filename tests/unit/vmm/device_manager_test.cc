#include "vmm/device_manager.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"

namespace vireo::vmm {
namespace {

namespace layout = arch::x86::layout;
using devices::BusKind;

struct Machine {
  devices::Bus pio, mmio;
  DeviceManager dm{pio, mmio};
  std::shared_ptr<devices::Serial> com1 = std::make_shared<devices::Serial>(nullptr, nullptr);
  std::shared_ptr<devices::Serial> com2 = std::make_shared<devices::Serial>(nullptr, nullptr);
  std::shared_ptr<devices::Rtc> rtc =
      std::make_shared<devices::Rtc>([] { return std::time_t{1700000000}; });

  Machine() {
    EXPECT_TRUE(dm.add_fixed("com1", com1, BusKind::kPio, 0x3f8, 8, 4).ok());
    EXPECT_TRUE(dm.add_fixed("com2", com2, BusKind::kPio, 0x2f8, 8, 3).ok());
    EXPECT_TRUE(dm.add_fixed("rtc", rtc, BusKind::kPio, 0x70, 2, 8).ok());
  }
  void outb(uint16_t port, uint8_t v) { pio.write(port, std::span<const uint8_t>(&v, 1)); }
};

TEST(DeviceManager, PlacesFixedDevicesAndRecordsThem) {
  Machine m;
  ASSERT_EQ(m.dm.entries().size(), 3u);
  EXPECT_EQ(m.dm.entries()[0].id, "com1");
  EXPECT_EQ(m.dm.entries()[1].where.index, 1u) << "the second serial port";
  EXPECT_EQ(m.pio.size(), 3u);
  EXPECT_FALSE(m.dm.add_fixed("com1", std::make_shared<devices::Rtc>(), BusKind::kPio, 0x500, 2, {}).ok())
      << "ids are unique";
  auto clash = m.dm.add_fixed("x", std::make_shared<devices::Rtc>(), BusKind::kPio, 0x3fc, 2, {});
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message().find("placing device 'x'"), std::string::npos);
  EXPECT_EQ(m.dm.entries().size(), 3u) << "a failed placement leaves no record";
}

TEST(DeviceManager, AllocatesMmioRangesAndGsis) {
  Machine m;
  auto a = m.dm.add_mmio("a", std::make_shared<devices::Rtc>(), 0x200, true);
  auto b = m.dm.add_mmio("b", std::make_shared<devices::Rtc>(), 0x1000, true);
  ASSERT_TRUE(a.ok()) << a.error().message();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->bus, BusKind::kMmio);
  EXPECT_EQ(a->base, layout::kMmioDevicesStart);
  EXPECT_EQ(a->len, 0x1000u) << "whole pages";
  EXPECT_EQ(b->base, layout::kMmioDevicesStart + 0x1000);
  EXPECT_EQ(a->gsi, 5u) << "the first free IOAPIC input";
  EXPECT_EQ(b->gsi, 6u);
  // GSIs 5-23 without 8 (the RTC's) and 9 (the SCI): 17 in all, two taken.
  int more = 0;
  while (m.dm.add_mmio("m" + std::to_string(more), std::make_shared<devices::Rtc>(), 0x1000, true).ok())
    ++more;
  EXPECT_EQ(more, 15);
  for (const auto& e : m.dm.entries()) {
    if (e.where.bus != BusKind::kMmio) continue;
    EXPECT_NE(e.where.gsi, std::optional<uint32_t>(8)) << e.id;
    EXPECT_NE(e.where.gsi, std::optional<uint32_t>(9)) << e.id;
  }
}

TEST(DeviceManager, AmlComesFromTheDevices) {
  Machine m;
  auto aml = m.dm.aml();
  ASSERT_EQ(aml.size(), 3u);
  auto has = [](const std::vector<uint8_t>& b, std::string_view s) {
    return std::search(b.begin(), b.end(), s.begin(), s.end()) != b.end();
  };
  EXPECT_TRUE(has(aml[0], "COM1"));
  EXPECT_TRUE(has(aml[1], "COM2"));
  EXPECT_TRUE(has(aml[2], "RTC0"));
}

TEST(DeviceManager, SaveRestoreResetWalkEveryDevice) {
  Machine m;
  m.outb(0x3ff, 0x11);  // COM1 scratch
  m.outb(0x2ff, 0x22);  // COM2 scratch
  const auto saved = m.dm.save_all();
  ASSERT_EQ(saved.size(), 3u);
  EXPECT_EQ(saved[0].kind, "serial");
  m.dm.reset_all();
  EXPECT_EQ(m.com1->state().scr, 0);
  ASSERT_TRUE(m.dm.restore_all(saved).ok());
  EXPECT_EQ(m.com1->state().scr, 0x11);
  EXPECT_EQ(m.com2->state().scr, 0x22);
  EXPECT_EQ(m.dm.save_all(), saved);
}

TEST(DeviceManager, RestoreChecksTheLayoutAndIsAllOrNothing) {
  Machine m;
  m.outb(0x3ff, 0x11);
  auto saved = m.dm.save_all();
  m.outb(0x3ff, 0x33);
  m.outb(0x2ff, 0x44);
  const auto now = m.dm.save_all();

  auto moved = saved;
  moved[1].where.base = 0x2e8;
  auto r = m.dm.restore_all(moved);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("'com2'"), std::string::npos) << r.error().message();

  auto fewer = saved;
  fewer.pop_back();
  EXPECT_FALSE(m.dm.restore_all(fewer).ok());

  // The last device's state is bad: the first two, already restored, are put back.
  auto bad = saved;
  bad[2].state.bytes.pop_back();
  r = m.dm.restore_all(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("restoring device 'rtc'"), std::string::npos);
  EXPECT_EQ(m.dm.save_all(), now);
}

}  // namespace
}  // namespace vireo::vmm
