#include "pci/root_bus.h"

#include "log/log.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

namespace vireo::pci {

namespace {
// A BAR's range on the MMIO bus: forwards accesses to the device with the BAR's index.
class BarWindow : public devices::BusDevice {
 public:
  BarWindow(std::shared_ptr<PciDevice> device, unsigned index)
      : device_(std::move(device)), index_(index) {}
  std::string_view name() const override { return device_->name(); }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    device_->read_bar(index_, offset, data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    device_->write_bar(index_, offset, data);
  }
  // The window is routing, not state: the device saves and resets itself.
  void reset() override {}
  devices::DeviceState save() const override { return {1, {}}; }
  Result<void> restore(const devices::DeviceState&) override { return {}; }

 private:
  std::shared_ptr<PciDevice> device_;
  unsigned index_;
};
}  // namespace

RootBus::~RootBus() {
  for (auto& s : slots_)
    for (auto& r : s.routed)
      if (r) (void)mmio_.remove(*r);
}

Result<uint8_t> RootBus::add(std::shared_ptr<PciDevice> device, std::optional<uint8_t> slot) {
  if (!device) return Error("PCI: no device");
  std::lock_guard lock(mu_);
  uint8_t n = 0;
  if (slot) {
    if (*slot >= kSlots || slots_[*slot].device)
      return Error(fmt::format("PCI slot {} is not free for {}", *slot, device->name()));
    n = *slot;
  } else {
    while (n < kSlots && slots_[n].device) ++n;
    if (n == kSlots) return Error(fmt::format("PCI bus 0 is full (32 slots): no room for {}",
                                              device->name()));
  }
  slots_[n].device = std::move(device);
  sync(slots_[n]);
  return n;
}

PciDevice* RootBus::find(uint8_t bus, uint8_t slot, uint8_t function) const {
  if (bus != 0 || slot >= kSlots || function != 0) return nullptr;
  return slots_[slot].device.get();
}

void RootBus::read(uint8_t bus, uint8_t slot, uint8_t function, uint32_t offset,
                   std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  PciDevice* d = find(bus, slot, function);
  if (!d) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  d->read(offset, data);
}

void RootBus::write(uint8_t bus, uint8_t slot, uint8_t function, uint32_t offset,
                    std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  PciDevice* d = find(bus, slot, function);
  if (!d) return;
  d->write(offset, data);
  sync(slots_[slot]);
}

void RootBus::sync_all() {
  std::lock_guard lock(mu_);
  for (auto& s : slots_)
    if (s.device) sync(s);
}

std::optional<uint64_t> RootBus::routed(uint8_t slot, unsigned index) const {
  std::lock_guard lock(mu_);
  if (slot >= kSlots || index >= kBarCount) return {};
  return slots_[slot].routed[index];
}

void RootBus::sync(Slot& s) {
  for (unsigned i = 0; i < kBarCount; ++i) {
    auto bar = s.device->bar(i);
    std::optional<uint64_t> want = bar ? s.device->decoded_bar(i) : std::nullopt;
    auto& have = s.routed[i];
    if (want == have) continue;
    if (have && want) {
      if (!mmio_.move(*have, *want).ok()) {
        // The new place collides with another device: the BAR stops decoding, as it
        // would on a real bus where two decoders fight (the guest's mistake).
        LOG_WARN("{}: BAR {} at {:#x} overlaps another device; not routed", s.device->name(), i, *want);
        (void)mmio_.remove(*have);
        want.reset();
      }
    } else if (have) {
      (void)mmio_.remove(*have);
    } else if (!mmio_.insert(std::make_shared<BarWindow>(s.device, i), *want, bar->size).ok()) {
      LOG_WARN("{}: BAR {} at {:#x} overlaps another device; not routed", s.device->name(), i, *want);
      want.reset();
    }
    have = want;
    s.device->bar_mapped(i, have);
  }
}

}  // namespace vireo::pci
