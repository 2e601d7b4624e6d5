// IrqLine: a device interrupt line wired to a GSI of the in-kernel irqchip.
#pragma once

#include <atomic>
#include <cstdint>

#include "devices/irq.h"
#include "kvm/vm_fd.h"

namespace vireo::vmm {

class IrqLine : public devices::Irq {
 public:
  IrqLine(const kvm::VmFd& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}

  // KVM_IRQ_LINE with the level.
  void set_level(bool high) override;
  // A pulse, high then low: the edge an edge-triggered PIC/IOAPIC input latches (a
  // level-triggered one sees a level that is already gone by the time the guest looks).
  void trigger() override;

  // KVM_IRQ_LINE calls that failed. A device has nobody to hand the error to, so the
  // line counts it and keeps going; the owner reads the count (never reset).
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  void drive(bool high);

  const kvm::VmFd& vm_;
  uint32_t gsi_;
  std::atomic<uint64_t> failures_{0};
};

}  // namespace vireo::vmm
