// Msix: a function's MSI-X capability, vector table and pending-bit array (PCI Local
// Bus 3.0, 6.8.2), and the delivery of its interrupts.
//
// Each vector is an MsiVector the VMM provides (on KVM: a GSI with an MSI route and an
// irqfd). The table's address and data are handed to the vector when the vector becomes
// deliverable (MSI-X enabled, function not masked, vector not masked) with a message
// different from the one it carries, so a guest that masks, rewrites and unmasks a vector
// (as Linux does) costs one routing update. notify() delivers the vector, or sets its
// pending bit while it is masked; unmasking delivers what is pending.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "util/result.h"
#include "util/state_codec.h"

namespace vireo::pci {

class MsiVector {
 public:
  virtual ~MsiVector() = default;
  // The message this vector sends from now on (x86: address 0xfee..... naming the
  // destination, data holding the vector number and delivery mode).
  virtual void configure(uint64_t address, uint32_t data) = 0;
  // Sends the message once. Any thread; never blocks.
  virtual void trigger() = 0;
};

inline constexpr uint8_t kCapabilityMsix = 0x11;
inline constexpr uint16_t kNoVector = 0xffff;  // virtio's VIRTIO_MSI_NO_VECTOR

class Msix {
 public:
  static constexpr uint64_t kEntrySize = 16;
  static constexpr uint16_t kControlEnable = 1u << 15;
  static constexpr uint16_t kControlFunctionMask = 1u << 14;
  static constexpr uint32_t kEntryMasked = 1;

  // `count` vectors (1..2048), their table at `table_offset` of BAR `table_bar`, the
  // pending bits at `pba_offset` of BAR `pba_bar`.
  Msix(uint16_t count, uint8_t table_bar, uint32_t table_offset, uint8_t pba_bar,
       uint32_t pba_offset);

  uint16_t count() const { return static_cast<uint16_t>(entries_.size()); }
  // The capability as ConfigSpace::add_capability() takes it (body and write mask): the
  // guest may write only the enable and function-mask bits of Message Control.
  std::vector<uint8_t> capability_body() const;
  std::vector<uint8_t> capability_mask() const;
  uint64_t table_bytes() const { return kEntrySize * entries_.size(); }
  uint64_t pba_bytes() const { return ((entries_.size() + 63) / 64) * 8; }

  // One MsiVector per vector, before the guest runs.
  void attach(std::vector<std::shared_ptr<MsiVector>> vectors);

  // The guest wrote Message Control (the capability's bytes 2-3).
  void write_control(uint16_t control);
  uint16_t control() const;
  bool enabled() const;

  // Guest accesses to the table and the PBA (offsets relative to each; any width, 4 and
  // 8 bytes aligned are what drivers use; others read ones and are ignored).
  void read_table(uint64_t offset, std::span<uint8_t> data) const;
  void write_table(uint64_t offset, std::span<const uint8_t> data);
  void read_pba(uint64_t offset, std::span<uint8_t> data) const;

  // Vector `v` fires (any thread): delivered, or left pending while masked. A vector
  // number the guest made up (>= count(), kNoVector) is ignored.
  void notify(uint16_t v);

  // Everything back to power-on: MSI-X off, every vector masked, nothing pending.
  void reset();
  void save(StateWriter& w) const;
  Result<void> restore(StateReader& r);

 private:
  struct Entry {
    uint64_t address = 0;
    uint32_t data = 0;
    uint32_t control = kEntryMasked;
    bool pending = false;
    bool configured = false;  // the MsiVector carries address/data
    uint64_t sent_address = 0;
    uint32_t sent_data = 0;
  };
  bool deliverable(const Entry& e) const;
  // Hands a deliverable vector its message if it changed, and sends what is pending.
  void refresh(size_t i);

  uint8_t table_bar_, pba_bar_;
  uint32_t table_offset_, pba_offset_;
  mutable std::mutex mu_;
  uint16_t control_ = 0;  // enable and function mask
  std::vector<Entry> entries_;
  std::vector<std::shared_ptr<MsiVector>> vectors_;
};

}  // namespace vireo::pci
