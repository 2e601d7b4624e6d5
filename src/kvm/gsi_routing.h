// GsiRoutingTable: the in-kernel irqchip's GSI routing (what KVM_SET_GSI_ROUTING
// installs) as a value: which PIC/IOAPIC pins and which MSI messages each GSI drives.
//
// KVM_SET_GSI_ROUTING replaces the whole table, so a VMM that adds MSI routes (irqfds of
// virtio devices) must send the legacy routes again: start from default_x86() and add
// MSI routes on GSIs above the IOAPIC's 24 pins. GSI numbers are chosen by the caller
// (the allocator lives in vmm/); the table only checks what KVM would refuse.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "util/result.h"

namespace vireo::kvm {

enum class IrqChip : uint32_t {
  kPicMaster = KVM_IRQCHIP_PIC_MASTER,  // pins 0-7: ISA IRQs 0-7
  kPicSlave = KVM_IRQCHIP_PIC_SLAVE,    // pins 0-7: ISA IRQs 8-15
  kIoapic = KVM_IRQCHIP_IOAPIC,         // pins 0-23
};

// A GSI wired to an input pin of the PIC or the IOAPIC.
struct IrqChipRoute {
  IrqChip chip;
  uint32_t pin;
  bool operator==(const IrqChipRoute&) const = default;
};

// A GSI that sends one MSI message (x86: address 0xfee..... naming the destination
// LAPIC, data holding vector and delivery mode), as a device's MSI-X table entry holds it.
struct MsiRoute {
  uint32_t address_lo;
  uint32_t address_hi;
  uint32_t data;
  bool operator==(const MsiRoute&) const = default;
};

struct GsiRoute {
  uint32_t gsi;
  std::variant<IrqChipRoute, MsiRoute> target;
  bool operator==(const GsiRoute&) const = default;
};

class KvmIrqRouting;

class GsiRoutingTable {
 public:
  static constexpr uint32_t kPicPins = 16;     // GSIs 0-15 reach the PICs too
  static constexpr uint32_t kIoapicPins = 24;  // KVM_IOAPIC_NUM_PINS

  // An empty table: every GSI unrouted (legacy devices would go deaf).
  GsiRoutingTable() = default;

  // The table KVM_CREATE_IRQCHIP installs on x86 (default_routing[] of
  // kvm_setup_default_irq_routing, arch/x86/kvm/), entry for entry and in its order:
  //   GSI 0-15:  IOAPIC pin == GSI, then the PIC: master pin GSI for 0-7, slave pin
  //              GSI-8 for 8-15;
  //   GSI 16-23: IOAPIC pin == GSI only.
  // GSI 0 goes to IOAPIC pin 0, not pin 2 as on PC chipsets (QEMU builds that variant
  // itself): the in-kernel PIT raises GSI 0, which is why our MADT and MP table override
  // ISA IRQ 0 to GSI 0 (arch/x86/acpi.h kPitGsi). GSI 2 is routed like the others.
  static GsiRoutingTable default_x86();

  const std::vector<GsiRoute>& routes() const { return routes_; }
  size_t size() const { return routes_.size(); }
  bool operator==(const GsiRoutingTable&) const = default;

  // Adds a PIC or IOAPIC route (KVM allows one per chip and GSI, none on an MSI GSI).
  Result<void> add_irqchip(uint32_t gsi, IrqChip chip, uint32_t pin);

  // Routes `gsi` to one MSI message: adds the route, or replaces the GSI's MSI route in
  // place (a guest reprogramming an MSI-X vector). A GSI wired to an irqchip pin is
  // refused: KVM gives an MSI route a GSI of its own.
  Result<void> set_msi(uint32_t gsi, const MsiRoute& msi);
  // Removes the MSI route of `gsi`; false when it had none (irqchip routes stay).
  bool remove_msi(uint32_t gsi);
  std::optional<MsiRoute> msi(uint32_t gsi) const;

  // The table in the kernel's layout, for KVM_SET_GSI_ROUTING.
  KvmIrqRouting to_kvm() const;

 private:
  std::vector<GsiRoute> routes_;
};

// struct kvm_irq_routing as the kernel reads it: the header (nr, flags) followed by nr
// struct kvm_irq_routing_entry at offset 8, in 8-byte-aligned storage. (linux/kvm.h's
// own struct is no use from C++: its flexible array grows the header to 16 bytes and
// changes the ioctl number, see kvm/abi.h.)
class KvmIrqRouting {
 public:
  explicit KvmIrqRouting(const std::vector<GsiRoute>& routes);

  const void* data() const { return words_.data(); }
  size_t size_bytes() const;
  uint32_t nr() const;
  uint32_t flags() const;
  // A copy of entry i < nr() (the storage holds bytes, not objects).
  kvm_irq_routing_entry entry(uint32_t i) const;

 private:
  std::vector<uint64_t> words_;
};

}  // namespace vireo::kvm
