#include "vmm/power_on_state.h"

#include <fmt/format.h>

#include "log/log.h"

namespace vireo::vmm {

Result<PowerOnState> PowerOnState::capture(const kvm::VmFd& vm,
                                           const std::vector<kvm::VcpuFd*>& vcpus,
                                           std::vector<std::pair<uint32_t, uint64_t>> msrs) {
  PowerOnState s;
  for (uint32_t chip : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC}) {
    VIREO_ASSIGN_OR_RETURN(auto c, vm.get_irqchip(chip));
    s.irqchips_.push_back(c);
  }
  VIREO_ASSIGN_OR_RETURN(s.pit_, vm.get_pit2());
  for (kvm::VcpuFd* fd : vcpus) {
    VcpuPart p{};
    VIREO_ASSIGN_OR_RETURN(p.regs, fd->get_regs());
    VIREO_ASSIGN_OR_RETURN(p.sregs, fd->get_sregs());
    VIREO_ASSIGN_OR_RETURN(p.fpu, fd->get_fpu());
    VIREO_ASSIGN_OR_RETURN(p.lapic, fd->get_lapic());
    VIREO_ASSIGN_OR_RETURN(p.mp_state, fd->get_mp_state());
    VIREO_ASSIGN_OR_RETURN(p.events, fd->get_vcpu_events());
    VIREO_ASSIGN_OR_RETURN(p.xcrs, fd->get_xcrs());
    VIREO_ASSIGN_OR_RETURN(p.debugregs, fd->get_debugregs());
    // Nothing pending, and the fields set says so.
    p.events.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    s.vcpus_.push_back(p);
  }
  s.msrs_ = std::move(msrs);
  return s;
}

Result<void> PowerOnState::restore(const kvm::VmFd& vm, const std::vector<kvm::VcpuFd*>& vcpus) const {
  if (vcpus.size() != vcpus_.size())
    return Error(fmt::format("power-on state of {} vCPUs, VM has {}", vcpus_.size(), vcpus.size()));
  for (const auto& c : irqchips_) VIREO_TRY(vm.set_irqchip(c));
  VIREO_TRY(vm.set_pit2(pit_));
  for (size_t i = 0; i < vcpus.size(); ++i) {
    const VcpuPart& p = vcpus_[i];
    kvm::VcpuFd& fd = *vcpus[i];
    // The segment and control registers first (they set the APIC base and EFER that the
    // LAPIC and the MSRs depend on), then the LAPIC before the MSRs (TSC deadline).
    VIREO_TRY(fd.set_sregs(p.sregs));
    VIREO_TRY(fd.set_regs(p.regs));
    VIREO_TRY(fd.set_fpu(p.fpu));
    VIREO_TRY(fd.set_xcrs(p.xcrs));
    VIREO_TRY(fd.set_lapic(p.lapic));
    if (auto r = fd.set_msrs(msrs_); !r.ok()) {
      // One at a time, to put back every MSR this KVM takes.
      for (const auto& m : msrs_)
        if (auto one = fd.set_msrs({m}); !one.ok()) LOG_WARN("machine reset: {}", one.error().message());
    }
    VIREO_TRY(fd.set_debugregs(p.debugregs));
    VIREO_TRY(fd.set_vcpu_events(p.events));
    VIREO_TRY(fd.set_mp_state(p.mp_state));
  }
  return {};
}

}  // namespace vireo::vmm
