// Test doubles for transport tests: a virtio device that does nothing on its own (two
// queues, an 8-byte configuration space it keeps as its state), an interrupt line that
// counts from any thread, and a driver that programs a virtio-mmio register page.
#pragma once

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "devices/irq.h"
#include "util/state_codec.h"
#include "virtio/device.h"
#include "virtio/mmio_transport.h"
#include "virtio/spec.h"

namespace vireo::virtio::test {

class FakeVirtioDevice : public VirtioDevice {
 public:
  static constexpr uint32_t kType = 42;
  static constexpr uint64_t kFeatureA = 1;  // a device-specific feature bit

  std::string_view name() const override { return "virtio-fake"; }
  uint32_t device_type() const override { return kType; }
  uint64_t offered_features() const override {
    return feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
           (uint64_t{1} << kFeatureA);
  }
  std::vector<uint16_t> queue_max_sizes() const override { return {16, 32}; }
  uint32_t config_size() const override { return 8; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override {
    std::memcpy(data.data(), config + offset, data.size());
  }
  void write_config(uint64_t offset, std::span<const uint8_t> data) override {
    std::memcpy(config + offset, data.data(), data.size());
  }
  Result<void> activate(const Activation& a) override {
    if (fail_activation) return Error("refused");
    last = a;
    ++activations;
    active = true;
    return {};
  }
  void deactivate() override { active = false; }
  bool served_on_vcpu(uint16_t queue) const override { return queue == vcpu_queue; }
  void notified(uint16_t queue) override { vcpu_notified.push_back(queue); }
  void reset() override {
    deactivate();
    std::memset(config, 0, sizeof(config));
  }
  devices::DeviceState save() const override {
    return {1, std::vector<uint8_t>(config, config + sizeof(config))};
  }
  Result<void> restore(const devices::DeviceState& s) override {
    if (s.version != 1 || s.bytes.size() != sizeof(config)) return Error("bad fake state");
    std::memcpy(config, s.bytes.data(), sizeof(config));
    return {};
  }

  uint8_t config[8] = {};
  bool fail_activation = false;
  bool active = false;
  int activations = 0;
  Activation last{};
  int vcpu_queue = -1;                 // a queue served on the notifying vCPU
  std::vector<uint16_t> vcpu_notified;  // notified() calls
};

class CountingIrq : public devices::Irq {
 public:
  void set_level(bool) override {}
  void trigger() override { triggers.fetch_add(1); }
  std::atomic<uint64_t> triggers{0};
};

// Programs a virtio-mmio page the way a driver does.
class MmioDriver {
 public:
  explicit MmioDriver(MmioTransport& t) : t_(t) {}

  uint32_t read(uint64_t off) {
    uint32_t v = 0;
    t_.read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  void write(uint64_t off, uint32_t v) {
    t_.write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  uint32_t status() { return read(mmio::kStatus); }

  // Reset, ACKNOWLEDGE | DRIVER, features, FEATURES_OK; true if FEATURES_OK stuck.
  bool negotiate(uint64_t features) {
    write(mmio::kStatus, 0);
    write(mmio::kStatus, status::kAcknowledge);
    write(mmio::kStatus, status::kAcknowledge | status::kDriver);
    write(mmio::kDriverFeaturesSel, 0);
    write(mmio::kDriverFeatures, static_cast<uint32_t>(features));
    write(mmio::kDriverFeaturesSel, 1);
    write(mmio::kDriverFeatures, static_cast<uint32_t>(features >> 32));
    write(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
    return (status() & status::kFeaturesOk) != 0;
  }
  void setup_queue(uint32_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) {
    write(mmio::kQueueSel, q);
    write(mmio::kQueueNum, size);
    write(mmio::kQueueDescLow, static_cast<uint32_t>(desc));
    write(mmio::kQueueDescHigh, static_cast<uint32_t>(desc >> 32));
    write(mmio::kQueueDriverLow, static_cast<uint32_t>(avail));
    write(mmio::kQueueDriverHigh, static_cast<uint32_t>(avail >> 32));
    write(mmio::kQueueDeviceLow, static_cast<uint32_t>(used));
    write(mmio::kQueueDeviceHigh, static_cast<uint32_t>(used >> 32));
    write(mmio::kQueueReady, 1);
  }
  void driver_ok() {
    write(mmio::kStatus,
          status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
  }

 private:
  MmioTransport& t_;
};

// Polls `cond` for up to two seconds (device back-ends run on their own threads).
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

}  // namespace vireo::virtio::test
