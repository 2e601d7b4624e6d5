// KvmState: what KVM itself holds of a VM, as plain structs: each vCPU's registers,
// XSAVE area, XCRs, LAPIC, MSRs, MP state, pending events, debug registers, CPUID and
// TSC frequency; the VM's in-kernel PICs and IOAPIC, PIT and kvmclock. Read with the
// vCPUs parked outside KVM_RUN (Vm::pause), written into a VM whose vCPUs have not run
// yet (or are stopped). The KVM structures are the kernel's ABI, which does not change;
// kvm_state_codec.h encodes them.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "kvm/vcpu_fd.h"
#include "kvm/vm_fd.h"
#include "util/result.h"

namespace vireo::snapshot {

struct VcpuKvmState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> xsave;  // the XSAVE area, KVM_GET_XSAVE(2)'s size
  kvm_xcrs xcrs{};
  kvm_lapic_state lapic{};
  std::vector<std::pair<uint32_t, uint64_t>> msrs;  // every one KVM would read
  kvm_mp_state mp_state{};
  kvm_vcpu_events events{};
  kvm_debugregs debugregs{};
  std::vector<kvm_cpuid_entry2> cpuid;
  uint32_t tsc_khz = 0;  // 0: the host did not say
};

struct VmKvmState {
  std::array<kvm_irqchip, 3> irqchips{};  // PIC master, PIC slave, IOAPIC
  kvm_pit_state2 pit{};
  uint64_t clock_ns = 0;  // kvmclock
};

struct KvmState {
  VmKvmState vm;
  std::vector<VcpuKvmState> vcpus;
};

// What a vCPU's capture needs to know of its host.
struct VcpuCaptureOptions {
  std::vector<uint32_t> msr_indices;  // Kvm::msr_index_list()
  uint32_t xsave2_size = 0;           // VM's KVM_CAP_XSAVE2, 0 without
};

Result<VcpuKvmState> capture_vcpu(const kvm::VcpuFd& fd, const VcpuCaptureOptions& opts);
// In QEMU's order (kvm_arch_put_registers): CPUID, TSC frequency, regs, XSAVE, XCRs,
// sregs, MSRs, MP state, LAPIC, the TSC deadline MSR (it arms the LAPIC timer), events,
// debug registers. MSRs this KVM refuses are left out with a warning.
Result<void> restore_vcpu(const kvm::VcpuFd& fd, const VcpuKvmState& s);

// `clock_ns`: the kvmclock to record (Vm::pause read it when it stopped the clock).
Result<VmKvmState> capture_vm(const kvm::VmFd& vm, uint64_t clock_ns);
// The irqchips and PIT; the clock separately, after the vCPUs (restore_clock).
Result<void> restore_vm(const kvm::VmFd& vm, const VmKvmState& s);
Result<void> restore_clock(const kvm::VmFd& vm, const VmKvmState& s);

}  // namespace vireo::snapshot
