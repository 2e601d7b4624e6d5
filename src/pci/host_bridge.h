// HostBridge: function 00.0 of the root bus, the host bridge itself. It has no BARs and no
// registers beyond its header; Linux checks for a host-bridge class at 00.0 before it
// trusts configuration mechanism #1 (ports 0xcf8/0xcfc).
#pragma once

#include <mutex>

#include "pci/device.h"

namespace vireo::pci {

class HostBridge : public PciDevice {
 public:
  static constexpr uint32_t kStateVersion = 1;
  HostBridge();

  std::string_view name() const override { return "pci-host-bridge"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  devices::DeviceState save() const override;
  Result<void> restore(const devices::DeviceState& state) override;

  void read_bar(unsigned, uint64_t, std::span<uint8_t> data) override;
  void write_bar(unsigned, uint64_t, std::span<const uint8_t>) override {}
  std::optional<Bar> bar(unsigned) const override { return {}; }
  std::optional<uint64_t> decoded_bar(unsigned) const override { return {}; }
  void place_bar(unsigned, uint64_t) override {}

 private:
  mutable std::mutex mu_;
  ConfigSpace config_;
};

}  // namespace vireo::pci
