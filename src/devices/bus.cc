#include "devices/bus.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

namespace vireo::devices {

Result<void> Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len) {
  if (len == 0 || base + len < base)
    return Error(fmt::format("bus range {:#x}+{:#x} is empty or wraps", base, len));
  if (!device) return Error("bus: null device");
  std::unique_lock lock(mu_);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), base,
                             [](const Entry& e, uint64_t b) { return e.base < b; });
  if (it != entries_.end() && it->base < base + len)
    return Error(fmt::format("bus range {:#x}+{:#x} overlaps {:#x}+{:#x}", base, len, it->base,
                             it->len));
  if (it != entries_.begin()) {
    auto prev = std::prev(it);
    if (prev->base + prev->len > base)
      return Error(fmt::format("bus range {:#x}+{:#x} overlaps {:#x}+{:#x}", base, len,
                               prev->base, prev->len));
  }
  entries_.insert(it, Entry{base, len, std::move(device)});
  return {};
}

const Bus::Entry* Bus::find(uint64_t addr) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.base; });
  if (it == entries_.begin()) return nullptr;
  --it;
  return addr - it->base < it->len ? &*it : nullptr;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  std::shared_lock lock(mu_);
  const Entry* e = find(addr);
  if (!e) return false;
  e->device->read(addr - e->base, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  std::shared_lock lock(mu_);
  const Entry* e = find(addr);
  if (!e) return false;
  e->device->write(addr - e->base, data);
  return true;
}

}  // namespace vireo::devices
