#include "vmm/irq_line.h"

namespace vireo::vmm {

void IrqLine::set_level(bool high) { drive(high); }

void IrqLine::trigger() {
  drive(true);
  drive(false);
}

void IrqLine::drive(bool high) {
  if (!vm_.set_irq_line(gsi_, high).ok()) failures_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace vireo::vmm
