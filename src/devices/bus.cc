#include "devices/bus.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>

namespace vireo::devices {

Result<std::vector<Bus::Entry>::iterator> Bus::slot_for(uint64_t base, uint64_t len) {
  if (len == 0 || len - 1 > ~uint64_t{0} - base)
    return Error(fmt::format("bus range {:#x}+{:#x} is empty or wraps around", base, len));
  // The first range starting at or after base, and the one before it.
  auto it = std::lower_bound(entries_.begin(), entries_.end(), base,
                             [](const Entry& e, uint64_t b) { return e.base < b; });
  auto collide = [&](const Entry& e) {
    return Error(fmt::format("bus range {:#x}-{:#x} overlaps {:#x}-{:#x}", base,
                             base + len - 1, e.base, e.base + e.len - 1));
  };
  if (it != entries_.end() && it->base - base < len) return collide(*it);
  if (it != entries_.begin() && base - std::prev(it)->base < std::prev(it)->len)
    return collide(*std::prev(it));
  return it;
}

Result<void> Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t len) {
  if (!device) return Error(fmt::format("bus range {:#x}+{:#x}: null device", base, len));
  std::unique_lock lock(mu_);
  VIREO_ASSIGN_OR_RETURN(auto it, slot_for(base, len));
  entries_.insert(it, Entry{base, len, std::move(device)});
  return {};
}

Result<std::shared_ptr<BusDevice>> Bus::remove(uint64_t base) {
  std::unique_lock lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.base == base; });
  if (it == entries_.end()) return Error(fmt::format("no bus range starts at {:#x}", base));
  auto device = std::move(it->device);
  entries_.erase(it);
  return device;
}

Result<void> Bus::move(uint64_t old_base, uint64_t new_base) {
  std::unique_lock lock(mu_);
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.base == old_base; });
  if (it == entries_.end()) return Error(fmt::format("no bus range starts at {:#x}", old_base));
  Entry moved = std::move(*it);
  entries_.erase(it);
  auto slot = slot_for(new_base, moved.len);
  if (!slot.ok()) {  // put it back where it was
    auto back = std::lower_bound(entries_.begin(), entries_.end(), old_base,
                                 [](const Entry& e, uint64_t b) { return e.base < b; });
    entries_.insert(back, std::move(moved));
    return slot.error().context(fmt::format("moving bus range {:#x}", old_base));
  }
  moved.base = new_base;
  entries_.insert(*slot, std::move(moved));
  return {};
}

std::vector<Bus::Range> Bus::ranges() const {
  std::shared_lock lock(mu_);
  return entries_;
}

std::shared_ptr<BusDevice> Bus::find(uint64_t addr, uint64_t& base) const {
  std::shared_lock lock(mu_);
  auto it = std::upper_bound(entries_.begin(), entries_.end(), addr,
                             [](uint64_t a, const Entry& e) { return a < e.base; });
  if (it == entries_.begin()) return nullptr;
  --it;
  if (addr - it->base >= it->len) return nullptr;
  base = it->base;
  return it->device;
}

bool Bus::read(uint64_t addr, std::span<uint8_t> data) const {
  uint64_t base = 0;
  auto device = find(addr, base);
  if (!device) return false;
  device->read(addr - base, data);
  return true;
}

bool Bus::write(uint64_t addr, std::span<const uint8_t> data) const {
  uint64_t base = 0;
  auto device = find(addr, base);
  if (!device) return false;
  device->write(addr - base, data);
  return true;
}

bool Bus::read_or_all_ones(uint64_t addr, std::span<uint8_t> data) const {
  if (read(addr, data)) return true;
  std::fill(data.begin(), data.end(), 0xff);
  return false;
}

size_t Bus::size() const {
  std::shared_lock lock(mu_);
  return entries_.size();
}

}  // namespace vireo::devices
