// IrqLine: a device interrupt line wired to a GSI of the in-kernel irqchip.
#pragma once

#include <cstdint>

#include "devices/irq.h"
#include "kvm/vm_fd.h"

namespace vireo::vmm {

class IrqLine : public devices::Irq {
 public:
  IrqLine(const kvm::VmFd& vm, uint32_t gsi) : vm_(vm), gsi_(gsi) {}
  void set_level(bool high) override { (void)vm_.set_irq_line(gsi_, high); }

 private:
  const kvm::VmFd& vm_;
  uint32_t gsi_;
};

}  // namespace vireo::vmm
