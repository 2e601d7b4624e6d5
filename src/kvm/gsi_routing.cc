#include "kvm/gsi_routing.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "kvm/abi.h"

namespace vireo::kvm {
namespace {

const char* chip_name(IrqChip chip) {
  switch (chip) {
    case IrqChip::kPicMaster: return "PIC master";
    case IrqChip::kPicSlave: return "PIC slave";
    case IrqChip::kIoapic: return "IOAPIC";
  }
  return "irqchip";
}

uint32_t chip_pins(IrqChip chip) {
  return chip == IrqChip::kIoapic ? GsiRoutingTable::kIoapicPins : 8;
}

bool is_msi(const GsiRoute& r) { return std::holds_alternative<MsiRoute>(r.target); }

}  // namespace

GsiRoutingTable GsiRoutingTable::default_x86() {
  GsiRoutingTable t;
  for (uint32_t gsi = 0; gsi < kIoapicPins; ++gsi) {
    t.routes_.push_back({gsi, IrqChipRoute{IrqChip::kIoapic, gsi}});
    if (gsi < kPicPins)
      t.routes_.push_back(
          {gsi, IrqChipRoute{gsi < 8 ? IrqChip::kPicMaster : IrqChip::kPicSlave, gsi % 8}});
  }
  return t;
}

Result<void> GsiRoutingTable::add_irqchip(uint32_t gsi, IrqChip chip, uint32_t pin) {
  if (pin >= chip_pins(chip))
    return Error(fmt::format("GSI {}: {} has no pin {}", gsi, chip_name(chip), pin));
  for (const auto& r : routes_) {
    if (r.gsi != gsi) continue;
    if (is_msi(r)) return Error(fmt::format("GSI {} already sends an MSI", gsi));
    if (std::get<IrqChipRoute>(r.target).chip == chip)
      return Error(fmt::format("GSI {} is already routed to the {}", gsi, chip_name(chip)));
  }
  routes_.push_back({gsi, IrqChipRoute{chip, pin}});
  return {};
}

Result<void> GsiRoutingTable::set_msi(uint32_t gsi, const MsiRoute& msi) {
  for (auto& r : routes_) {
    if (r.gsi != gsi) continue;
    if (!is_msi(r))
      return Error(fmt::format("GSI {} is routed to the {}: an MSI needs a GSI of its own",
                               gsi, chip_name(std::get<IrqChipRoute>(r.target).chip)));
    r.target = msi;  // KVM allows one MSI route per GSI: this is it
    return {};
  }
  routes_.push_back({gsi, msi});
  return {};
}

bool GsiRoutingTable::remove_msi(uint32_t gsi) {
  auto it = std::find_if(routes_.begin(), routes_.end(),
                         [gsi](const GsiRoute& r) { return r.gsi == gsi && is_msi(r); });
  if (it == routes_.end()) return false;
  routes_.erase(it);
  return true;
}

std::optional<MsiRoute> GsiRoutingTable::msi(uint32_t gsi) const {
  for (const auto& r : routes_)
    if (r.gsi == gsi && is_msi(r)) return std::get<MsiRoute>(r.target);
  return std::nullopt;
}

KvmIrqRouting GsiRoutingTable::to_kvm() const { return KvmIrqRouting(routes_); }

KvmIrqRouting::KvmIrqRouting(const std::vector<GsiRoute>& routes) {
  static_assert(alignof(uint64_t) >= alignof(kvm_irq_routing_entry));
  const size_t bytes =
      sizeof(abi::IrqRoutingHeader) + routes.size() * sizeof(kvm_irq_routing_entry);
  words_.assign((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t), 0);
  auto* out = reinterpret_cast<uint8_t*>(words_.data());

  abi::IrqRoutingHeader header{static_cast<uint32_t>(routes.size()), 0};
  std::memcpy(out, &header, sizeof(header));
  for (size_t i = 0; i < routes.size(); ++i) {
    kvm_irq_routing_entry e{};
    e.gsi = routes[i].gsi;
    if (const auto* chip = std::get_if<IrqChipRoute>(&routes[i].target)) {
      e.type = KVM_IRQ_ROUTING_IRQCHIP;
      e.u.irqchip.irqchip = static_cast<uint32_t>(chip->chip);
      e.u.irqchip.pin = chip->pin;
    } else {
      const auto& msi = std::get<MsiRoute>(routes[i].target);
      e.type = KVM_IRQ_ROUTING_MSI;
      e.u.msi.address_lo = msi.address_lo;
      e.u.msi.address_hi = msi.address_hi;
      e.u.msi.data = msi.data;
    }
    std::memcpy(out + sizeof(header) + i * sizeof(e), &e, sizeof(e));
  }
}

size_t KvmIrqRouting::size_bytes() const {
  return sizeof(abi::IrqRoutingHeader) + nr() * sizeof(kvm_irq_routing_entry);
}

uint32_t KvmIrqRouting::nr() const {
  abi::IrqRoutingHeader header;
  std::memcpy(&header, words_.data(), sizeof(header));
  return header.nr;
}

uint32_t KvmIrqRouting::flags() const {
  abi::IrqRoutingHeader header;
  std::memcpy(&header, words_.data(), sizeof(header));
  return header.flags;
}

kvm_irq_routing_entry KvmIrqRouting::entry(uint32_t i) const {
  assert(i < nr());
  kvm_irq_routing_entry e;
  std::memcpy(&e, reinterpret_cast<const uint8_t*>(words_.data()) +
                      sizeof(abi::IrqRoutingHeader) + i * sizeof(e),
              sizeof(e));
  return e;
}

}  // namespace vireo::kvm
