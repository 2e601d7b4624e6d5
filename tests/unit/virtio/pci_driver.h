// PciDriver: a virtio-pci modern driver for transport tests, as Linux's virtio_pci_modern
// finds its way: it walks the capability list in configuration space for the vendor
// capabilities (common, notify, ISR, device, PCI config access) and MSI-X, and then
// programs the structures they point to in BAR 0 through read_bar()/write_bar().
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>

#include "pci/config_space.h"
#include "pci/msix.h"
#include "virtio/pci_transport.h"
#include "virtio/spec.h"

namespace vireo::virtio::test {

// struct virtio_pci_common_cfg offsets (virtio 1.2, 4.1.4.3).
namespace common_cfg {
inline constexpr uint64_t kDeviceFeatureSelect = 0x00;
inline constexpr uint64_t kDeviceFeature = 0x04;
inline constexpr uint64_t kDriverFeatureSelect = 0x08;
inline constexpr uint64_t kDriverFeature = 0x0c;
inline constexpr uint64_t kConfigMsixVector = 0x10;
inline constexpr uint64_t kNumQueues = 0x12;
inline constexpr uint64_t kDeviceStatus = 0x14;
inline constexpr uint64_t kConfigGeneration = 0x15;
inline constexpr uint64_t kQueueSelect = 0x16;
inline constexpr uint64_t kQueueSize = 0x18;
inline constexpr uint64_t kQueueMsixVector = 0x1a;
inline constexpr uint64_t kQueueEnable = 0x1c;
inline constexpr uint64_t kQueueNotifyOff = 0x1e;
inline constexpr uint64_t kQueueDesc = 0x20;
inline constexpr uint64_t kQueueDriver = 0x28;
inline constexpr uint64_t kQueueDevice = 0x30;
}  // namespace common_cfg

inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCfgCommon = 1, kCfgNotify = 2, kCfgIsr = 3, kCfgDevice = 4,
                         kCfgPci = 5;

class PciDriver {
 public:
  // Where one virtio structure is: the capability's own offset in configuration space
  // and what it says.
  struct Region {
    uint32_t cap = 0;  // 0: not found
    uint8_t cap_len = 0;
    uint8_t bar = 0xff;
    uint32_t offset = 0;
    uint32_t length = 0;
    explicit operator bool() const { return cap != 0; }
  };

  explicit PciDriver(PciTransport& t) : t_(t) { walk(); }

  // --- Configuration space -------------------------------------------------------------
  uint64_t cfg_read(uint32_t off, size_t width = 4) {
    uint64_t v = 0;
    t_.read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
    return v;
  }
  void cfg_write(uint32_t off, uint64_t v, size_t width = 4) {
    t_.write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), width));
  }

  // Finds the capabilities, as vp_modern_probe() does (the first of each type).
  void walk() {
    common = notify = isr = device = pci_cfg = Region{};
    msix_cap = 0;
    cap_count = 0;
    if (!(cfg_read(pci::reg::kStatus, 2) & pci::kStatusCapabilityList)) return;
    for (uint32_t p = cfg_read(pci::reg::kCapabilities, 1) & ~3u; p && cap_count < 48;
         p = cfg_read(p + 1, 1) & ~3u) {
      ++cap_count;
      const auto id = static_cast<uint8_t>(cfg_read(p, 1));
      if (id == pci::kCapabilityMsix && !msix_cap) msix_cap = p;
      if (id != kCapVendor) continue;
      Region r;
      r.cap = p;
      r.cap_len = static_cast<uint8_t>(cfg_read(p + 2, 1));
      const auto type = static_cast<uint8_t>(cfg_read(p + 3, 1));
      r.bar = static_cast<uint8_t>(cfg_read(p + 4, 1));
      r.offset = static_cast<uint32_t>(cfg_read(p + 8));
      r.length = static_cast<uint32_t>(cfg_read(p + 12));
      Region* slot = type == kCfgCommon   ? &common
                     : type == kCfgNotify ? &notify
                     : type == kCfgIsr    ? &isr
                     : type == kCfgDevice ? &device
                     : type == kCfgPci    ? &pci_cfg
                                          : nullptr;
      if (slot && !*slot) *slot = r;
      if (type == kCfgNotify && notify.cap == p)
        notify_multiplier = static_cast<uint32_t>(cfg_read(p + 16));
    }
  }

  // --- BAR 0 ---------------------------------------------------------------------------
  uint64_t bar_read(uint64_t off, size_t width) {
    uint64_t v = 0;
    t_.read_bar(0, off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
    return v;
  }
  void bar_write(uint64_t off, uint64_t v, size_t width) {
    t_.write_bar(0, off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), width));
  }
  // The common configuration, at the width each field has.
  uint64_t common_read(uint64_t field, size_t width) { return bar_read(common.offset + field, width); }
  void common_write(uint64_t field, uint64_t v, size_t width) {
    bar_write(common.offset + field, v, width);
  }
  // A 64-bit field as Linux writes it: two 4-byte halves, low first.
  void common_write64(uint64_t field, uint64_t v) {
    common_write(field, static_cast<uint32_t>(v), 4);
    common_write(field + 4, static_cast<uint32_t>(v >> 32), 4);
  }
  uint64_t common_read64(uint64_t field) {
    return common_read(field, 4) | common_read(field + 4, 4) << 32;
  }

  uint8_t status() { return static_cast<uint8_t>(common_read(common_cfg::kDeviceStatus, 1)); }
  void set_status(uint8_t s) { common_write(common_cfg::kDeviceStatus, s, 1); }
  uint64_t device_features() {
    common_write(common_cfg::kDeviceFeatureSelect, 0, 4);
    uint64_t f = common_read(common_cfg::kDeviceFeature, 4);
    common_write(common_cfg::kDeviceFeatureSelect, 1, 4);
    return f | common_read(common_cfg::kDeviceFeature, 4) << 32;
  }
  // Reset (waiting for status 0), ACKNOWLEDGE | DRIVER, features, FEATURES_OK; true if
  // FEATURES_OK stuck.
  bool negotiate(uint64_t features) {
    set_status(0);
    if (status() != 0) return false;
    set_status(status::kAcknowledge);
    set_status(status::kAcknowledge | status::kDriver);
    common_write(common_cfg::kDriverFeatureSelect, 0, 4);
    common_write(common_cfg::kDriverFeature, static_cast<uint32_t>(features), 4);
    common_write(common_cfg::kDriverFeatureSelect, 1, 4);
    common_write(common_cfg::kDriverFeature, static_cast<uint32_t>(features >> 32), 4);
    set_status(status::kAcknowledge | status::kDriver | status::kFeaturesOk);
    return (status() & status::kFeaturesOk) != 0;
  }
  void select_queue(uint16_t q) { common_write(common_cfg::kQueueSelect, q, 2); }
  uint16_t queue_size(uint16_t q) {
    select_queue(q);
    return static_cast<uint16_t>(common_read(common_cfg::kQueueSize, 2));
  }
  // Sets queue `q` up and enables it, as vp_modern's setup_vq does.
  void setup_queue(uint16_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used,
                   uint16_t vector = pci::kNoVector) {
    select_queue(q);
    common_write(common_cfg::kQueueSize, size, 2);
    common_write64(common_cfg::kQueueDesc, desc);
    common_write64(common_cfg::kQueueDriver, avail);
    common_write64(common_cfg::kQueueDevice, used);
    if (vector != pci::kNoVector) common_write(common_cfg::kQueueMsixVector, vector, 2);
    common_write(common_cfg::kQueueEnable, 1, 2);
  }
  void driver_ok() {
    set_status(status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk);
  }
  // Where queue q's notifications go in BAR 0 (queue_notify_off * multiplier).
  uint64_t notify_address(uint16_t q) {
    select_queue(q);
    return notify.offset + common_read(common_cfg::kQueueNotifyOff, 2) * notify_multiplier;
  }
  void kick(uint16_t q) { bar_write(notify_address(q), q, 2); }
  uint8_t read_isr() { return static_cast<uint8_t>(bar_read(isr.offset, 1)); }

  // --- MSI-X ---------------------------------------------------------------------------
  uint16_t msix_control() { return static_cast<uint16_t>(cfg_read(msix_cap + 2, 2)); }
  void set_msix_control(uint16_t v) { cfg_write(msix_cap + 2, v, 2); }
  uint16_t msix_table_size() { return (msix_control() & 0x7ff) + 1; }
  uint32_t msix_table_offset() { return static_cast<uint32_t>(cfg_read(msix_cap + 4)) & ~7u; }
  uint32_t msix_pba_offset() { return static_cast<uint32_t>(cfg_read(msix_cap + 8)) & ~7u; }
  // Programs vector v's message and unmasks it (or leaves it masked).
  void program_vector(uint16_t v, uint64_t address, uint32_t data, bool masked = false) {
    const uint64_t e = msix_table_offset() + 16 * v;
    bar_write(e, static_cast<uint32_t>(address), 4);
    bar_write(e + 4, static_cast<uint32_t>(address >> 32), 4);
    bar_write(e + 8, data, 4);
    bar_write(e + 12, masked ? 1 : 0, 4);
  }
  void mask_vector(uint16_t v, bool masked) {
    bar_write(msix_table_offset() + 16 * v + 12, masked ? 1 : 0, 4);
  }
  uint64_t pending_bits() { return bar_read(msix_pba_offset(), 8); }

  // --- VIRTIO_PCI_CAP_PCI_CFG window ---------------------------------------------------
  void window(uint8_t bar, uint32_t offset, uint32_t length) {
    cfg_write(pci_cfg.cap + 4, bar, 1);
    cfg_write(pci_cfg.cap + 8, offset, 4);
    cfg_write(pci_cfg.cap + 12, length, 4);
  }
  uint32_t window_read(uint32_t offset, uint32_t length) {
    window(0, offset, length);
    return static_cast<uint32_t>(cfg_read(pci_cfg.cap + 16, 4));
  }
  void window_write(uint32_t offset, uint32_t length, uint32_t v) {
    window(0, offset, length);
    cfg_write(pci_cfg.cap + 16, v, 4);
  }

  Region common, notify, isr, device, pci_cfg;
  uint32_t notify_multiplier = 0;
  uint32_t msix_cap = 0;
  int cap_count = 0;

 private:
  PciTransport& t_;
};

}  // namespace vireo::virtio::test
