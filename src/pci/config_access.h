// The guest's two ways into PCI configuration space, as devices on the VM's buses:
// - ConfigIo: configuration mechanism #1, ports 0xcf8 (a 32-bit address register:
//   enable bit 31, bus 23-16, device 15-11, function 10-8, register 7-2) and 0xcfc-0xcff
//   (the data window, any width);
// - Ecam: the memory-mapped (PCI Express) window the ACPI MCFG table announces, 4 KiB
//   per function: offset = bus << 20 | device << 15 | function << 12 | register.
#pragma once

#include <atomic>

#include "devices/bus_device.h"
#include "pci/root_bus.h"

namespace vireo::pci {

class ConfigIo : public devices::BusDevice {
 public:
  static constexpr uint64_t kPortCount = 8;
  static constexpr uint32_t kStateVersion = 1;
  explicit ConfigIo(RootBus& root) : root_(root) {}

  std::string_view name() const override { return "pci-config-io"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override { address_.store(0); }
  devices::DeviceState save() const override;
  Result<void> restore(const devices::DeviceState& state) override;

 private:
  RootBus& root_;
  std::atomic<uint32_t> address_{0};
};

class Ecam : public devices::BusDevice {
 public:
  explicit Ecam(RootBus& root) : root_(root) {}

  std::string_view name() const override { return "pci-ecam"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override {}
  devices::DeviceState save() const override { return {1, {}}; }
  Result<void> restore(const devices::DeviceState& state) override;

 private:
  RootBus& root_;
};

}  // namespace vireo::pci
