// Test exit device, compatible with QEMU's isa-debug-exit: the guest writes a value v to
// port 0xf4 and the VM ends; vireo then exits with status (v << 1) | 1 (so a guest can
// never report plain success, 0, through it).
//
// Register it at 0xf4 with kPortSpan (4) ports. Like QEMU's device, a write of any width
// (1, 2 or 4 bytes, little-endian) at any offset in the range ends the VM with the
// written value; an 8-byte write uses its low 4 bytes. Reads return 0.
//
// on_exit is called from the vCPU thread that wrote, with no lock held (the device has
// no state); the VMM stops the VM and computes the exit status
// (vmm::exit_code::debug_exit).
#pragma once

#include <cstdint>
#include <functional>

#include "devices/bus_device.h"

namespace vireo::devices {

class DebugExit : public BusDevice {
 public:
  static constexpr uint64_t kPortSpan = 4;

  // `on_exit` (may be empty) receives the written value v, not the exit status.
  explicit DebugExit(std::function<void(uint32_t)> on_exit);

  std::string_view name() const override { return "debug-exit"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // No state: it saves as nothing and restores only nothing.
  void reset() override {}
  DeviceState save() const override { return {kStateVersion, {}}; }
  Result<void> restore(const DeviceState& state) override;
  static constexpr uint32_t kStateVersion = 1;

 private:
  const std::function<void(uint32_t)> on_exit_;
};

}  // namespace vireo::devices
