// GsiRoutingTable: KVM's default x86 table, MSI route edits and the kernel layout.
#include "kvm/gsi_routing.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace vireo::kvm {
namespace {

constexpr MsiRoute kMsi{0xfee00000, 0, 0x41};

IrqChipRoute chip_of(const GsiRoute& r) { return std::get<IrqChipRoute>(r.target); }

TEST(GsiRouting, DefaultX86IsKvmsTable) {
  auto t = GsiRoutingTable::default_x86();
  // 16 GSIs on the IOAPIC and a PIC, 8 on the IOAPIC only.
  ASSERT_EQ(t.size(), 16u * 2 + 8);
  const auto& r = t.routes();
  for (uint32_t gsi = 0; gsi < 16; ++gsi) {
    SCOPED_TRACE(gsi);
    // The kernel's order: the IOAPIC entry, then the PIC entry.
    EXPECT_EQ(r[2 * gsi].gsi, gsi);
    EXPECT_EQ(chip_of(r[2 * gsi]), (IrqChipRoute{IrqChip::kIoapic, gsi}));
    EXPECT_EQ(r[2 * gsi + 1].gsi, gsi);
    EXPECT_EQ(chip_of(r[2 * gsi + 1]),
              (IrqChipRoute{gsi < 8 ? IrqChip::kPicMaster : IrqChip::kPicSlave, gsi % 8}));
  }
  for (uint32_t gsi = 16; gsi < 24; ++gsi) {
    SCOPED_TRACE(gsi);
    EXPECT_EQ(r[32 + gsi - 16], (GsiRoute{gsi, IrqChipRoute{IrqChip::kIoapic, gsi}}));
  }
  // GSI 0 (the in-kernel PIT) is IOAPIC pin 0, not pin 2; GSI 2 is an ordinary pin.
  EXPECT_EQ(chip_of(r[0]).pin, 0u);
  EXPECT_EQ(r[4], (GsiRoute{2, IrqChipRoute{IrqChip::kIoapic, 2}}));
  EXPECT_EQ(r[5], (GsiRoute{2, IrqChipRoute{IrqChip::kPicMaster, 2}}));
  EXPECT_EQ(r[17], (GsiRoute{8, IrqChipRoute{IrqChip::kPicSlave, 0}}));
  EXPECT_FALSE(t.msi(0).has_value());
}

TEST(GsiRouting, MsiRoutesAreAddedReplacedAndRemoved) {
  auto t = GsiRoutingTable::default_x86();
  const auto legacy = t;
  ASSERT_TRUE(t.set_msi(24, kMsi).ok());
  ASSERT_TRUE(t.set_msi(30, {0xfee01000, 0, 0x42}).ok());
  EXPECT_EQ(t.size(), legacy.size() + 2);
  EXPECT_EQ(t.routes()[legacy.size()], (GsiRoute{24, kMsi}));
  EXPECT_EQ(t.msi(24), kMsi);

  // The guest reprograms the vector: replaced in place, not added.
  const MsiRoute moved{0xfee02000, 0, 0x51};
  ASSERT_TRUE(t.set_msi(24, moved).ok());
  EXPECT_EQ(t.size(), legacy.size() + 2);
  EXPECT_EQ(t.routes()[legacy.size()], (GsiRoute{24, moved}));
  EXPECT_EQ(t.msi(30), (MsiRoute{0xfee01000, 0, 0x42}));

  EXPECT_TRUE(t.remove_msi(24));
  EXPECT_FALSE(t.remove_msi(24));
  EXPECT_FALSE(t.msi(24).has_value());
  EXPECT_TRUE(t.remove_msi(30));
  EXPECT_EQ(t, legacy);  // the legacy routes were never touched
}

TEST(GsiRouting, MsiNeedsAGsiOfItsOwn) {
  auto t = GsiRoutingTable::default_x86();
  const auto legacy = t;
  auto r = t.set_msi(5, kMsi);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("GSI 5 is routed to the IOAPIC"), std::string::npos)
      << r.error().message();
  EXPECT_FALSE(t.remove_msi(5));  // irqchip routes are not MSI routes
  EXPECT_EQ(t, legacy);
}

TEST(GsiRouting, IrqchipRoutesFollowKvmsRules) {
  GsiRoutingTable t;
  ASSERT_TRUE(t.add_irqchip(3, IrqChip::kIoapic, 3).ok());
  ASSERT_TRUE(t.add_irqchip(3, IrqChip::kPicMaster, 3).ok());
  EXPECT_FALSE(t.add_irqchip(3, IrqChip::kIoapic, 4).ok());     // one route per chip
  EXPECT_FALSE(t.add_irqchip(4, IrqChip::kPicSlave, 8).ok());   // PICs have 8 pins
  EXPECT_FALSE(t.add_irqchip(4, IrqChip::kIoapic, 24).ok());    // the IOAPIC 24
  ASSERT_TRUE(t.set_msi(40, kMsi).ok());
  EXPECT_FALSE(t.add_irqchip(40, IrqChip::kIoapic, 1).ok());    // an MSI GSI is its own
  EXPECT_EQ(t.size(), 3u);
}

TEST(GsiRouting, KernelLayout) {
  auto t = GsiRoutingTable::default_x86();
  ASSERT_TRUE(t.set_msi(24, {0xfee00000, 0x12, 0x4041}).ok());
  const KvmIrqRouting k = t.to_kvm();

  ASSERT_EQ(k.nr(), 41u);
  EXPECT_EQ(k.flags(), 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(k.data()) % alignof(kvm_irq_routing_entry), 0u);
  // struct kvm_irq_routing { __u32 nr; __u32 flags; struct kvm_irq_routing_entry entries[]; }
  EXPECT_EQ(k.size_bytes(), 8u + 41 * 48);
  uint32_t header[2];
  std::memcpy(header, k.data(), sizeof(header));
  EXPECT_EQ(header[0], 41u);
  EXPECT_EQ(header[1], 0u);

  // Entry 1: GSI 0 on PIC master pin 0, read from the raw bytes at offset 8 + 48.
  const auto* bytes = static_cast<const uint8_t*>(k.data());
  uint32_t raw[6];  // gsi, type, flags, pad, irqchip, pin
  std::memcpy(raw, bytes + 8 + 48, sizeof(raw));
  EXPECT_EQ(raw[0], 0u);
  EXPECT_EQ(raw[1], static_cast<uint32_t>(KVM_IRQ_ROUTING_IRQCHIP));
  EXPECT_EQ(raw[2], 0u);
  EXPECT_EQ(raw[4], static_cast<uint32_t>(KVM_IRQCHIP_PIC_MASTER));
  EXPECT_EQ(raw[5], 0u);

  const auto slave = k.entry(17);  // GSI 8 on PIC slave pin 0
  EXPECT_EQ(slave.gsi, 8u);
  EXPECT_EQ(slave.type, static_cast<uint32_t>(KVM_IRQ_ROUTING_IRQCHIP));
  EXPECT_EQ(slave.u.irqchip.irqchip, static_cast<uint32_t>(KVM_IRQCHIP_PIC_SLAVE));
  EXPECT_EQ(slave.u.irqchip.pin, 0u);

  const auto ioapic = k.entry(39);  // GSI 23 on IOAPIC pin 23
  EXPECT_EQ(ioapic.gsi, 23u);
  EXPECT_EQ(ioapic.u.irqchip.irqchip, static_cast<uint32_t>(KVM_IRQCHIP_IOAPIC));
  EXPECT_EQ(ioapic.u.irqchip.pin, 23u);

  const auto msi = k.entry(40);
  EXPECT_EQ(msi.gsi, 24u);
  EXPECT_EQ(msi.type, static_cast<uint32_t>(KVM_IRQ_ROUTING_MSI));
  EXPECT_EQ(msi.flags, 0u);
  EXPECT_EQ(msi.u.msi.address_lo, 0xfee00000u);
  EXPECT_EQ(msi.u.msi.address_hi, 0x12u);
  EXPECT_EQ(msi.u.msi.data, 0x4041u);
  EXPECT_EQ(msi.u.msi.devid, 0u);
}

TEST(GsiRouting, EmptyTableInKernelLayout) {
  const KvmIrqRouting k = GsiRoutingTable().to_kvm();
  EXPECT_EQ(k.nr(), 0u);
  EXPECT_EQ(k.size_bytes(), 8u);
}

}  // namespace
}  // namespace vireo::kvm
