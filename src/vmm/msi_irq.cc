#include "vmm/msi_irq.h"

namespace vireo::vmm {

void MsiIrq::set_message(uint64_t address, uint32_t data) {
  std::lock_guard lock(mu_);
  address_ = address;
  data_ = data;
}

void MsiIrq::trigger() {
  uint64_t address;
  uint32_t data;
  {
    std::lock_guard lock(mu_);
    address = address_;
    data = data_;
  }
  auto delivered = vm_.signal_msi(address, data);
  if (!delivered.ok())
    failures_.fetch_add(1, std::memory_order_relaxed);
  else if (!*delivered)
    undelivered_.fetch_add(1, std::memory_order_relaxed);
}

void MsiIrq::set_level(bool high) {
  if (high && !level_.exchange(true)) trigger();
  if (!high) level_.store(false);
}

}  // namespace vireo::vmm
