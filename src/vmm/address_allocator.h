// AddressAllocator: hands out ranges of one address space (MMIO below 4 GiB, above RAM,
// port I/O) first fit, with alignment; IdAllocator does the same for small numbers
// (GSIs, PCI slots). The device manager owns one of each kind.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "util/result.h"

namespace vireo::vmm {

class AddressAllocator {
 public:
  // Manages [start, end). `what` names the space in errors ("MMIO devices").
  AddressAllocator(std::string what, uint64_t start, uint64_t end)
      : what_(std::move(what)), start_(start), end_(end) {}

  // The lowest free range of `size` bytes aligned to `align` (a power of two).
  Result<uint64_t> allocate(uint64_t size, uint64_t align);
  // Exactly [base, base+size), if free and inside the space.
  Result<void> allocate_at(uint64_t base, uint64_t size);
  // Gives back the range that starts at `base`.
  Result<void> release(uint64_t base);

  uint64_t start() const { return start_; }
  uint64_t end() const { return end_; }

 private:
  bool is_free(uint64_t base, uint64_t size) const;
  std::string what_;
  uint64_t start_, end_;
  std::map<uint64_t, uint64_t> used_;  // base -> size
};

class IdAllocator {
 public:
  // Manages the numbers first..last (inclusive).
  IdAllocator(std::string what, uint32_t first, uint32_t last)
      : what_(std::move(what)), first_(first), last_(last) {}

  Result<uint32_t> allocate();              // the lowest free number
  Result<void> allocate_at(uint32_t id);    // exactly this one
  // Marks `id` used if it is in range and free; numbers outside the range are not ours.
  void reserve(uint32_t id);
  Result<void> release(uint32_t id);
  bool contains(uint32_t id) const { return id >= first_ && id <= last_; }

 private:
  std::string what_;
  uint32_t first_, last_;
  std::set<uint32_t> used_;
};

}  // namespace vireo::vmm
