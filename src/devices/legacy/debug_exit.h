// Test exit device, compatible with QEMU's isa-debug-exit: a write of value v to port
// 0xf4 ends the VM, and vireo exits with status (v << 1) | 1.
#pragma once

#include <cstdint>
#include <functional>

#include "devices/bus_device.h"

namespace vireo::devices {

class DebugExit : public BusDevice {
 public:
  explicit DebugExit(std::function<void(uint32_t)> on_exit) : on_exit_(std::move(on_exit)) {}

  void read(uint64_t, std::span<uint8_t> data) override {
    for (auto& b : data) b = 0;
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    if (offset != 0) return;
    uint32_t v = 0;
    for (size_t i = 0; i < data.size() && i < 4; ++i) v |= uint32_t(data[i]) << (8 * i);
    if (on_exit_) on_exit_(v);
  }

 private:
  std::function<void(uint32_t)> on_exit_;
};

}  // namespace vireo::devices
