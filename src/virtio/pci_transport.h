// PciTransport: the virtio-pci transport, modern interface only (virtio 1.2, 4.1): a PCI
// function with vendor 0x1af4 and device 0x1040 + type, whose registers are in one 64-bit
// memory BAR that vendor capabilities point into, and MSI-X for its interrupts.
//
// BAR 0 (kBarSize bytes):
//   0x0000  common configuration (struct virtio_pci_common_cfg)
//   0x1000  ISR status (read to clear)
//   0x2000  device-specific configuration
//   0x3000  notifications: queue q at 0x3000 + 4 * q (notify_off_multiplier 4), each its
//           own address, so every queue gets an ioeventfd of any write width
//   0x4000  MSI-X table, 0x6000 pending bits
// Vectors: one per queue plus one for configuration changes, as the driver assigns them.
// There is no INTx (interrupt pin 0): drivers use MSI-X, as Linux, Windows and every
// current virtio driver do.
//
// The register semantics shared with virtio-mmio (status, features, queue setup and
// checks, activation) are TransportCore's. Threads are as for MmioTransport: registers
// under the transport's lock on vCPU threads; the device's back-end raises interrupts
// through Interrupts without that lock.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "memory/guest_memory.h"
#include "pci/config_space.h"
#include "pci/device.h"
#include "pci/msix.h"
#include "virtio/device.h"
#include "virtio/transport_core.h"

namespace vireo::virtio {

namespace pci_layout {
inline constexpr uint64_t kBarSize = 0x8000;
inline constexpr uint64_t kCommon = 0x0000, kCommonSize = 0x40;
inline constexpr uint64_t kIsr = 0x1000, kIsrSize = 4;
inline constexpr uint64_t kDeviceConfig = 0x2000, kDeviceConfigMax = 0x1000;
inline constexpr uint64_t kNotify = 0x3000, kNotifyMultiplier = 4;
inline constexpr uint64_t kMsixTable = 0x4000, kMsixPba = 0x6000;
inline constexpr uint16_t kVendor = 0x1af4;
inline constexpr uint16_t kDeviceIdBase = 0x1040;
}  // namespace pci_layout

// The registers virtio-pci adds to the common transport state.
struct PciState {
  uint32_t device_features_sel = 0;
  uint32_t driver_features_sel = 0;
  uint16_t queue_sel = 0;
  uint16_t config_vector = pci::kNoVector;
  std::vector<uint16_t> queue_vectors;
  uint8_t isr = 0;
  bool operator==(const PciState&) const = default;
};

class PciTransport : public pci::PciDevice, private Interrupts {
 public:
  static constexpr uint32_t kStateVersion = 1;
  // Moves the queues' ioeventfds: BAR 0 decoded at `now` instead of `before`.
  using NotifyMover = std::function<void(std::optional<uint64_t> before,
                                         std::optional<uint64_t> now)>;

  // `mem` must outlive the transport.
  static Result<std::shared_ptr<PciTransport>> create(std::shared_ptr<VirtioDevice> device,
                                                      const memory::GuestMemory& mem);
  struct Key {
   private:
    friend class PciTransport;
    Key() = default;
  };
  PciTransport(Key, std::shared_ptr<VirtioDevice> device, const memory::GuestMemory& mem);
  ~PciTransport() override;

  // Before the guest runs: the MSI-X vectors (msix().count() of them) and who moves the
  // ioeventfds when the guest moves BAR 0.
  pci::Msix& msix() { return msix_; }
  void set_notify_mover(NotifyMover mover) { notify_mover_ = std::move(mover); }

  size_t queue_count() const { return core_.queue_count(); }
  const VirtioDevice& device() const { return core_.device(); }
  const EventFd& kick(size_t q) const { return core_.kick(q); }
  // Queue q's notification address inside BAR 0.
  static uint64_t notify_offset(size_t q) { return pci_layout::kNotify + pci_layout::kNotifyMultiplier * q; }

  // BusDevice: configuration space accesses.
  std::string_view name() const override { return core_.device().name(); }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  void pause() override { core_.pause(); }
  void resume() override { core_.resume(); }
  devices::DeviceState save() const override;
  Result<void> restore(const devices::DeviceState& state) override;

  // PciDevice
  void read_bar(unsigned index, uint64_t offset, std::span<uint8_t> data) override;
  void write_bar(unsigned index, uint64_t offset, std::span<const uint8_t> data) override;
  std::optional<pci::Bar> bar(unsigned index) const override;
  std::optional<uint64_t> decoded_bar(unsigned index) const override;
  void place_bar(unsigned index, uint64_t address) override;
  void bar_mapped(unsigned index, std::optional<uint64_t> now) override;

  // For tests and logs.
  uint8_t status() const;
  bool active() const;

 private:
  Result<void> build_capabilities();
  // The BAR access VIRTIO_PCI_CAP_PCI_CFG names now (its bar, offset and length fields),
  // or nothing when the driver set an access the window does not do.
  struct PciCfgWindow {
    uint32_t offset, len;
  };
  std::optional<PciCfgWindow> pci_cfg_window() const;
  void read_bar_locked(uint64_t offset, std::span<uint8_t> data);
  void write_bar_locked(uint64_t offset, std::span<const uint8_t> data);
  void read_common(uint64_t offset, std::span<uint8_t> data) const;
  void write_common(uint64_t offset, std::span<const uint8_t> data);
  void reset_device_locked();
  // The virtio-pci registers (selectors, vectors, ISR); setting them leaves the ISR.
  PciState registers_locked() const;
  void set_registers_locked(const PciState& s);

  // Interrupts (from the device's I/O thread; no transport lock).
  void used_buffers(uint16_t queue) override;
  void config_changed() override;
  void needs_reset(std::string why) override;

  mutable std::mutex mu_;
  TransportCore core_;  // under mu_ (but its needs-reset flag)
  pci::ConfigSpace config_;
  pci::Msix msix_;
  uint32_t msix_cap_ = 0;     // where the MSI-X capability is in configuration space
  uint32_t pci_cfg_cap_ = 0;  // where VIRTIO_PCI_CAP_PCI_CFG is
  uint32_t device_id_ = 0;
  // Under mu_: the selectors.
  uint32_t device_features_sel_ = 0;
  uint32_t driver_features_sel_ = 0;
  uint16_t queue_sel_ = 0;
  // Read by the I/O thread: vectors and ISR.
  std::atomic<uint16_t> config_vector_{pci::kNoVector};
  std::unique_ptr<std::atomic<uint16_t>[]> queue_vectors_;
  std::atomic<uint8_t> isr_{0};
  std::optional<uint64_t> routed_;  // where BAR 0 decodes (the root bus said)
  NotifyMover notify_mover_;
};

}  // namespace vireo::virtio
