// VmFd: one KVM virtual machine (memory slots, irqchip, PIT, interrupt lines).
#pragma once

#include <linux/kvm.h>

#include <cstdint>

#include "kvm/vcpu_fd.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::kvm {

class VmFd {
 public:
  VmFd() = default;
  VmFd(UniqueFd fd, int vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

  int fd() const { return fd_.get(); }

  Result<void> set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size,
                                      void* host, uint32_t flags = 0) const;
  Result<void> set_tss_address(uint64_t addr) const;
  Result<void> set_identity_map_address(uint64_t addr) const;
  Result<void> create_irqchip() const;
  Result<void> create_pit2() const;
  // Drives an interrupt line of the in-kernel irqchip (PIC + IOAPIC).
  Result<void> set_irq_line(uint32_t gsi, bool level) const;
  Result<void> enable_cap(uint32_t cap, uint64_t arg0 = 0) const;
  // KVM_X86_SET_MSR_FILTER: guest accesses the filter denies exit to the VMM (with
  // KVM_CAP_X86_USER_SPACE_MSR enabled for KVM_MSR_EXIT_REASON_FILTER).
  Result<void> set_msr_filter(const kvm_msr_filter& filter) const;
  Result<VcpuFd> create_vcpu(uint32_t id) const;

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

}  // namespace vireo::kvm
