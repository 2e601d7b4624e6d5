// IrqfdIrq: an interrupt delivered through an irqfd, an eventfd that KVM watches and
// turns into an injection of one GSI. A write from any thread (a virtio device's I/O
// thread) interrupts the guest without an ioctl and without a vCPU exit. What the GSI
// does is the routing table's business (kvm/gsi_routing.h): an MSI route sends its
// message, a PIC/IOAPIC route raises and lowers the pin.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "devices/irq.h"
#include "kvm/vm_fd.h"
#include "util/epoll.h"
#include "util/result.h"

namespace vireo::vmm {

class IrqfdIrq : public devices::Irq {
 public:
  // Creates the eventfd and registers it as an irqfd on `gsi`. `vm` must outlive the
  // IrqfdIrq.
  static Result<std::shared_ptr<IrqfdIrq>> create(const kvm::VmFd& vm, uint32_t gsi);
  // Unregisters the irqfd, then closes the eventfd.
  ~IrqfdIrq() override;
  IrqfdIrq(const IrqfdIrq&) = delete;
  IrqfdIrq& operator=(const IrqfdIrq&) = delete;

  // One eventfd write: one injection of the GSI.
  void trigger() override;
  // An irqfd carries edges, not levels: KVM raises and lowers the GSI on each write.
  // So set_level(true) after a low level triggers once (the rising edge); a repeated
  // set_level(true) does nothing and set_level(false) only records the level. A device
  // whose output stays high gets one interrupt, as on an edge-triggered input; one that
  // needs its line held until the guest's EOI needs IrqLine (or a resample irqfd).
  void set_level(bool high) override;

  int eventfd() const { return eventfd_.fd(); }
  uint32_t gsi() const { return gsi_; }
  // Eventfd writes that failed (counted, as a device cannot take the error).
  uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  IrqfdIrq(const kvm::VmFd& vm, uint32_t gsi, EventFd eventfd)
      : vm_(vm), gsi_(gsi), eventfd_(std::move(eventfd)) {}

  const kvm::VmFd& vm_;
  uint32_t gsi_;
  EventFd eventfd_;
  std::atomic<bool> level_{false};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace vireo::vmm
