// FakePciDevice: a PCI function with a real ConfigSpace and the BARs a test declares,
// whose BAR accesses and bar_mapped() calls are recorded, for root bus and device
// manager tests.
#pragma once

#include <algorithm>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pci/config_space.h"
#include "pci/device.h"

namespace vireo::pci::test {

class FakePciDevice : public PciDevice {
 public:
  struct BarAccess {
    unsigned index;
    uint64_t offset;
    size_t width;
    bool write;
    bool operator==(const BarAccess&) const = default;
  };

  explicit FakePciDevice(std::vector<std::pair<unsigned, Bar>> bars = {},
                         uint16_t device_id = 0x0001)
      : config_(Identity{.vendor_id = 0x1234, .device_id = device_id, .class_code = 0xff0000}) {
    for (const auto& [i, b] : bars) ok = ok && config_.add_bar(i, b).ok();
  }

  std::string_view name() const override { return "fake-pci"; }
  void read(uint64_t offset, std::span<uint8_t> data) override {
    std::lock_guard lock(mu_);
    config_.read(static_cast<uint32_t>(std::min<uint64_t>(offset, kConfigSize)), data);
  }
  void write(uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(mu_);
    if (offset < kConfigSize) config_.write(static_cast<uint32_t>(offset), data);
  }
  void reset() override {
    std::lock_guard lock(mu_);
    config_.reset();
  }
  devices::DeviceState save() const override {
    std::lock_guard lock(mu_);
    StateWriter w;
    config_.save(w);
    return {1, w.take()};
  }
  Result<void> restore(const devices::DeviceState& state) override {
    if (state.version != 1) return Error("fake-pci: version");
    StateReader r(state.bytes, "fake-pci state");
    std::lock_guard lock(mu_);
    ConfigSpace c = config_;
    VIREO_TRY(c.restore(r));
    VIREO_TRY(r.finish());
    config_ = c;
    return {};
  }

  void read_bar(unsigned index, uint64_t offset, std::span<uint8_t> data) override {
    std::lock_guard lock(mu_);
    accesses.push_back({index, offset, data.size(), false});
    // Each byte reads as the low byte of its offset plus the BAR index, so tests can
    // tell BARs and offsets apart.
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(offset + i + index);
  }
  void write_bar(unsigned index, uint64_t offset, std::span<const uint8_t> data) override {
    std::lock_guard lock(mu_);
    accesses.push_back({index, offset, data.size(), true});
  }
  std::optional<Bar> bar(unsigned index) const override {
    std::lock_guard lock(mu_);
    return index < kBarCount ? config_.bar(index) : std::nullopt;
  }
  std::optional<uint64_t> decoded_bar(unsigned index) const override {
    std::lock_guard lock(mu_);
    return config_.decoded_bar(index);
  }
  void place_bar(unsigned index, uint64_t address) override {
    std::lock_guard lock(mu_);
    config_.set_bar_address(index, address);
    config_.commit_initial();
    placed.emplace_back(index, address);
  }
  void bar_mapped(unsigned index, std::optional<uint64_t> now) override {
    std::lock_guard lock(mu_);
    mapped.emplace_back(index, now);
  }

  bool ok = true;  // every BAR declared
  std::vector<BarAccess> accesses;
  std::vector<std::pair<unsigned, std::optional<uint64_t>>> mapped;
  std::vector<std::pair<unsigned, uint64_t>> placed;

 private:
  mutable std::mutex mu_;
  ConfigSpace config_;
};

}  // namespace vireo::pci::test
