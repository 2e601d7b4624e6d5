// Bus: dispatches port I/O or MMIO accesses to the device registered at the address.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <vector>

#include "devices/bus_device.h"
#include "util/result.h"

namespace vireo::devices {

class Bus {
 public:
  // Registers `device` for [base, base+len). Fails on overlap or an empty range.
  Result<void> insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len);

  // Forward the access with offset = addr - base. Return false when nothing is mapped
  // there (the caller decides: reads of unmapped ports float high, all ones).
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

 private:
  struct Entry {
    uint64_t base;
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  const Entry* find(uint64_t addr) const;

  mutable std::shared_mutex mu_;
  std::vector<Entry> entries_;  // sorted by base, non-overlapping
};

}  // namespace vireo::devices
