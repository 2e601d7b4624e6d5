// A device that answers port I/O or MMIO accesses on a Bus.
#pragma once

#include <cstdint>
#include <span>

namespace vireo::devices {

class BusDevice {
 public:
  virtual ~BusDevice() = default;
  // `offset` is relative to the start of the range the device was registered at.
  // `data.size()` is the access width (1, 2, 4 or 8). Reads must fill all of `data`.
  // Called from vCPU threads; devices lock their own state.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

}  // namespace vireo::devices
