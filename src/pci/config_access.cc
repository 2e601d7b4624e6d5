#include "pci/config_access.h"

#include <algorithm>
#include <cstring>

#include "util/state_codec.h"

namespace vireo::pci {

namespace {
constexpr uint32_t kEnable = 1u << 31;
constexpr uint64_t kDataOffset = 4;

struct Target {
  uint8_t bus, slot, function;
  uint32_t offset;
};

Target from_ecam(uint64_t offset) {
  return {static_cast<uint8_t>(offset >> 20), static_cast<uint8_t>((offset >> 15) & 31),
          static_cast<uint8_t>((offset >> 12) & 7), static_cast<uint32_t>(offset & 0xfff)};
}
}  // namespace

void ConfigIo::read(uint64_t offset, std::span<uint8_t> data) {
  if (offset == 0 && data.size() == 4) {
    const uint32_t v = address_.load();
    std::memcpy(data.data(), &v, 4);
    return;
  }
  const uint32_t a = address_.load();
  if (offset < kDataOffset || !(a & kEnable) || offset - kDataOffset + data.size() > 4) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  root_.read(static_cast<uint8_t>(a >> 16), static_cast<uint8_t>((a >> 11) & 31),
             static_cast<uint8_t>((a >> 8) & 7), (a & 0xfc) + static_cast<uint32_t>(offset - kDataOffset),
             data);
}

void ConfigIo::write(uint64_t offset, std::span<const uint8_t> data) {
  // Only a 32-bit write to 0xcf8 sets the address (byte writes to 0xcf9 are the PC's
  // reset control register, which vireo does not have).
  if (offset == 0 && data.size() == 4) {
    uint32_t v;
    std::memcpy(&v, data.data(), 4);
    address_.store(v & 0x80fffffc);
    return;
  }
  const uint32_t a = address_.load();
  if (offset < kDataOffset || !(a & kEnable) || offset - kDataOffset + data.size() > 4) return;
  root_.write(static_cast<uint8_t>(a >> 16), static_cast<uint8_t>((a >> 11) & 31),
              static_cast<uint8_t>((a >> 8) & 7),
              (a & 0xfc) + static_cast<uint32_t>(offset - kDataOffset), data);
}

devices::DeviceState ConfigIo::save() const {
  StateWriter w;
  w.u32(address_.load());
  return {kStateVersion, w.take()};
}

Result<void> ConfigIo::restore(const devices::DeviceState& state) {
  if (state.version != kStateVersion) return Error("pci-config-io: unknown state version");
  StateReader r(state.bytes, "pci-config-io state");
  VIREO_ASSIGN_OR_RETURN(uint32_t a, r.u32());
  VIREO_TRY(r.finish());
  if (a & ~0x80fffffcu) return Error("pci-config-io state: impossible address register");
  address_.store(a);
  return {};
}

void Ecam::read(uint64_t offset, std::span<uint8_t> data) {
  const Target t = from_ecam(offset);
  // An access that would cross into the next function's page reads ones.
  if (t.offset + data.size() > kConfigSize) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  root_.read(t.bus, t.slot, t.function, t.offset, data);
}

void Ecam::write(uint64_t offset, std::span<const uint8_t> data) {
  const Target t = from_ecam(offset);
  if (t.offset + data.size() > kConfigSize) return;
  root_.write(t.bus, t.slot, t.function, t.offset, data);
}

Result<void> Ecam::restore(const devices::DeviceState& state) {
  if (state.version != 1 || !state.bytes.empty()) return Error("pci-ecam: unknown state");
  return {};
}

}  // namespace vireo::pci
