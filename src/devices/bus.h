// Bus: dispatches port I/O or MMIO accesses to the device registered at the address.
// A VM has two: one for port I/O (16-bit addresses) and one for MMIO.
//
// Ranges are kept in a vector sorted by base; a lookup is a binary search under a shared
// lock, so vCPU threads look up concurrently. Devices are normally inserted before the
// vCPUs run, but inserting later is safe too. The device is called after the bus lock is
// released (holding its own reference), so a device may insert into a bus from its
// handler without deadlocking.
//
// An access is routed by its first address only: a 4-byte access at the last port of a
// range reaches that device with offset len-1 and width 4 (devices answer bytes past
// their registers themselves, usually 0xff).
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
  // Registers `device` for [base, base+len). Fails, naming the range (and the range it
  // collides with), on overlap, an empty or wrapping range, or a null device.
  Result<void> insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len);

  // Unregisters the range that starts at `base` and returns its device (hot-unplug).
  // An access already dispatched finishes on the device it found.
  Result<std::shared_ptr<BusDevice>> remove(uint64_t base);

  // Moves the range that starts at `old_base` to `new_base`, keeping its length (a guest
  // reprogramming a PCI BAR). Fails, leaving the bus as it was, if the new range would
  // overlap another or wrap around.
  Result<void> move(uint64_t old_base, uint64_t new_base);

  struct Range {
    uint64_t base;
    uint64_t len;
    std::shared_ptr<BusDevice> device;
  };
  // The registered ranges, by base.
  std::vector<Range> ranges() const;

  // Forward the access to the device covering `addr`, with offset = addr - base. Return
  // false when nothing is mapped there and leave `data` untouched: the caller handles the
  // unmapped access (ignore writes; reads float high on the ISA bus, see
  // read_or_all_ones).
  bool read(uint64_t addr, std::span<uint8_t> data) const;
  bool write(uint64_t addr, std::span<const uint8_t> data) const;

  // read(), but an unmapped read returns all ones (0xff bytes), as on PC hardware.
  // Returns whether a device answered.
  bool read_or_all_ones(uint64_t addr, std::span<uint8_t> data) const;

  size_t size() const;  // number of registered ranges

 private:
  using Entry = Range;
  // The device covering addr (nullptr if none) and its base. Takes the shared lock.
  std::shared_ptr<BusDevice> find(uint64_t addr, uint64_t& base) const;
  // Where [base, base+len) would go in entries_, or an error naming the range it
  // overlaps. Called with the lock held.
  Result<std::vector<Entry>::iterator> slot_for(uint64_t base, uint64_t len);

  mutable std::shared_mutex mu_;
  std::vector<Entry> entries_;  // sorted by base, non-overlapping
};

}  // namespace vireo::devices
