// RootBus with ConfigIo and Ecam on real buses: configuration accesses reach the right
// function (and absent ones read all ones), and BARs are routed on the MMIO bus exactly
// while the guest has them decoding, where it put them.
#include "pci/root_bus.h"

#include <gtest/gtest.h>

#include "arch/x86/layout.h"
#include "fake_pci_device.h"
#include "pci/config_access.h"
#include "pci/host_bridge.h"

namespace vireo::pci {
namespace {

namespace layout = arch::x86::layout;
using test::FakePciDevice;

constexpr uint32_t kEnable = 1u << 31;
constexpr uint64_t kBarBase = 0xc000'0000;

uint32_t cf8(uint8_t bus, uint8_t dev, uint8_t fn, uint8_t reg) {
  return kEnable | uint32_t{bus} << 16 | uint32_t{dev} << 11 | uint32_t{fn} << 8 | reg;
}
uint64_t ecam(uint8_t bus, uint8_t dev, uint8_t fn, uint32_t reg) {
  return uint64_t{bus} << 20 | uint64_t{dev} << 15 | uint64_t{fn} << 12 | reg;
}

struct Machine {
  Machine() {
    EXPECT_TRUE(root.add(host).ok());
    EXPECT_TRUE(pio.insert(io, layout::kPortPciConfig, layout::kPortPciConfigSize).ok());
    EXPECT_TRUE(mmio.insert(ecam_dev, layout::kPciEcamBase, layout::kPciEcamSize).ok());
  }

  // Port accesses.
  void out(uint16_t port, uint32_t v, size_t width) {
    pio.write(port, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), width));
  }
  uint32_t in(uint16_t port, size_t width) {
    uint32_t v = 0;
    pio.read_or_all_ones(port, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
    return v;
  }
  uint32_t cfg_read(uint32_t address, size_t width = 4, uint16_t data_port = 0xcfc) {
    out(0xcf8, address, 4);
    return in(data_port, width);
  }
  void cfg_write(uint32_t address, uint32_t v, size_t width = 4, uint16_t data_port = 0xcfc) {
    out(0xcf8, address, 4);
    out(data_port, v, width);
  }
  // Memory accesses.
  uint32_t mem_read(uint64_t addr, size_t width = 4) {
    uint32_t v = 0;
    mmio.read_or_all_ones(addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
    return v;
  }
  bool mem_answers(uint64_t addr) {
    uint32_t v = 0;
    return mmio.read(addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
  }
  void mem_write(uint64_t addr, uint32_t v, size_t width = 4) {
    mmio.write(addr, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), width));
  }
  uint32_t ecam_read(uint64_t off, size_t width = 4) {
    return mem_read(layout::kPciEcamBase + off, width);
  }
  void ecam_write(uint64_t off, uint32_t v, size_t width = 4) {
    mem_write(layout::kPciEcamBase + off, v, width);
  }

  // A fake device with a 32-bit BAR 0 (16 KiB) and a 64-bit BAR 2 (32 KiB), placed.
  std::shared_ptr<FakePciDevice> add_fake(uint8_t slot_hint = 0, uint64_t base = kBarBase) {
    auto d = std::make_shared<FakePciDevice>(std::vector<std::pair<unsigned, Bar>>{
        {0, {0x4000, BarKind::kMemory32, false}}, {2, {0x8000, BarKind::kMemory64, false}}});
    EXPECT_TRUE(d->ok);
    d->place_bar(0, base);
    d->place_bar(2, 0x1'0000'0000 + base);
    auto s = slot_hint ? root.add(d, slot_hint) : root.add(d);
    EXPECT_TRUE(s.ok());
    slot = *s;
    return d;
  }

  devices::Bus pio, mmio;
  RootBus root{mmio};
  std::shared_ptr<HostBridge> host = std::make_shared<HostBridge>();
  std::shared_ptr<ConfigIo> io = std::make_shared<ConfigIo>(root);
  std::shared_ptr<Ecam> ecam_dev = std::make_shared<Ecam>(root);
  uint8_t slot = 0;
};

TEST(RootBus, HostBridgeThroughConfigIo) {
  Machine m;
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0)), 0x0008'1b36u) << "Red Hat PCIe host bridge";
  EXPECT_EQ(m.in(0xcf8, 4), cf8(0, 0, 0, 0)) << "the address register reads back";
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x08)), 0x0600'0000u) << "class 06/00, revision 0";
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x2c)), 0x0008'1b36u) << "subsystem";
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x0c)) & 0x00ff'0000, 0u) << "header type 0";
}

TEST(RootBus, HostBridgeThroughEcam) {
  Machine m;
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 0)), 0x0008'1b36u);
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 0x0a), 2), 0x0600u);
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 0x100)), 0u) << "extended space exists, empty";
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 0xffc)), 0u);
}

TEST(RootBus, AbsentFunctionsReadOnesAndIgnoreWrites) {
  Machine m;
  auto d = m.add_fake();
  ASSERT_EQ(m.slot, 1);
  const uint32_t id = m.cfg_read(cf8(0, 1, 0, 0));
  EXPECT_EQ(id, 0x0001'1234u);
  for (uint32_t a : {cf8(0, 2, 0, 0), cf8(0, 31, 0, 0), cf8(0, 1, 1, 0), cf8(0, 0, 7, 0),
                     cf8(1, 0, 0, 0), cf8(1, 1, 0, 0), cf8(255, 0, 0, 0)}) {
    EXPECT_EQ(m.cfg_read(a), 0xffffffffu) << std::hex << a;
    EXPECT_EQ(m.cfg_read(a, 1), 0xffu) << std::hex << a;
    m.cfg_write(a | 0x04, 0xffff);
  }
  for (uint64_t off : {ecam(0, 2, 0, 0), ecam(0, 1, 1, 0), ecam(0, 31, 7, 0xffc)}) {
    EXPECT_EQ(m.ecam_read(off), 0xffffffffu) << std::hex << off;
    m.ecam_write(off | 0x04, 0xffff);
  }
  // Function 1 of slot 1, written through both, did not reach function 0.
  EXPECT_EQ(m.cfg_read(cf8(0, 1, 0, 0x04), 2), 0u);
  EXPECT_EQ(m.mmio.size(), 1u) << "nothing routed";
  // ECAM past the window (bus 1) is not on the bus at all: all ones.
  EXPECT_EQ(m.mem_read(layout::kPciEcamBase + ecam(1, 0, 0, 0)), 0xffffffffu);
}

TEST(RootBus, ConfigIoWithoutTheEnableBitReadsOnes) {
  Machine m;
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0) & ~kEnable), 0xffffffffu);
  m.cfg_write(cf8(0, 0, 0, 0x3c) & ~kEnable, 0x0b, 1);
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x3c), 1), 0u) << "the write went nowhere";
  m.cfg_write(cf8(0, 0, 0, 0x3c), 0x0b, 1);
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x3c), 1), 0x0bu);
  // After reset the address register is clear (disabled).
  m.io->reset();
  EXPECT_EQ(m.in(0xcf8, 4), 0u);
  EXPECT_EQ(m.in(0xcfc, 4), 0xffffffffu);
}

TEST(RootBus, ConfigIoAddressRegister) {
  Machine m;
  m.out(0xcf8, 0xffff'ffff, 4);
  EXPECT_EQ(m.in(0xcf8, 4), 0x80ff'fffcu) << "reserved bits 30-24 and 1-0 read 0";
  // Only 32-bit accesses reach the address register.
  m.out(0xcf8, cf8(0, 0, 0, 0), 4);
  m.out(0xcf8, 0x12, 1);
  m.out(0xcf9, 0x06, 1);  // the PC reset control register, which vireo does not have
  m.out(0xcf8, 0x1234, 2);
  EXPECT_EQ(m.in(0xcf8, 4), cf8(0, 0, 0, 0));
  EXPECT_EQ(m.in(0xcf8, 1), 0xffu);
  EXPECT_EQ(m.in(0xcf8, 2), 0xffffu);
}

TEST(RootBus, NarrowAccessesToTheDataWindow) {
  Machine m;
  const uint32_t a = cf8(0, 0, 0, 0);
  EXPECT_EQ(m.cfg_read(a, 1, 0xcfc), 0x36u);
  EXPECT_EQ(m.cfg_read(a, 1, 0xcfd), 0x1bu);
  EXPECT_EQ(m.cfg_read(a, 1, 0xcfe), 0x08u);
  EXPECT_EQ(m.cfg_read(a, 1, 0xcff), 0x00u);
  EXPECT_EQ(m.cfg_read(a, 2, 0xcfc), 0x1b36u);
  EXPECT_EQ(m.cfg_read(a, 2, 0xcfd), 0x081bu) << "unaligned but inside the dword";
  EXPECT_EQ(m.cfg_read(a, 2, 0xcfe), 0x0008u);
  EXPECT_EQ(m.cfg_read(a, 2, 0xcff), 0xffffu) << "crosses the end of the window";
  EXPECT_EQ(m.cfg_read(a, 4, 0xcfd), 0xffffffffu);
  // Writes at each byte of the window (interrupt line at 0x3c is writable, pin is not).
  const uint32_t line = cf8(0, 0, 0, 0x3c);
  m.cfg_write(line, 0x0a, 1, 0xcfc);
  m.cfg_write(line, 0x07, 1, 0xcfd);
  EXPECT_EQ(m.cfg_read(line), 0x0000'000au);
  m.cfg_write(line, 0x0505, 2, 0xcfc);
  EXPECT_EQ(m.cfg_read(line, 1), 0x05u);
  m.cfg_write(line, 0xffff'ffff, 4, 0xcfd);  // crosses the end: ignored
  EXPECT_EQ(m.cfg_read(line, 1), 0x05u);
}

TEST(RootBus, EcamAnyWidthAndPageEdges) {
  Machine m;
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 1), 1), 0x1bu);
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 1), 2), 0x081bu);
  EXPECT_EQ(m.ecam_read(ecam(0, 0, 0, 0xffe), 4), 0xffffffffu)
      << "crosses into the next function's page";
  m.ecam_write(ecam(0, 0, 0, 0x3c), 0x0c, 1);
  EXPECT_EQ(m.cfg_read(cf8(0, 0, 0, 0x3c), 1), 0x0cu) << "both ways see the same space";
  uint64_t q = 0;
  m.mmio.read(layout::kPciEcamBase, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&q), 8));
  EXPECT_EQ(q, 0x0000'0000'0008'1b36u | uint64_t{m.cfg_read(cf8(0, 0, 0, 4))} << 32);
}

TEST(RootBus, SlotsAreHandedOutInOrder) {
  devices::Bus mmio;
  RootBus root(mmio);
  EXPECT_EQ(*root.add(std::make_shared<HostBridge>()), 0);
  EXPECT_EQ(*root.add(std::make_shared<FakePciDevice>()), 1);
  EXPECT_EQ(*root.add(std::make_shared<FakePciDevice>(), 5), 5);
  EXPECT_EQ(*root.add(std::make_shared<FakePciDevice>()), 2);
  EXPECT_FALSE(root.add(std::make_shared<FakePciDevice>(), 5).ok()) << "taken";
  EXPECT_FALSE(root.add(std::make_shared<FakePciDevice>(), 32).ok()) << "no slot 32";
  EXPECT_FALSE(root.add(nullptr).ok());
  int n = 4;
  while (root.add(std::make_shared<FakePciDevice>()).ok()) ++n;
  EXPECT_EQ(n, 32);
}

TEST(RootBus, BarRoutedOnlyWhileMemoryDecodingIsOn) {
  Machine m;
  auto d = m.add_fake();
  const uint8_t s = m.slot;
  EXPECT_FALSE(m.root.routed(s, 0));
  EXPECT_FALSE(m.mem_answers(kBarBase)) << "placed but not decoded";
  EXPECT_EQ(m.cfg_read(cf8(0, s, 0, 0x10)), kBarBase);

  m.cfg_write(cf8(0, s, 0, 0x04), command::kMemorySpace, 2);
  EXPECT_EQ(m.root.routed(s, 0), kBarBase);
  EXPECT_EQ(m.root.routed(s, 2), 0x1'0000'0000 + kBarBase);
  EXPECT_FALSE(m.root.routed(s, 1));
  EXPECT_EQ(m.mem_read(kBarBase + 0x10, 1), 0x10u) << "BAR 0, offset 0x10";
  EXPECT_EQ(m.mem_read(0x1'0000'0000 + kBarBase + 0x7fff, 1), 0x01u)
      << "BAR 2, offset 0x7fff: (0xff + 2) & 0xff";
  EXPECT_FALSE(m.mem_answers(kBarBase + 0x4000)) << "BAR 0 is 16 KiB";
  m.mem_write(kBarBase + 0x3ffc, 0xdead, 4);
  ASSERT_FALSE(d->accesses.empty());
  EXPECT_EQ(d->accesses.back(), (FakePciDevice::BarAccess{0, 0x3ffc, 4, true}));
  EXPECT_EQ(d->mapped, (std::vector<std::pair<unsigned, std::optional<uint64_t>>>{
                           {0, kBarBase}, {2, 0x1'0000'0000 + kBarBase}}));

  // Decoding off: gone.
  d->mapped.clear();
  m.cfg_write(cf8(0, s, 0, 0x04), 0, 2);
  EXPECT_FALSE(m.mem_answers(kBarBase));
  EXPECT_FALSE(m.mem_answers(0x1'0000'0000 + kBarBase));
  EXPECT_FALSE(m.root.routed(s, 0));
  EXPECT_EQ(d->mapped, (std::vector<std::pair<unsigned, std::optional<uint64_t>>>{
                           {0, std::nullopt}, {2, std::nullopt}}));
  EXPECT_EQ(m.mmio.size(), 1u) << "only the ECAM window";
  // Writes that change nothing about the BARs tell the device nothing.
  d->mapped.clear();
  m.cfg_write(cf8(0, s, 0, 0x3c), 9, 1);
  EXPECT_TRUE(d->mapped.empty());
}

TEST(RootBus, GuestMovesABar) {
  Machine m;
  auto d = m.add_fake();
  const uint8_t s = m.slot;
  m.cfg_write(cf8(0, s, 0, 0x04), command::kMemorySpace, 2);
  d->mapped.clear();
  // Sizing, as Linux does it with decoding on: all ones, read, restore.
  m.cfg_write(cf8(0, s, 0, 0x10), 0xffffffff);
  EXPECT_EQ(m.cfg_read(cf8(0, s, 0, 0x10)), 0xffff'c000u);
  EXPECT_FALSE(m.mem_answers(kBarBase));
  m.cfg_write(cf8(0, s, 0, 0x10), 0xd000'0000);
  EXPECT_FALSE(m.mem_answers(kBarBase)) << "the old place no longer answers";
  EXPECT_FALSE(m.mem_answers(0xffff'c000));
  EXPECT_TRUE(m.mem_answers(0xd000'0000));
  EXPECT_EQ(m.mem_read(0xd000'0004, 1), 0x04u);
  EXPECT_EQ(m.root.routed(s, 0), 0xd000'0000u);
  EXPECT_EQ(d->mapped, (std::vector<std::pair<unsigned, std::optional<uint64_t>>>{
                           {0, 0xffff'c000}, {0, 0xd000'0000}}));
  // A 64-bit BAR moved through ECAM, one dword at a time.
  m.ecam_write(ecam(0, s, 0, 0x1c), 0x2);
  m.ecam_write(ecam(0, s, 0, 0x18), 0x8000'0000);
  EXPECT_EQ(m.root.routed(s, 2), 0x2'8000'0000u);
  EXPECT_TRUE(m.mem_answers(0x2'8000'7ffc));
  EXPECT_FALSE(m.mem_answers(0x1'0000'0000 + kBarBase));
  EXPECT_FALSE(m.mem_answers(0x2'0000'0000 + kBarBase)) << "the halfway place is gone too";
}

TEST(RootBus, BarMovedOntoAnotherDeviceIsNotRouted) {
  Machine m;
  auto a = m.add_fake();
  const uint8_t sa = m.slot;
  auto b = m.add_fake(0, 0xc800'0000);
  const uint8_t sb = m.slot;
  ASSERT_NE(sa, sb);
  m.cfg_write(cf8(0, sa, 0, 0x04), command::kMemorySpace, 2);
  m.cfg_write(cf8(0, sb, 0, 0x04), command::kMemorySpace, 2);
  ASSERT_EQ(m.root.routed(sb, 0), 0xc800'0000u);
  // B's BAR 0 moves onto A's: A keeps its range, B's is not routed anywhere.
  b->mapped.clear();
  m.cfg_write(cf8(0, sb, 0, 0x10), kBarBase + 0x1000);  // masked to kBarBase (16 KiB)
  EXPECT_FALSE(m.root.routed(sb, 0));
  EXPECT_EQ(m.root.routed(sa, 0), kBarBase);
  EXPECT_FALSE(m.mem_answers(0xc800'0000));
  a->accesses.clear();
  b->accesses.clear();
  EXPECT_EQ(m.mem_read(kBarBase + 0x1000, 1), 0x00u) << "A answers its own range";
  EXPECT_EQ(a->accesses.size(), 1u);
  EXPECT_TRUE(b->accesses.empty());
  EXPECT_EQ(b->mapped, (std::vector<std::pair<unsigned, std::optional<uint64_t>>>{
                           {0, std::nullopt}}));
  // Onto the ECAM window: the same.
  m.cfg_write(cf8(0, sb, 0, 0x10), static_cast<uint32_t>(layout::kPciEcamBase));
  EXPECT_FALSE(m.root.routed(sb, 0));
  EXPECT_EQ(m.ecam_read(0), 0x0008'1b36u) << "ECAM still works";
  // Moved somewhere free again: routed again.
  m.cfg_write(cf8(0, sb, 0, 0x10), 0xc900'0000);
  EXPECT_EQ(m.root.routed(sb, 0), 0xc900'0000u);
  EXPECT_TRUE(m.mem_answers(0xc900'0000));
  // A device enabling decoding over a taken range (inserted, not moved).
  m.cfg_write(cf8(0, sb, 0, 0x04), 0, 2);
  m.cfg_write(cf8(0, sb, 0, 0x10), kBarBase);
  m.cfg_write(cf8(0, sb, 0, 0x04), command::kMemorySpace, 2);
  EXPECT_FALSE(m.root.routed(sb, 0));
  EXPECT_EQ(m.root.routed(sa, 0), kBarBase);
}

TEST(RootBus, SyncAllAfterResetAndRestore) {
  Machine m;
  auto d = m.add_fake();
  const uint8_t s = m.slot;
  const auto fresh = d->save();
  m.cfg_write(cf8(0, s, 0, 0x04), command::kMemorySpace, 2);
  m.cfg_write(cf8(0, s, 0, 0x10), 0xd000'0000);
  const auto running = d->save();
  ASSERT_TRUE(m.mem_answers(0xd000'0000));

  // A reset turns decoding off behind the root bus's back; sync_all catches up.
  d->reset();
  EXPECT_EQ(d->save(), fresh);
  m.root.sync_all();
  EXPECT_FALSE(m.mem_answers(0xd000'0000));
  EXPECT_FALSE(m.root.routed(s, 0));
  EXPECT_FALSE(m.root.routed(s, 2));
  EXPECT_EQ(m.mmio.size(), 1u);
  m.root.sync_all();  // idempotent
  EXPECT_EQ(m.mmio.size(), 1u);

  // A restore turns it on again, where the saved state had it.
  ASSERT_TRUE(d->restore(running).ok());
  m.root.sync_all();
  EXPECT_EQ(m.root.routed(s, 0), 0xd000'0000u);
  EXPECT_TRUE(m.mem_answers(0xd000'0000));
  EXPECT_EQ(m.root.routed(s, 2), 0x1'0000'0000 + kBarBase);
}

TEST(RootBus, DestructionUnroutesEverything) {
  devices::Bus mmio;
  {
    RootBus root(mmio);
    auto d = std::make_shared<FakePciDevice>(
        std::vector<std::pair<unsigned, Bar>>{{0, {0x1000, BarKind::kMemory32, false}}});
    d->place_bar(0, kBarBase);
    ASSERT_TRUE(root.add(d).ok());
    const uint16_t on = command::kMemorySpace;
    root.write(0, 0, 0, reg::kCommand,
               std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&on), 2));
    EXPECT_EQ(mmio.size(), 1u);
  }
  EXPECT_EQ(mmio.size(), 0u);
}

TEST(RootBus, ConfigIoAndEcamSaveRestore) {
  Machine m;
  m.out(0xcf8, cf8(0, 3, 0, 0x10), 4);
  const auto s = m.io->save();
  ConfigIo other(m.root);
  ASSERT_TRUE(other.restore(s).ok());
  EXPECT_EQ(other.save(), s);
  auto bad = s;
  bad.bytes[0] = 0x01;  // reserved bits 1-0
  EXPECT_FALSE(other.restore(bad).ok());
  EXPECT_EQ(other.save(), s);
  bad = s;
  bad.version = 2;
  EXPECT_FALSE(other.restore(bad).ok());
  EXPECT_TRUE(m.ecam_dev->restore(m.ecam_dev->save()).ok());
  EXPECT_FALSE(m.ecam_dev->restore({1, {0}}).ok());
  EXPECT_FALSE(m.ecam_dev->restore({2, {}}).ok());
}

}  // namespace
}  // namespace vireo::pci
