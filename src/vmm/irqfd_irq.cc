#include "vmm/irqfd_irq.h"

namespace vireo::vmm {

Result<std::shared_ptr<IrqfdIrq>> IrqfdIrq::create(const kvm::VmFd& vm, uint32_t gsi) {
  VIREO_ASSIGN_OR_RETURN(EventFd eventfd, EventFd::create());
  VIREO_TRY(vm.register_irqfd(eventfd.fd(), gsi));
  // The constructor is private: no make_shared.
  return std::shared_ptr<IrqfdIrq>(new IrqfdIrq(vm, gsi, std::move(eventfd)));
}

IrqfdIrq::~IrqfdIrq() {
  // Closing the eventfd alone would make KVM drop the irqfd too, but from a workqueue,
  // later: unregistering first means no injection follows the destructor. A failure has
  // nobody to go to, and the close below still removes the irqfd.
  (void)vm_.unregister_irqfd(eventfd_.fd(), gsi_);
}

void IrqfdIrq::trigger() {
  if (!eventfd_.signal()) failures_.fetch_add(1, std::memory_order_relaxed);
}

void IrqfdIrq::set_level(bool high) {
  if (high && !level_.exchange(true)) trigger();
  if (!high) level_.store(false);
}

}  // namespace vireo::vmm
