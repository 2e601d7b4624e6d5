// MsiIrq: one MSI message per trigger(), sent with KVM_SIGNAL_MSI from the calling
// thread: an ioctl per interrupt, but no GSI and no routing entry, so a guest that
// reprograms an MSI-X vector costs only set_message(). Masking (MSI-X vector control,
// pending bits) is the transport's business: it does not trigger a masked vector.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "devices/irq.h"
#include "kvm/vm_fd.h"

namespace vireo::vmm {

class MsiIrq : public devices::Irq {
 public:
  // `vm` must outlive the MsiIrq.
  MsiIrq(const kvm::VmFd& vm, uint64_t address, uint32_t data)
      : vm_(vm), address_(address), data_(data) {}

  // The message the guest programmed (x86: address 0xfee00000 | destination APIC ID
  // << 12 | modes, data = vector | delivery mode << 8 | trigger mode << 15).
  void set_message(uint64_t address, uint32_t data);

  // Sends the current message once.
  void trigger() override;
  // An MSI has no level: set_level(true) after a low level sends the message once (the
  // rising edge), as IrqfdIrq does; set_level(false) only records the level.
  void set_level(bool high) override;

  // KVM_SIGNAL_MSI calls that failed (counted, as a device cannot take the error).
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }
  // Messages KVM accepted but the guest blocked (destination LAPIC disabled, none
  // matching): not errors, a guest that is not listening.
  uint64_t undelivered() const { return undelivered_.load(std::memory_order_relaxed); }

 private:
  const kvm::VmFd& vm_;
  std::mutex mu_;  // address_ and data_ change together
  uint64_t address_;
  uint32_t data_;
  std::atomic<bool> level_{false};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> undelivered_{0};
};

}  // namespace vireo::vmm
