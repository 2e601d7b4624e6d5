// One conformance suite for every device on a bus (the device contract in
// devices/bus_device.h): instantiated once per device, it checks what snapshots, reset
// and a hostile guest rely on, whatever the device.
//   - save -> restore into a fresh device -> save gives the same state, and both devices
//     then answer the same accesses the same way;
//   - a modifying write changes the saved state;
//   - reset equals a fresh device;
//   - every offset (and some past the end) and width 1, 2, 4, 8 is safe;
//   - restore refuses a wrong version, truncated or trailing bytes, and leaves the device
//     as it was.
// Adding a device: add a DeviceCase to kCases below. PCI functions are BusDevices whose
// accesses are configuration space accesses (their BARs are tested with the transport).
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "devices/bus_device.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "arch/x86/layout.h"
#include "fake_irq.h"
#include "../virtio/fake_virtio_device.h"
#include "../virtio/test_driver.h"
#include "pci/config_access.h"
#include "pci/host_bridge.h"
#include "pci/root_bus.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"

namespace vireo::devices {
namespace {

struct Access {
  uint64_t offset;
  uint32_t value;  // written with the case's access width
};

struct DeviceCase {
  std::string name;
  std::function<std::shared_ptr<BusDevice>()> make;
  uint64_t span;  // the length it is registered with
  // A write sequence that changes the saved state.
  std::vector<Access> modifying;
  // Offsets the reset test writes at random (default: the whole span). A device with
  // battery-backed state that survives reset (the RTC's clock and CMOS RAM) lists the
  // registers a reset clears.
  std::vector<Access> reset_writes;
  // The host side after guest accesses, if the device has one (a console taking output).
  std::function<void(BusDevice&)> settle;
  // The width of the random and listed accesses: 1 for ISA devices, 4 for register pages
  // that ignore other widths (virtio-mmio); offsets are then multiples of it.
  unsigned width = 1;
};

// A virtio-mmio page over a device that does nothing on its own (so that random writes
// that happen to start it leave nothing running), with the guest memory it needs.
std::shared_ptr<BusDevice> make_virtio_mmio() {
  struct Holder {
    virtio::test::TestDriver drv{16};
    std::shared_ptr<virtio::MmioTransport> t =
        *virtio::MmioTransport::create(std::make_shared<virtio::test::FakeVirtioDevice>(), drv.mem());
  };
  auto h = std::make_shared<Holder>();
  h->t->attach_irq(std::make_shared<FakeIrq>());
  return std::shared_ptr<BusDevice>(h, h->t.get());
}

// A virtio-pci function over the same do-nothing device; its BusDevice face is its
// configuration space (the PCI_CFG window reaches BAR 0 from there too).
std::shared_ptr<BusDevice> make_virtio_pci() {
  struct Holder {
    virtio::test::TestDriver drv{16};
    std::shared_ptr<virtio::PciTransport> t =
        *virtio::PciTransport::create(std::make_shared<virtio::test::FakeVirtioDevice>(), drv.mem());
  };
  auto h = std::make_shared<Holder>();
  h->t->place_bar(0, 0x40'0000'0000);
  return std::shared_ptr<BusDevice>(h, h->t.get());
}

// The configuration mechanisms over an empty root bus of their own: their state is their
// own (the address register), not the functions' behind them.
template <class Access>
std::shared_ptr<BusDevice> make_config_access() {
  struct Holder {
    Bus mmio;
    pci::RootBus root{mmio};
    std::shared_ptr<Access> access = std::make_shared<Access>(root);
  };
  auto h = std::make_shared<Holder>();
  return std::shared_ptr<BusDevice>(h, h->access.get());
}

std::vector<DeviceCase> cases() {
  std::vector<DeviceCase> v;
  v.push_back({"Serial",
               [] { return std::make_shared<Serial>(std::make_shared<FakeIrq>(), [] {}); },
               Serial::kRegisterCount,
               {{7, 0x5a}},
               {},
               [](BusDevice& d) {
                 uint8_t buf[64];
                 while (static_cast<Serial&>(d).take_output(buf)) {
                 }
               }});
  // A fixed clock: the saved offset is guest time minus clock time.
  v.push_back({"Rtc",
               [] { return std::make_shared<Rtc>([] { return std::time_t{1700000000}; }); },
               Rtc::kPortCount,
               {{0, 0x40}, {1, 0x33}},
               {{0, Rtc::kRegB}, {1, 0x7a}, {0, Rtc::kRegB}, {1, 0x02}},
               {}});
  v.push_back({"I8042", [] { return std::make_shared<I8042>(nullptr); }, I8042::kPortSpan,
               {{4, 0xdd}},  // disable A20: the output port changes
               {},
               {}});
  v.push_back({"AcpiPm", [] { return std::make_shared<AcpiPm>(nullptr, nullptr); },
               arch::x86::layout::kPortAcpiPmSize,
               {{AcpiPm::kSleepControlOffset, static_cast<uint8_t>(AcpiPm::kSlpEn | (1 << AcpiPm::kSlpTypShift))}},
               {},
               {}});
  v.push_back({"DebugExit", [] { return std::make_shared<DebugExit>(nullptr); },
               DebugExit::kPortSpan, {}, {}, {}});
  using virtio::mmio::kStatus;
  v.push_back({"VirtioMmio", make_virtio_mmio, virtio::mmio::kPageSize,
               {{kStatus, virtio::status::kAcknowledge}, {virtio::mmio::kQueueSel, 1}},
               {},
               {},
               4});
  v.push_back({"PciHostBridge", [] { return std::make_shared<pci::HostBridge>(); },
               pci::kConfigSize,
               {{pci::reg::kInterruptLine, 0x0b}},
               {},
               {}});
  v.push_back({"VirtioPci", make_virtio_pci, pci::kConfigSize,
               {{pci::reg::kCommand, pci::command::kMemorySpace}, {pci::reg::kInterruptLine, 3}},
               {},
               {}});
  v.push_back({"PciConfigIo", make_config_access<pci::ConfigIo>, pci::ConfigIo::kPortCount,
               {{0, 0x8000'0810}},
               {},
               {},
               4});
  v.push_back({"PciEcam", make_config_access<pci::Ecam>, arch::x86::layout::kPciEcamSize, {},
               {}, {}, 4});
  return v;
}

class DeviceConformance : public ::testing::TestWithParam<DeviceCase> {
 protected:
  void write(BusDevice& d, uint64_t off, std::span<const uint8_t> data) {
    d.write(off, data);
    if (GetParam().settle) GetParam().settle(d);
  }
  // One access of the case's width.
  void put(BusDevice& d, uint64_t off, uint32_t v) {
    write(d, off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), GetParam().width));
  }
  uint64_t random_offset(std::mt19937& rng) {
    const unsigned w = GetParam().width;
    return rng() % (GetParam().span / w) * w;
  }
  std::vector<uint8_t> read(BusDevice& d, uint64_t off, size_t width) {
    std::vector<uint8_t> v(width, 0xcc);
    d.read(off, v);
    if (GetParam().settle) GetParam().settle(d);
    return v;
  }
  // Random byte writes over the device's span (and reads, which have side effects too).
  void scramble(BusDevice& d, uint32_t seed, int n = 400) {
    std::mt19937 rng(seed);
    for (int i = 0; i < n; ++i) {
      const uint64_t off = random_offset(rng);
      if (rng() % 3 == 0) {
        (void)read(d, off, GetParam().width);
      } else {
        put(d, off, static_cast<uint32_t>(rng()));
      }
    }
  }
};

TEST_P(DeviceConformance, HasAName) {
  auto d = GetParam().make();
  EXPECT_FALSE(d->name().empty());
}

TEST_P(DeviceConformance, SaveRestoreSaveIsEqual) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto a = GetParam().make();
    scramble(*a, seed);
    const DeviceState saved = a->save();
    EXPECT_GT(saved.version, 0u);
    auto b = GetParam().make();
    auto r = b->restore(saved);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(b->save(), saved) << "seed " << seed;
    // The restored device behaves like the original from here on.
    std::mt19937 rng(seed * 7919);
    for (int i = 0; i < 100; ++i) {
      const uint64_t off = random_offset(rng);
      const unsigned w = GetParam().width;
      if (rng() % 2) {
        ASSERT_EQ(read(*a, off, w), read(*b, off, w)) << "seed " << seed << " offset " << off;
      } else {
        const auto v = static_cast<uint32_t>(rng());
        put(*a, off, v);
        put(*b, off, v);
      }
    }
    EXPECT_EQ(a->save(), b->save()) << "seed " << seed;
  }
}

TEST_P(DeviceConformance, ModifyingWriteChangesTheState) {
  if (GetParam().modifying.empty()) GTEST_SKIP() << "the device has no state";
  auto d = GetParam().make();
  const DeviceState before = d->save();
  for (const auto& a : GetParam().modifying) put(*d, a.offset, a.value);
  EXPECT_NE(d->save(), before);
}

TEST_P(DeviceConformance, ResetEqualsFresh) {
  const DeviceState fresh = GetParam().make()->save();
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    auto d = GetParam().make();
    if (GetParam().reset_writes.empty()) {
      scramble(*d, seed);
    } else {
      for (const auto& a : GetParam().reset_writes) put(*d, a.offset, a.value);
    }
    d->reset();
    EXPECT_EQ(d->save(), fresh) << "seed " << seed;
  }
}

TEST_P(DeviceConformance, EveryOffsetAndWidthIsSafe) {
  auto d = GetParam().make();
  std::mt19937 rng(42);
  for (uint64_t off = 0; off < GetParam().span + 8; ++off) {
    for (size_t width : {1, 2, 4, 8}) {
      (void)read(*d, off, width);
      std::vector<uint8_t> v(width);
      for (auto& b : v) b = static_cast<uint8_t>(rng());
      write(*d, off, v);
    }
  }
  // Far offsets too (a bus routes by the first address only).
  for (uint64_t off : {uint64_t{0x1000}, ~uint64_t{0} - 8, ~uint64_t{0}}) {
    (void)read(*d, off, 8);
    write(*d, off, std::vector<uint8_t>(8, 0xff));
  }
}

TEST_P(DeviceConformance, RestoreRefusesBadStateAndKeepsItsOwn) {
  auto d = GetParam().make();
  for (const auto& a : GetParam().modifying) put(*d, a.offset, a.value);
  const DeviceState mine = d->save();
  auto other = GetParam().make();
  scramble(*other, 5);
  const DeviceState good = other->save();

  DeviceState wrong_version = good;
  wrong_version.version += 1;
  EXPECT_FALSE(d->restore(wrong_version).ok());
  DeviceState trailing = good;
  trailing.bytes.push_back(0);
  EXPECT_FALSE(d->restore(trailing).ok());
  for (size_t n = 0; n < good.bytes.size(); ++n) {
    DeviceState truncated = good;
    truncated.bytes.resize(n);
    EXPECT_FALSE(d->restore(truncated).ok()) << "truncated to " << n << " bytes";
  }
  EXPECT_EQ(d->save(), mine) << "a refused restore changes nothing";
}

INSTANTIATE_TEST_SUITE_P(Legacy, DeviceConformance, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace vireo::devices
