// MmioTransport: the virtio-mmio transport, version 2 (virtio 1.2, 4.2): one 4 KiB
// register page per device, one interrupt line, kicks through QueueNotify.
//
// The page is a BusDevice on the MMIO bus (vCPU threads access it under the transport's
// lock). Each queue has a kick eventfd: the VMM registers it as a KVM ioeventfd on
// QueueNotify with the queue's index as datamatch, so a kick reaches the device's I/O
// thread without an exit to the VMM; a QueueNotify write that does exit (no ioeventfd,
// the unit tests) signals the same eventfd. Interrupts go out through an Irq (an irqfd:
// no ioctl, no vCPU involved) after InterruptStatus has its bit.
//
// The driver's side is checked at each step: features only between DRIVER and
// FEATURES_OK and only ones offered (VIRTIO_F_VERSION_1 required, else FEATURES_OK does
// not stick), queue setup only while the queue is disabled and the device not running,
// every enabled queue validated at DRIVER_OK. A driver that breaks the protocol gets
// DEVICE_NEEDS_RESET and a configuration-change interrupt, and the device stops using
// its queues until the driver writes 0 to Status.
//
// Linux finds the devices in the DSDT (_HID "LNRO0005") or, for kernels without ACPI,
// on the command line (cmdline_token()).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "devices/bus_device.h"
#include "devices/irq.h"
#include "memory/guest_memory.h"
#include "util/epoll.h"
#include "virtio/device.h"
#include "virtio/queue.h"
#include "virtio/transport_core.h"

namespace vireo::virtio {

// Register offsets (4.2.2, table "MMIO Device Register Layout").
namespace mmio {
inline constexpr uint64_t kMagicValue = 0x000;
inline constexpr uint64_t kVersion = 0x004;
inline constexpr uint64_t kDeviceId = 0x008;
inline constexpr uint64_t kVendorId = 0x00c;
inline constexpr uint64_t kDeviceFeatures = 0x010;
inline constexpr uint64_t kDeviceFeaturesSel = 0x014;
inline constexpr uint64_t kDriverFeatures = 0x020;
inline constexpr uint64_t kDriverFeaturesSel = 0x024;
inline constexpr uint64_t kQueueSel = 0x030;
inline constexpr uint64_t kQueueNumMax = 0x034;
inline constexpr uint64_t kQueueNum = 0x038;
inline constexpr uint64_t kQueueReady = 0x044;
inline constexpr uint64_t kQueueNotify = 0x050;
inline constexpr uint64_t kInterruptStatus = 0x060;
inline constexpr uint64_t kInterruptAck = 0x064;
inline constexpr uint64_t kStatus = 0x070;
inline constexpr uint64_t kQueueDescLow = 0x080;
inline constexpr uint64_t kQueueDescHigh = 0x084;
inline constexpr uint64_t kQueueDriverLow = 0x090;
inline constexpr uint64_t kQueueDriverHigh = 0x094;
inline constexpr uint64_t kQueueDeviceLow = 0x0a0;
inline constexpr uint64_t kQueueDeviceHigh = 0x0a4;
inline constexpr uint64_t kShmSel = 0x0ac;
inline constexpr uint64_t kShmLenLow = 0x0b0;
inline constexpr uint64_t kShmLenHigh = 0x0b4;
inline constexpr uint64_t kShmBaseLow = 0x0b8;
inline constexpr uint64_t kShmBaseHigh = 0x0bc;
inline constexpr uint64_t kConfigGeneration = 0x0fc;
inline constexpr uint64_t kConfig = 0x100;

inline constexpr uint32_t kMagic = 0x74726976;  // "virt"
inline constexpr uint32_t kVersion2 = 2;
inline constexpr uint32_t kVendor = 0x45524956;  // "VIRE"
inline constexpr uint32_t kInterruptUsedBuffer = 1;
inline constexpr uint32_t kInterruptConfigChange = 2;
inline constexpr uint64_t kPageSize = 0x1000;  // what each device gets
}  // namespace mmio

// The registers virtio-mmio adds to the common transport state: a snapshot saves both.
struct MmioState {
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint32_t queue_sel = 0;
  uint32_t interrupt_status = 0;
  bool operator==(const MmioState&) const = default;
};

class MmioTransport : public devices::BusDevice, private Interrupts {
 public:
  static constexpr uint32_t kStateVersion = 2;

  // `mem` must outlive the transport. The Irq is attached once placed (attach_irq()).
  static Result<std::shared_ptr<MmioTransport>> create(std::shared_ptr<VirtioDevice> device,
                                                       const memory::GuestMemory& mem);
  struct Key {
   private:
    friend class MmioTransport;
    Key() = default;
  };
  MmioTransport(Key, std::shared_ptr<VirtioDevice> device, const memory::GuestMemory& mem);
  ~MmioTransport() override;

  // The interrupt line (before the guest runs).
  void attach_irq(std::shared_ptr<devices::Irq> irq) { irq_ = std::move(irq); }
  size_t queue_count() const { return core_.queue_count(); }
  const VirtioDevice& device() const { return core_.device(); }
  // Queue `q`'s kick eventfd: register it as an ioeventfd on QueueNotify, datamatch q.
  const EventFd& kick(size_t q) const { return core_.kick(q); }
  // The `virtio_mmio.device=` switch announcing the device placed at `where`.
  static std::string cmdline_token(const devices::Placement& where);

  std::string_view name() const override { return core_.device().name(); }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  void pause() override;
  void resume() override;
  devices::DeviceState save() const override;
  Result<void> restore(const devices::DeviceState& state) override;
  std::vector<uint8_t> aml(const devices::Placement& where) const override;

  // For tests and logs: the status as the driver reads it, and whether the device runs.
  uint8_t status() const;
  bool active() const;

 private:
  uint32_t read_register(uint64_t offset) const;
  void write_register(uint64_t offset, uint32_t value);
  void reset_locked();

  // Interrupts (from the device's I/O thread; lock-free).
  void used_buffers(uint16_t queue) override;
  void config_changed() override;
  void needs_reset(std::string why) override;
  void raise(uint32_t bits);

  std::shared_ptr<devices::Irq> irq_;
  mutable std::mutex mu_;
  TransportCore core_;       // under mu_ (but its needs-reset flag)
  MmioState s_;              // but interrupt_status, which lives in the atomic
  std::atomic<uint32_t> interrupt_status_{0};
};

}  // namespace vireo::virtio
