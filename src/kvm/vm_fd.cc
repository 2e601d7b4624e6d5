#include "kvm/vm_fd.h"

#include <sys/mman.h>

#include <fmt/format.h>

#include "kvm/ioctl.h"

namespace vireo::kvm {

Result<void> VmFd::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size,
                                          void* host, uint32_t flags) const {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  auto res = VIREO_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r);
  if (!res.ok())
    return res.error().context(fmt::format("memory slot {} ({:#x}+{:#x})", slot, gpa, size));
  return {};
}

Result<void> VmFd::set_tss_address(uint64_t addr) const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)));
  return {};
}

Result<void> VmFd::set_identity_map_address(uint64_t addr) const {
  uint64_t a = addr;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &a));
  return {};
}

Result<void> VmFd::create_irqchip() const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_CREATE_IRQCHIP, 0));
  return {};
}

Result<void> VmFd::create_pit2() const {
  kvm_pit_config cfg{};
  cfg.flags = KVM_PIT_SPEAKER_DUMMY;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_CREATE_PIT2, &cfg));
  return {};
}

Result<void> VmFd::set_irq_line(uint32_t gsi, bool level) const {
  kvm_irq_level l{};
  l.irq = gsi;
  l.level = level ? 1 : 0;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_IRQ_LINE, &l));
  return {};
}

Result<void> VmFd::enable_cap(uint32_t cap, uint64_t arg0) const {
  kvm_enable_cap c{};
  c.cap = cap;
  c.args[0] = arg0;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_ENABLE_CAP, &c));
  return {};
}

Result<void> VmFd::set_msr_filter(const kvm_msr_filter& filter) const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter));
  return {};
}

Result<VcpuFd> VmFd::create_vcpu(uint32_t id) const {
  auto fd = VIREO_IOCTL(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (!fd.ok()) return fd.error().context(fmt::format("vCPU {}", id));
  UniqueFd vfd(*fd);
  void* p = ::mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vfd.get(), 0);
  if (p == MAP_FAILED) return Error::from_errno(fmt::format("mmap(kvm_run of vCPU {})", id));
  return VcpuFd(std::move(vfd), static_cast<kvm_run*>(p), vcpu_mmap_size_, id);
}

}  // namespace vireo::kvm
