#include "vmm/address_allocator.h"

#include <fmt/format.h>

namespace vireo::vmm {

bool AddressAllocator::is_free(uint64_t base, uint64_t size) const {
  auto next = used_.lower_bound(base);
  if (next != used_.end() && next->first - base < size) return false;
  if (next != used_.begin()) {
    auto prev = std::prev(next);
    if (base - prev->first < prev->second) return false;
  }
  return true;
}

Result<uint64_t> AddressAllocator::allocate(uint64_t size, uint64_t align) {
  if (size == 0 || align == 0 || (align & (align - 1)) != 0)
    return Error(fmt::format("{}: cannot allocate {:#x} bytes aligned to {:#x}", what_, size, align));
  auto align_up = [align](uint64_t v, uint64_t& out) {
    if (v > ~uint64_t{0} - (align - 1)) return false;
    out = (v + align - 1) & ~(align - 1);
    return true;
  };
  uint64_t candidate;
  bool ok = align_up(start_, candidate);
  // Used ranges are sorted and disjoint: the first gap that holds the request wins.
  for (auto it = used_.begin(); ok && it != used_.end(); ++it) {
    if (candidate <= it->first && it->first - candidate >= size) break;
    if (it->first + it->second > candidate) ok = align_up(it->first + it->second, candidate);
  }
  if (ok && candidate <= end_ && end_ - candidate >= size) {
    used_[candidate] = size;
    return candidate;
  }
  return Error(fmt::format("{}: no room for {:#x} bytes aligned to {:#x} in {:#x}-{:#x}", what_,
                           size, align, start_, end_ - 1));
}

Result<void> AddressAllocator::allocate_at(uint64_t base, uint64_t size) {
  if (size == 0 || base < start_ || base > end_ || end_ - base < size)
    return Error(fmt::format("{}: {:#x}+{:#x} is outside {:#x}-{:#x}", what_, base, size, start_,
                             end_ - 1));
  if (!is_free(base, size))
    return Error(fmt::format("{}: {:#x}+{:#x} is already in use", what_, base, size));
  used_[base] = size;
  return {};
}

Result<void> AddressAllocator::release(uint64_t base) {
  if (used_.erase(base) == 0)
    return Error(fmt::format("{}: nothing was allocated at {:#x}", what_, base));
  return {};
}

Result<uint32_t> IdAllocator::allocate() {
  for (uint64_t id = first_; id <= last_; ++id) {
    if (!used_.count(static_cast<uint32_t>(id))) {
      used_.insert(static_cast<uint32_t>(id));
      return static_cast<uint32_t>(id);
    }
  }
  return Error(fmt::format("{}: all of {}-{} are in use", what_, first_, last_));
}

Result<void> IdAllocator::allocate_at(uint32_t id) {
  if (!contains(id)) return Error(fmt::format("{}: {} is outside {}-{}", what_, id, first_, last_));
  if (!used_.insert(id).second) return Error(fmt::format("{}: {} is already in use", what_, id));
  return {};
}

void IdAllocator::reserve(uint32_t id) {
  if (contains(id)) used_.insert(id);
}

Result<void> IdAllocator::release(uint32_t id) {
  if (used_.erase(id) == 0) return Error(fmt::format("{}: {} was not allocated", what_, id));
  return {};
}

}  // namespace vireo::vmm
