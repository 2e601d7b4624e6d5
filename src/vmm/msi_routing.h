// MsiRouting: the VM's GSI routing table when devices have MSI-X vectors. KVM takes the
// whole table at each change (KVM_SET_GSI_ROUTING), so one owner keeps it: the PIC and
// IOAPIC routes KVM starts with, plus an MSI route per vector on GSIs from 24 up.
//
// RoutedMsiVector is one MSI-X vector on KVM: its GSI, an irqfd on it (a trigger is one
// eventfd write, from any thread, without an ioctl), and the route the guest's message
// is written into when the vector becomes deliverable.
#pragma once

#include <memory>
#include <mutex>

#include "kvm/gsi_routing.h"
#include "kvm/vm_fd.h"
#include "pci/msix.h"
#include "vmm/address_allocator.h"
#include "vmm/irqfd_irq.h"

namespace vireo::vmm {

class MsiRouting {
 public:
  // `vm` outlives the routing.
  explicit MsiRouting(const kvm::VmFd& vm);

  Result<uint32_t> allocate_gsi();
  // Routes `gsi` to `msi` and installs the table.
  Result<void> set(uint32_t gsi, const kvm::MsiRoute& msi);
  // Route-table installs so far (each one costs the guest a KVM_SET_GSI_ROUTING).
  uint64_t installs() const;

 private:
  const kvm::VmFd& vm_;
  mutable std::mutex mu_;
  kvm::GsiRoutingTable table_;
  IdAllocator gsis_;
  uint64_t installs_ = 0;
};

class RoutedMsiVector : public pci::MsiVector {
 public:
  // A GSI from `routing` with an irqfd on it; no route until configure().
  static Result<std::shared_ptr<RoutedMsiVector>> create(MsiRouting& routing, const kvm::VmFd& vm);

  void configure(uint64_t address, uint32_t data) override;
  void trigger() override { irqfd_->trigger(); }
  uint32_t gsi() const { return irqfd_->gsi(); }

  RoutedMsiVector(MsiRouting& routing, std::shared_ptr<IrqfdIrq> irqfd)
      : routing_(routing), irqfd_(std::move(irqfd)) {}

 private:
  MsiRouting& routing_;
  std::shared_ptr<IrqfdIrq> irqfd_;
};

}  // namespace vireo::vmm
