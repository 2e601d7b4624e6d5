#include "devices/legacy/debug_exit.h"

#include <fmt/format.h>

#include <algorithm>

namespace vireo::devices {

DebugExit::DebugExit(std::function<void(uint32_t)> on_exit) : on_exit_(std::move(on_exit)) {}

void DebugExit::read(uint64_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), 0); }

void DebugExit::write(uint64_t, std::span<const uint8_t> data) {
  if (data.empty()) return;
  uint32_t v = 0;
  for (size_t i = 0; i < data.size() && i < sizeof(v); ++i) v |= uint32_t{data[i]} << (8 * i);
  if (on_exit_) on_exit_(v);
}

Result<void> DebugExit::restore(const DeviceState& state) {
  if (state.version != kStateVersion || !state.bytes.empty())
    return Error(fmt::format("debug-exit state (version {}, {} bytes) is not this vireo's "
                             "(version {}, empty)", state.version, state.bytes.size(), kStateVersion));
  return {};
}

}  // namespace vireo::devices
