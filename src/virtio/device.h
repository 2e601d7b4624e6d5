// VirtioDevice: what a virtio device type (entropy, block, net, ...) implements; a
// transport (virtio-mmio, later virtio-pci) wraps it, owns the registers the driver
// programs (status, features, queue setup) and its queues, and hands the device its
// queues when the driver sets DRIVER_OK.
//
// Threads and ownership:
// - The transport's registers are accessed from vCPU threads, under the transport's lock.
// - Between activate() and deactivate() the device's back-end (an IoThread of its own)
//   owns the queues: it pops chains, does the I/O and returns them, and the transport does
//   not touch the queues. deactivate() stops and joins that thread; afterwards the
//   transport owns the queues again.
// - The back-end signals the driver through Interrupts, which never blocks and takes no
//   lock the transport holds while it calls deactivate().
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "devices/bus_device.h"
#include "memory/guest_memory.h"
#include "metrics/metrics.h"
#include "util/epoll.h"
#include "util/result.h"
#include "virtio/queue.h"

namespace vireo::virtio {

// How a device signals its driver; implemented by the transport. Callable from any
// thread; never blocks.
class Interrupts {
 public:
  virtual ~Interrupts() = default;
  // Used buffers were added to `queue` (and Queue::should_notify() said so).
  virtual void used_buffers(uint16_t queue) = 0;
  // The device's configuration space changed.
  virtual void config_changed() = 0;
  // The driver broke the protocol (a descriptor loop, a buffer outside guest RAM, ...):
  // the device stops using its queues until the driver resets it, and the driver sees
  // DEVICE_NEEDS_RESET. `why` goes to the VMM's log.
  virtual void needs_reset(std::string why) = 0;
};

// What a device gets when the driver sets DRIVER_OK.
struct Activation {
  const memory::GuestMemory* mem = nullptr;
  std::span<Queue> queues;       // one per queue_max_sizes() entry; check state().ready
  std::span<const EventFd> kicks;  // kicks[i] is signalled when the driver notifies queue i
  Interrupts* interrupts = nullptr;
  uint64_t features = 0;         // what the driver accepted
};

// Raises the used-buffer interrupt of queue `index` if the driver wants one for what the
// device just used (Queue::should_notify: EVENT_IDX or the NO_INTERRUPT flag); when the
// driver's event index cannot be read, it gets the interrupt.
inline void notify_used(const Activation& a, uint16_t index) {
  auto wanted = a.queues[index].should_notify(*a.mem);
  if (!wanted.ok() || *wanted) a.interrupts->used_buffers(index);
}

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  // The device kind ("virtio-rng"): the transport's BusDevice::name().
  virtual std::string_view name() const = 0;
  // The virtio device ID (spec.h, device_id).
  virtual uint32_t device_type() const = 0;
  // Feature bits offered, VIRTIO_F_VERSION_1 included.
  virtual uint64_t offered_features() const = 0;
  // The maximum size of each queue; the count is the number of queues.
  virtual std::vector<uint16_t> queue_max_sizes() const = 0;

  // The device-specific configuration space. The transport calls read_config() and
  // write_config() only with [offset, offset + size) inside config_size().
  virtual uint32_t config_size() const { return 0; }
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const {
    (void)offset;
    std::fill(data.begin(), data.end(), 0);
  }
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) {
    (void)offset;
    (void)data;
  }

  // Queues whose kicks the vCPU that wrote QueueNotify serves itself, calling notified()
  // (no ioeventfd, no thread hop): for drivers that busy-wait for each buffer to come
  // back, such as virtio-console's hvc writes, where waking an I/O thread per write
  // would cost a scheduler round trip each. Called under the transport's lock while the
  // device is active; must not block.
  virtual bool served_on_vcpu(uint16_t queue) const {
    (void)queue;
    return false;
  }
  virtual void notified(uint16_t queue) { (void)queue; }

  // Starts the back-end on the driver's queues. An Error leaves the device inactive.
  virtual Result<void> activate(const Activation& activation) = 0;
  // Stops and joins the back-end (outstanding requests are finished or dropped) and
  // puts the device-specific state back to what it was before activate(). Idempotent.
  virtual void deactivate() = 0;
  // A device reset (the driver wrote 0 to Status, or the machine reset): deactivate()
  // and the device-specific state (configuration fields the driver wrote) back to
  // power-on values.
  virtual void reset() { deactivate(); }
  // Quiesce the back-end, and restart it (see BusDevice::pause()).
  virtual void pause() {}
  virtual void resume() {}

  // The device-specific state (not the transport's or the queues'); empty for devices
  // that have none beyond their queues.
  virtual devices::DeviceState save() const { return {1, {}}; }

  // Its counters, under its own component and the VM's id for it (see metrics.h).
  virtual void report_metrics(metrics::Collector& out, const std::string& id) const {
    (void)out;
    (void)id;
  }
  virtual Result<void> restore(const devices::DeviceState& state) {
    if (state.version != 1 || !state.bytes.empty())
      return Error(std::string(name()) + ": saved device state is not this device's");
    return {};
  }
};

}  // namespace vireo::virtio
