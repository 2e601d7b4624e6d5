#include "pci/config_space.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

namespace vireo::pci {

namespace {
constexpr uint32_t kBarTypeMemory64 = 0x4;
constexpr uint32_t kBarPrefetchable = 0x8;
constexpr uint32_t kBarFlagBits = 0xf;
constexpr uint32_t kCapabilityEnd = 0x100;  // capabilities live in the legacy 256 bytes
}  // namespace

ConfigSpace::ConfigSpace(const Identity& id) {
  set_u16(reg::kVendorId, id.vendor_id);
  set_u16(reg::kDeviceId, id.device_id);
  set_u8(reg::kRevision, id.revision);
  set_u8(reg::kClassCode, static_cast<uint8_t>(id.class_code));
  set_u16(reg::kClassCode + 1, static_cast<uint16_t>(id.class_code >> 8));
  set_u16(reg::kSubsystemVendorId, id.subsystem_vendor_id);
  set_u16(reg::kSubsystemId, id.subsystem_id);
  // The guest may turn on memory decoding and bus mastering and mask INTx; the interrupt
  // line register is scratch space for its driver.
  set_mask(reg::kCommand, 2, command::kMemorySpace | command::kBusMaster | command::kIntxDisable);
  set_mask(reg::kInterruptLine, 1, 0xff);
  initial_ = bytes_;
}

uint16_t ConfigSpace::u16(uint32_t offset) const {
  uint16_t v;
  std::memcpy(&v, &bytes_[offset], 2);
  return v;
}

uint32_t ConfigSpace::u32(uint32_t offset) const {
  uint32_t v;
  std::memcpy(&v, &bytes_[offset], 4);
  return v;
}

void ConfigSpace::set_u16(uint32_t offset, uint16_t v) { std::memcpy(&bytes_[offset], &v, 2); }
void ConfigSpace::set_u32(uint32_t offset, uint32_t v) { std::memcpy(&bytes_[offset], &v, 4); }

void ConfigSpace::set_mask(uint32_t offset, uint32_t width, uint64_t mask) {
  for (uint32_t i = 0; i < width; ++i) writable_[offset + i] = static_cast<uint8_t>(mask >> (8 * i));
}

void ConfigSpace::read(uint32_t offset, std::span<uint8_t> data) const {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = uint64_t{offset} + i;
    data[i] = at < kConfigSize ? bytes_[at] : 0xff;
  }
}

void ConfigSpace::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t at = uint64_t{offset} + i;
    if (at >= kConfigSize) return;
    const uint8_t m = writable_[at];
    bytes_[at] = static_cast<uint8_t>((bytes_[at] & ~m) | (data[i] & m));
  }
}

Result<void> ConfigSpace::add_bar(unsigned index, const Bar& bar) {
  const bool wide = bar.kind == BarKind::kMemory64;
  if (index >= kBarCount || (wide && index + 1 >= kBarCount))
    return Error(fmt::format("PCI BAR {} does not exist", index));
  if (bars_[index] || (wide && bars_[index + 1]) || (index > 0 && bars_[index - 1] &&
                                                     bars_[index - 1]->kind == BarKind::kMemory64))
    return Error(fmt::format("PCI BAR {} is taken", index));
  if (bar.size < 4096 || (bar.size & (bar.size - 1)) || (!wide && bar.size > (1ull << 31)))
    return Error(fmt::format("PCI BAR {}: size {:#x} is not a power of two from 4 KiB", index,
                             bar.size));
  bars_[index] = bar;
  const uint32_t at = reg::kBar0 + 4 * index;
  const uint64_t mask = ~(bar.size - 1);
  set_u32(at, (wide ? kBarTypeMemory64 : 0) | (bar.prefetchable ? kBarPrefetchable : 0));
  set_mask(at, 4, mask & ~uint64_t{kBarFlagBits} & 0xffffffff);
  if (wide) set_mask(at + 4, 4, mask >> 32);
  initial_ = bytes_;
  return {};
}

uint64_t ConfigSpace::bar_address(unsigned index) const {
  if (index >= kBarCount || !bars_[index]) return 0;
  const uint32_t at = reg::kBar0 + 4 * index;
  uint64_t addr = u32(at) & ~kBarFlagBits;
  if (bars_[index]->kind == BarKind::kMemory64) addr |= uint64_t{u32(at + 4)} << 32;
  return addr;
}

void ConfigSpace::set_bar_address(unsigned index, uint64_t address) {
  if (index >= kBarCount || !bars_[index]) return;
  const uint32_t at = reg::kBar0 + 4 * index;
  set_u32(at, (u32(at) & kBarFlagBits) | (static_cast<uint32_t>(address) & ~kBarFlagBits));
  if (bars_[index]->kind == BarKind::kMemory64) set_u32(at + 4, static_cast<uint32_t>(address >> 32));
}

std::optional<uint64_t> ConfigSpace::decoded_bar(unsigned index) const {
  if (index >= kBarCount || !bars_[index] || !(command() & command::kMemorySpace)) return {};
  const uint64_t addr = bar_address(index);
  if (addr == 0 || addr + bars_[index]->size < addr) return {};
  return addr;
}

Result<uint32_t> ConfigSpace::add_capability(uint8_t id, std::span<const uint8_t> body,
                                             std::span<const uint8_t> writable) {
  const uint32_t len = 2 + static_cast<uint32_t>(body.size());
  const uint32_t at = next_capability_;
  if (at + len > kCapabilityEnd)
    return Error(fmt::format("PCI capability {:#x} does not fit in configuration space", id));
  if (!writable.empty() && writable.size() != body.size())
    return Error(fmt::format("PCI capability {:#x}: write mask of the wrong size", id));
  bytes_[at] = id;
  bytes_[at + 1] = 0;
  std::copy(body.begin(), body.end(), bytes_.begin() + at + 2);
  std::copy(writable.begin(), writable.end(), writable_.begin() + at + 2);
  if (last_capability_)
    bytes_[last_capability_ + 1] = static_cast<uint8_t>(at);
  else
    bytes_[reg::kCapabilities] = static_cast<uint8_t>(at);
  set_u16(reg::kStatus, u16(reg::kStatus) | kStatusCapabilityList);
  last_capability_ = at;
  next_capability_ = (at + len + 3) & ~3u;
  initial_ = bytes_;
  return at;
}

void ConfigSpace::save(StateWriter& w) const { w.bytes(bytes_); }

Result<void> ConfigSpace::restore(StateReader& r) {
  VIREO_ASSIGN_OR_RETURN(auto b, r.bytes(kConfigSize));
  if (b.size() != kConfigSize) return Error("PCI configuration space of the wrong size");
  for (uint32_t i = 0; i < kConfigSize; ++i)
    if ((b[i] ^ initial_[i]) & ~writable_[i])
      return Error(fmt::format("PCI configuration space: read-only byte {:#x} differs", i));
  std::copy(b.begin(), b.end(), bytes_.begin());
  return {};
}

}  // namespace vireo::pci
