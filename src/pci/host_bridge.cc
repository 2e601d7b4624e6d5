#include "pci/host_bridge.h"

#include <algorithm>

namespace vireo::pci {

namespace {
// Red Hat, Inc.'s ID for a virtual PCI Express host bridge; class 06/00 (host bridge).
constexpr Identity kIdentity{.vendor_id = 0x1b36,
                             .device_id = 0x0008,
                             .revision = 0,
                             .class_code = 0x060000,
                             .subsystem_vendor_id = 0x1b36,
                             .subsystem_id = 0x0008};
}  // namespace

HostBridge::HostBridge() : config_(kIdentity) {}

void HostBridge::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  config_.read(static_cast<uint32_t>(std::min<uint64_t>(offset, kConfigSize)), data);
}

void HostBridge::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  if (offset < kConfigSize) config_.write(static_cast<uint32_t>(offset), data);
}

void HostBridge::reset() {
  std::lock_guard lock(mu_);
  config_.reset();
}

void HostBridge::read_bar(unsigned, uint64_t, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);
}

devices::DeviceState HostBridge::save() const {
  std::lock_guard lock(mu_);
  StateWriter w;
  config_.save(w);
  return {kStateVersion, w.take()};
}

Result<void> HostBridge::restore(const devices::DeviceState& state) {
  if (state.version != kStateVersion) return Error("pci-host-bridge: unknown state version");
  StateReader r(state.bytes, "pci-host-bridge state");
  std::lock_guard lock(mu_);
  ConfigSpace c = config_;
  VIREO_TRY(c.restore(r));
  VIREO_TRY(r.finish());
  config_ = c;
  return {};
}

}  // namespace vireo::pci
