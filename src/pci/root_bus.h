// RootBus: PCI bus 0, its 32 device slots (function 0 of each), and the routing of their
// BARs on the VM's MMIO bus.
//
// Configuration accesses come from ConfigIo (ports 0xcf8/0xcfc) and Ecam (memory-mapped)
// on vCPU threads and are serialised here. After each write the device's BARs are
// re-read: a BAR the guest moved, or whose decoding it turned on or off, is moved,
// inserted or removed on the MMIO bus, and the device is told (PciDevice::bar_mapped).
// BAR accesses themselves go straight from the MMIO bus to the device, without this lock.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <optional>

#include "devices/bus.h"
#include "pci/device.h"

namespace vireo::pci {

class RootBus {
 public:
  static constexpr unsigned kSlots = 32;

  // `mmio` outlives the root bus.
  explicit RootBus(devices::Bus& mmio) : mmio_(mmio) {}
  ~RootBus();
  RootBus(const RootBus&) = delete;
  RootBus& operator=(const RootBus&) = delete;

  // Puts `device` in the lowest free slot (or `slot`) and returns the slot number.
  Result<uint8_t> add(std::shared_ptr<PciDevice> device, std::optional<uint8_t> slot = {});

  // Configuration space accesses: a function that does not exist reads all ones and
  // ignores writes.
  void read(uint8_t bus, uint8_t slot, uint8_t function, uint32_t offset, std::span<uint8_t> data);
  void write(uint8_t bus, uint8_t slot, uint8_t function, uint32_t offset,
             std::span<const uint8_t> data);

  // Brings every BAR's routing in line with the devices' configuration spaces (after a
  // reset or a restore changed them behind the root bus's back).
  void sync_all();

  // Where BAR `index` of the device in `slot` is routed now (tests, logs).
  std::optional<uint64_t> routed(uint8_t slot, unsigned index) const;

 private:
  struct Slot {
    std::shared_ptr<PciDevice> device;
    std::array<std::optional<uint64_t>, kBarCount> routed{};
  };
  PciDevice* find(uint8_t bus, uint8_t slot, uint8_t function) const;
  void sync(Slot& s);

  devices::Bus& mmio_;
  mutable std::mutex mu_;
  std::array<Slot, kSlots> slots_{};
};

}  // namespace vireo::pci
