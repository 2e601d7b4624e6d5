// PowerOnState: the state KVM keeps for a VM (the in-kernel PICs and IOAPIC, the PIT,
// and each vCPU's registers, XSAVE area, LAPIC, MP state, pending events, XCRs and debug
// registers: a snapshot::KvmState), as it was before the guest first ran. A guest reboot
// puts it back, with the reset MSR values (arch/x86/boot_cpu.h: reset_msrs) in place of
// the vCPUs' MSRs, so that the VM restarts in place: the same KVM VM, vCPU threads' fds,
// guest memory mapping, devices and their back-ends, none of which a jailed process
// could make again.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "kvm/vcpu_fd.h"
#include "kvm/vm_fd.h"
#include "snapshot/kvm_state.h"
#include "util/result.h"

namespace vireo::vmm {

class PowerOnState {
 public:
  // Reads it all; call after the vCPUs are set up for boot, before any runs.
  static Result<PowerOnState> capture(const kvm::VmFd& vm, const std::vector<kvm::VcpuFd*>& vcpus,
                                      std::vector<std::pair<uint32_t, uint64_t>> msrs);
  // Writes it all back; the vCPUs must not be running.
  Result<void> restore(const kvm::VmFd& vm, const std::vector<kvm::VcpuFd*>& vcpus) const;

 private:
  snapshot::KvmState state_;
};

}  // namespace vireo::vmm
