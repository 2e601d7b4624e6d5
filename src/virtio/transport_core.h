// TransportCore: what every virtio transport (virtio-mmio, virtio-pci) does the same way:
// the device status state machine (3.1.1), feature negotiation, queue setup rules, checks
// of the driver's queues at DRIVER_OK, activation of the device, DEVICE_NEEDS_RESET, the
// reset, and the common part of the saved state. A transport maps its registers onto it
// and delivers interrupts its own way.
//
// Not thread-safe: the transport calls it under its own lock, except the needs-reset flag
// (an atomic, set from the device's I/O thread through the transport's Interrupts).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "devices/bus_device.h"
#include "memory/guest_memory.h"
#include "util/epoll.h"
#include "util/result.h"
#include "util/state_codec.h"
#include "virtio/device.h"
#include "virtio/queue.h"

namespace vireo::virtio {

// The part of a transport's saved state all transports share.
struct CommonState {
  uint8_t status = 0;  // as the driver set it (DEVICE_NEEDS_RESET is `needs_reset`)
  bool needs_reset = false;
  uint64_t driver_features = 0;
  uint32_t config_generation = 0;
  bool active = false;
  std::vector<QueueState> queues;
  devices::DeviceState device;
  bool operator==(const CommonState&) const = default;
};

class TransportCore {
 public:
  // `interrupts` is the transport (it outlives the core); `mem` outlives both.
  TransportCore(std::shared_ptr<VirtioDevice> device, const memory::GuestMemory& mem,
                Interrupts& interrupts);
  ~TransportCore();  // stops the device
  TransportCore(const TransportCore&) = delete;
  TransportCore& operator=(const TransportCore&) = delete;

  // One kick eventfd per queue; call once, before the guest runs.
  Result<void> create_kicks();

  VirtioDevice& device() { return *device_; }
  const VirtioDevice& device() const { return *device_; }
  const memory::GuestMemory& mem() const { return mem_; }
  size_t queue_count() const { return queues_.size(); }
  const EventFd& kick(size_t q) const { return kicks_[q]; }
  // Feature bits offered (VIRTIO_F_VERSION_1 included), and 32-bit word `sel` of them.
  uint64_t offered() const { return offered_; }
  uint32_t offered_word(uint32_t sel) const;

  // The status as the driver reads it (DEVICE_NEEDS_RESET included).
  uint8_t status() const;
  // A driver's write of the status field: 0 resets the device; otherwise bits may only
  // be added, FEATURES_OK sticks only for an acceptable feature set, and DRIVER_OK starts
  // the device after checking its queues.
  void write_status(uint8_t value);
  bool active() const { return active_; }
  uint64_t driver_features() const { return driver_features_; }
  uint32_t driver_features_word(uint32_t sel) const;
  // Sets word `sel` of the driver's features, only while negotiating (after DRIVER,
  // before FEATURES_OK).
  void write_driver_features_word(uint32_t sel, uint32_t value);
  uint32_t config_generation() const { return config_generation_; }

  // Queue `index`, or nullptr when there is none.
  Queue* queue(uint32_t index);
  const Queue* queue(uint32_t index) const;
  // Queue `index` if its setup may change now: the device is stopped, FEATURES_OK set,
  // DRIVER_OK not yet (4.2.3.2, 4.1.4.3.2); nullptr otherwise.
  Queue* queue_for_setup(uint32_t index);

  // A driver's access to the device-specific configuration space at `offset`; an access
  // not wholly inside config_size() reads zeros (as left in `data`) or changes nothing.
  void read_device_config(uint64_t offset, std::span<uint8_t> data) const;
  void write_device_config(uint64_t offset, std::span<const uint8_t> data);

  // The driver notified queue `q` through a register write that exited to the VMM (no
  // ioeventfd): the vCPU serves it itself if the device asks for that, else the kick fd.
  void notify(uint32_t q);

  // Marks DEVICE_NEEDS_RESET; true if it was not set before (then the transport logs
  // `why` and raises a configuration-change interrupt). Any thread.
  bool mark_needs_reset();
  bool needs_reset() const { return needs_reset_.load(); }

  // Device reset: stops the device, clears the queues, pending kicks and the status.
  void reset();
  void pause() { device_->pause(); }
  void resume() { device_->resume(); }

  CommonState save() const;
  // Checks `s` against this device (queue count and sizes, status and feature bits).
  Result<void> check(const CommonState& s, std::string_view what) const;
  // Puts a checked state back; a device that was running is started again and every
  // queue kicked once (chains made available before the save got no kick of their own).
  // If the device refuses its part, nothing changes (a running device runs on).
  Result<void> restore(const CommonState& s);

 private:
  void activate();

  std::shared_ptr<VirtioDevice> device_;
  const memory::GuestMemory& mem_;
  Interrupts& interrupts_;
  uint64_t offered_ = 0;
  std::vector<Queue> queues_;
  std::vector<EventFd> kicks_;
  uint8_t status_ = 0;
  uint64_t driver_features_ = 0;
  uint32_t config_generation_ = 0;
  bool active_ = false;
  std::atomic<bool> needs_reset_{false};
};

void encode_common_state(StateWriter& w, const CommonState& s);
Result<CommonState> decode_common_state(StateReader& r);

}  // namespace vireo::virtio
