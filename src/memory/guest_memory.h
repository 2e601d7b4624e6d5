// Guest physical memory: memfd-backed regions mapped into the VMM, with checked access.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::memory {

// One contiguous range of guest physical addresses backed by one host mapping.
struct Region {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;  // start of the host mapping
  uint64_t fd_offset = 0;   // offset of this region in the backing memfd
  uint64_t end() const { return gpa + size; }
};

// Guest RAM. All guest addresses are hostile input: every access is checked against
// the regions and fails with an Error (never UB) if any byte falls outside.
class GuestMemory {
 public:
  struct RangeSpec {
    uint64_t gpa;
    uint64_t size;
  };
  // Creates one memfd holding all ranges (back to back) and maps it. Sizes must be
  // page-aligned. The memfd is kept so snapshot/migration can share the pages later.
  static Result<GuestMemory> create(const std::vector<RangeSpec>& ranges,
                                    const std::string& name = "vireo-guest-ram");

  GuestMemory() = default;
  ~GuestMemory();
  GuestMemory(GuestMemory&&) noexcept;
  GuestMemory& operator=(GuestMemory&&) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  const std::vector<Region>& regions() const { return regions_; }
  uint64_t total_size() const;
  int memfd() const { return memfd_.get(); }

  // True if [gpa, gpa+len) lies inside one region.
  bool contains(uint64_t gpa, uint64_t len) const;

  // Host view of [gpa, gpa+len); fails unless the whole range is inside one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;

  // Copies that may span adjacent regions; fail if any byte is outside guest RAM.
  Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;
  Result<void> write(uint64_t gpa, std::span<const uint8_t> in) const;

  template <class T>
  Result<T> read_obj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    auto r = read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!r.ok()) return r.error();
    return value;
  }
  template <class T>
  Result<void> write_obj(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value),
                                               sizeof(T)));
  }

 private:
  const Region* find(uint64_t gpa) const;
  void unmap_all();

  UniqueFd memfd_;
  std::vector<Region> regions_;
};

}  // namespace vireo::memory
