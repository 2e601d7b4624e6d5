#include "vmm/power_on_state.h"

#include <fmt/format.h>

#include <algorithm>

namespace vireo::vmm {

Result<PowerOnState> PowerOnState::capture(const kvm::VmFd& vm,
                                           const std::vector<kvm::VcpuFd*>& vcpus,
                                           std::vector<std::pair<uint32_t, uint64_t>> msrs) {
  PowerOnState s;
  VIREO_ASSIGN_OR_RETURN(s.state_.vm, snapshot::capture_vm(vm, 0));  // the clock goes on
  snapshot::VcpuCaptureOptions opts;  // no MSRs read: the reset values stand in for them
  opts.xsave2_size = static_cast<uint32_t>(std::max(0, vm.check_extension(KVM_CAP_XSAVE2)));
  for (kvm::VcpuFd* fd : vcpus) {
    VIREO_ASSIGN_OR_RETURN(auto v, snapshot::capture_vcpu(*fd, opts));
    v.msrs = msrs;
    // Nothing pending, and the fields set says so.
    v.events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    s.state_.vcpus.push_back(std::move(v));
  }
  return s;
}

Result<void> PowerOnState::restore(const kvm::VmFd& vm, const std::vector<kvm::VcpuFd*>& vcpus) const {
  if (vcpus.size() != state_.vcpus.size())
    return Error(fmt::format("power-on state of {} vCPUs, VM has {}", state_.vcpus.size(), vcpus.size()));
  VIREO_TRY(snapshot::restore_vm(vm, state_.vm));
  for (size_t i = 0; i < vcpus.size(); ++i) {
    auto r = snapshot::restore_vcpu(*vcpus[i], state_.vcpus[i]);
    if (!r.ok()) return r.error().context("machine reset");
  }
  return {};
}

}  // namespace vireo::vmm
