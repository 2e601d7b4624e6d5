#include "vmm/device_manager.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "pci/config_space.h"
#include "unit/pci/fake_pci_device.h"

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

// --- PCI ------------------------------------------------------------------------------

constexpr uint64_t kMmio64 = 0x1'4000'0000;  // as pci_mmio64_start() gives for 4 GiB of RAM

using pci::test::FakePciDevice;

std::shared_ptr<FakePciDevice> fake_with_bars(uint16_t device_id = 1) {
  // A 32-bit BAR 0 of 8 KiB, a 64-bit BAR 2 of 1 MiB and a 64-bit BAR 4 of 16 KiB.
  auto d = std::make_shared<FakePciDevice>(
      std::vector<std::pair<unsigned, pci::Bar>>{
          {0, {0x2000, pci::BarKind::kMemory32, false}},
          {2, {0x100000, pci::BarKind::kMemory64, true}},
          {4, {0x4000, pci::BarKind::kMemory64, false}}},
      device_id);
  EXPECT_TRUE(d->ok);
  return d;
}

uint32_t pci_cfg_read(devices::Bus& pio, uint8_t slot, uint8_t reg) {
  const uint32_t a = 0x8000'0000u | uint32_t{slot} << 11 | reg;
  pio.write(0xcf8, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&a), 4));
  uint32_t v = 0;
  pio.read_or_all_ones(0xcfc, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
  return v;
}
void pci_cfg_write(devices::Bus& pio, uint8_t slot, uint8_t reg, uint32_t v) {
  const uint32_t a = 0x8000'0000u | uint32_t{slot} << 11 | reg;
  pio.write(0xcf8, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&a), 4));
  pio.write(0xcfc, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 4));
}

TEST(DeviceManager, EnablePciAddsConfigAccessAndTheHostBridge) {
  Machine m;
  EXPECT_FALSE(m.dm.has_pci());
  EXPECT_FALSE(m.dm.add_pci("x", fake_with_bars()).ok()) << "no PCI bus yet";
  ASSERT_TRUE(m.dm.enable_pci(kMmio64).ok());
  EXPECT_TRUE(m.dm.has_pci());
  ASSERT_NE(m.dm.pci_root(), nullptr);
  EXPECT_FALSE(m.dm.enable_pci(kMmio64).ok()) << "once";
  const auto& e = m.dm.entries();
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e[3].id, "pci-config-io");
  EXPECT_EQ(e[3].where, (devices::Placement{BusKind::kPio, layout::kPortPciConfig,
                                            layout::kPortPciConfigSize, std::nullopt, 0}));
  EXPECT_EQ(e[4].id, "pci-ecam");
  EXPECT_EQ(e[4].where, (devices::Placement{BusKind::kMmio, layout::kPciEcamBase,
                                            layout::kPciEcamSize, std::nullopt, 0}));
  EXPECT_EQ(e[5].id, "pci-host");
  EXPECT_EQ(e[5].where, (devices::Placement{BusKind::kPci, 0, 0, std::nullopt, 0}));
  EXPECT_EQ(e[5].device->name(), "pci-host-bridge");
  // The guest sees the host bridge at 00.0 both ways.
  EXPECT_EQ(pci_cfg_read(m.pio, 0, 0), 0x0008'1b36u);
  uint32_t id = 0;
  m.mmio.read(layout::kPciEcamBase, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&id), 4));
  EXPECT_EQ(id, 0x0008'1b36u);
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0), 0xffffffffu) << "nothing in slot 1 yet";
  EXPECT_TRUE(m.dm.aml().size() == 3u) << "PCI functions have no DSDT entries of their own";
}

TEST(DeviceManager, AddPciPlacesBarsAndSlots) {
  Machine m;
  ASSERT_TRUE(m.dm.enable_pci(kMmio64).ok());
  auto a = fake_with_bars(1);
  auto b = fake_with_bars(2);
  auto pa = m.dm.add_pci("a", a);
  auto pb = m.dm.add_pci("b", b);
  ASSERT_TRUE(pa.ok()) << pa.error().message();
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(*pa, (devices::Placement{BusKind::kPci, 1 << 3, 0, std::nullopt, 0}));
  EXPECT_EQ(*pb, (devices::Placement{BusKind::kPci, 2 << 3, 0, std::nullopt, 1}))
      << "slot 2, the second fake-pci";
  ASSERT_EQ(a->placed.size(), 3u);
  for (const auto& d : {a, b}) {
    for (const auto& [i, addr] : d->placed) {
      const uint64_t size = d->bar(i)->size;
      EXPECT_EQ(addr % size, 0u) << "BAR " << i << " aligned to its size";
      if (d->bar(i)->kind == pci::BarKind::kMemory64) {
        EXPECT_GE(addr, kMmio64) << "BAR " << i;
        EXPECT_LE(addr + size, kMmio64 + layout::kPciMmio64Size);
      } else {
        EXPECT_GE(addr, layout::kPciMmio32Start) << "BAR " << i;
        EXPECT_LE(addr + size, layout::kPciMmio32Start + layout::kPciMmio32Size);
        EXPECT_LT(addr + size, 1ull << 32);
      }
    }
  }
  // No two BARs overlap.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& d : {a, b})
    for (const auto& [i, addr] : d->placed) ranges.emplace_back(addr, d->bar(i)->size);
  for (size_t i = 0; i < ranges.size(); ++i)
    for (size_t j = i + 1; j < ranges.size(); ++j)
      EXPECT_TRUE(ranges[i].first + ranges[i].second <= ranges[j].first ||
                  ranges[j].first + ranges[j].second <= ranges[i].first)
          << i << " " << j;
  // The guest finds them in their slots, placed, not decoding; BARs are routed once it
  // turns decoding on.
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0), 0x0001'1234u);
  EXPECT_EQ(pci_cfg_read(m.pio, 2, 0), 0x0002'1234u);
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0x10), a->placed[0].second);
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0x18) & ~0xfu, static_cast<uint32_t>(a->placed[1].second));
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0x1c), static_cast<uint32_t>(a->placed[1].second >> 32));
  const size_t before = m.mmio.size();
  pci_cfg_write(m.pio, 1, 0x04, pci::command::kMemorySpace);
  EXPECT_EQ(m.mmio.size(), before + 3);
  EXPECT_EQ(m.dm.pci_root()->routed(1, 2), a->placed[1].second);
  // Ids stay unique; a device without BAR room is refused and leaves nothing behind.
  EXPECT_FALSE(m.dm.add_pci("a", fake_with_bars()).ok());
  auto huge = std::make_shared<FakePciDevice>(std::vector<std::pair<unsigned, pci::Bar>>{
      {0, {0x1000, pci::BarKind::kMemory32, false}},
      {2, {1ull << 40, pci::BarKind::kMemory64, false}}});
  ASSERT_TRUE(huge->ok);
  const size_t entries = m.dm.entries().size();
  EXPECT_FALSE(m.dm.add_pci("huge", huge).ok());
  EXPECT_EQ(m.dm.entries().size(), entries);
  // The 32-bit BAR it took was given back: the next device gets the same place.
  auto c = fake_with_bars(3);
  auto pc = m.dm.add_pci("c", c);
  ASSERT_TRUE(pc.ok());
  EXPECT_EQ(pc->base, 3u << 3) << "the failed device took no slot";
  ASSERT_FALSE(huge->placed.empty());
  EXPECT_EQ(c->placed[0].second, huge->placed[0].second);
}

TEST(DeviceManager, PciSlotsRunOut) {
  Machine m;
  ASSERT_TRUE(m.dm.enable_pci(kMmio64).ok());
  int n = 0;
  while (m.dm.add_pci("d" + std::to_string(n), std::make_shared<FakePciDevice>()).ok()) ++n;
  EXPECT_EQ(n, 31) << "slots 1-31 (00.0 is the host bridge)";
}

TEST(DeviceManager, SaveRestoreResetWithPci) {
  Machine m;
  ASSERT_TRUE(m.dm.enable_pci(kMmio64).ok());
  auto a = fake_with_bars();
  ASSERT_TRUE(m.dm.add_pci("a", a).ok());
  const uint64_t bar0 = a->placed[0].second;
  m.outb(0x3ff, 0x11);
  pci_cfg_write(m.pio, 1, 0x04, pci::command::kMemorySpace);
  pci_cfg_write(m.pio, 1, 0x10, static_cast<uint32_t>(bar0 + 0x10000));
  pci_cfg_write(m.pio, 0, 0x3c, 0x0a);  // the host bridge's interrupt line
  ASSERT_EQ(m.dm.pci_root()->routed(1, 0), bar0 + 0x10000);
  const auto saved = m.dm.save_all();
  ASSERT_EQ(saved.size(), 7u);
  EXPECT_EQ(saved[6].id, "a");
  EXPECT_EQ(saved[6].kind, "fake-pci");
  EXPECT_EQ(saved[6].where.bus, BusKind::kPci);

  // Reset: decoding off, the BARs leave the MMIO bus, firmware placement is back.
  m.dm.reset_all();
  EXPECT_FALSE(m.dm.pci_root()->routed(1, 0));
  EXPECT_FALSE(m.dm.pci_root()->routed(1, 2));
  EXPECT_EQ(pci_cfg_read(m.pio, 1, 0x10), bar0);
  EXPECT_EQ(pci_cfg_read(m.pio, 0, 0x3c) & 0xff, 0u);
  uint8_t probe = 0;
  EXPECT_FALSE(m.mmio.read(bar0 + 0x10000, std::span<uint8_t>(&probe, 1)));

  // Restore: the BAR is where the saved guest had it, and answers there.
  ASSERT_TRUE(m.dm.restore_all(saved).ok());
  EXPECT_EQ(m.dm.save_all(), saved);
  EXPECT_EQ(m.dm.pci_root()->routed(1, 0), bar0 + 0x10000);
  EXPECT_TRUE(m.mmio.read(bar0 + 0x10000, std::span<uint8_t>(&probe, 1)));
  EXPECT_EQ(pci_cfg_read(m.pio, 0, 0x3c) & 0xff, 0x0au);
  EXPECT_EQ(m.com1->state().scr, 0x11);

  // A refused restore (the last device's state is bad) puts everything back, routing too.
  m.dm.reset_all();
  const auto now = m.dm.save_all();
  auto bad = saved;
  bad.back().state.bytes.pop_back();
  ASSERT_FALSE(m.dm.restore_all(bad).ok());
  EXPECT_EQ(m.dm.save_all(), now);
  EXPECT_FALSE(m.dm.pci_root()->routed(1, 0));
  // A snapshot from a VM whose PCI device is elsewhere is refused.
  auto moved = saved;
  moved.back().where.base = 5 << 3;
  EXPECT_FALSE(m.dm.restore_all(moved).ok());
}

}  // namespace
}  // namespace vireo::vmm
