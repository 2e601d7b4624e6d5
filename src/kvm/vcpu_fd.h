// VcpuFd: one virtual CPU: its fd, its kvm_run mapping and its register state.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::kvm {

class VcpuFd {
 public:
  VcpuFd() = default;
  VcpuFd(UniqueFd fd, kvm_run* run, size_t run_size, uint32_t id)
      : fd_(std::move(fd)), run_(run), run_size_(run_size), id_(id) {}
  ~VcpuFd();
  VcpuFd(VcpuFd&& o) noexcept;
  VcpuFd& operator=(VcpuFd&& o) noexcept;
  VcpuFd(const VcpuFd&) = delete;
  VcpuFd& operator=(const VcpuFd&) = delete;

  int fd() const { return fd_.get(); }
  uint32_t id() const { return id_; }
  kvm_run* run_struct() const { return run_; }

  // KVM_RUN. Returns true when the guest exited normally (inspect run_struct()),
  // false when interrupted by a signal (EINTR) or immediate_exit (EINTR too).
  Result<bool> run() const;
  void set_immediate_exit(bool v) const { __atomic_store_n(&run_->immediate_exit, v ? 1 : 0, __ATOMIC_SEQ_CST); }

  // KVM_KVMCLOCK_CTRL: tells a guest using kvmclock that the VMM stopped this vCPU, so
  // its soft-lockup watchdog does not fire for the time it was paused. Fails (EINVAL)
  // when the guest has not set up kvmclock.
  Result<void> kvmclock_ctrl() const;
  Result<kvm_regs> get_regs() const;
  Result<void> set_regs(const kvm_regs&) const;
  Result<kvm_sregs> get_sregs() const;
  Result<void> set_sregs(const kvm_sregs&) const;
  Result<kvm_fpu> get_fpu() const;
  Result<void> set_fpu(const kvm_fpu&) const;
  Result<void> set_cpuid2(const std::vector<kvm_cpuid_entry2>& entries) const;
  Result<void> set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const;
  // KVM_GET_CPUID2: the entries KVM_SET_CPUID2 gave this vCPU.
  Result<std::vector<kvm_cpuid_entry2>> get_cpuid2() const;
  // Every MSR of `indices` KVM reads, in one call where it can: KVM stops at the first
  // MSR it refuses; that one is left out and the rest read on. `refused` gets the
  // MSRs left out.
  Result<std::vector<std::pair<uint32_t, uint64_t>>> read_msrs(
      const std::vector<uint32_t>& indices, std::vector<uint32_t>* refused) const;
  // Writes them, in one call where it can, leaving out those KVM refuses (returned).
  Result<std::vector<uint32_t>> write_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const;
  // The whole XSAVE area: KVM_GET_XSAVE2 into `xsave2_size` bytes where the VM has
  // KVM_CAP_XSAVE2 (its value), else KVM_GET_XSAVE (4096 bytes) when `xsave2_size` is 0.
  Result<std::vector<uint8_t>> get_xsave(uint32_t xsave2_size) const;
  // KVM_SET_XSAVE; `area` must be at least as long as KVM's XSAVE size for this vCPU.
  Result<void> set_xsave(std::span<const uint8_t> area) const;
  // KVM_GET_TSC_KHZ / KVM_SET_TSC_KHZ: the vCPU's TSC frequency.
  Result<uint32_t> get_tsc_khz() const;
  Result<void> set_tsc_khz(uint32_t khz) const;
  Result<std::vector<uint64_t>> get_msrs(const std::vector<uint32_t>& indices) const;
  Result<kvm_lapic_state> get_lapic() const;
  Result<void> set_lapic(const kvm_lapic_state&) const;
  Result<kvm_mp_state> get_mp_state() const;
  Result<void> set_mp_state(const kvm_mp_state&) const;
  Result<kvm_vcpu_events> get_vcpu_events() const;
  Result<void> set_vcpu_events(const kvm_vcpu_events&) const;
  Result<kvm_xcrs> get_xcrs() const;
  Result<void> set_xcrs(const kvm_xcrs&) const;
  Result<void> set_guest_debug(const kvm_guest_debug&) const;
  Result<kvm_debugregs> get_debugregs() const;
  // MXCSR, through KVM_GET/SET_XSAVE (KVM_GET_FPU reports 0 on some hosts and
  // KVM_SET_FPU's MXCSR does not stick there). set_mxcsr marks the SSE state present.
  Result<uint32_t> get_mxcsr() const;
  Result<void> set_mxcsr(uint32_t mxcsr) const;
  Result<void> set_debugregs(const kvm_debugregs&) const;

 private:
  void unmap();

  UniqueFd fd_;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;
  uint32_t id_ = 0;
};

}  // namespace vireo::kvm
