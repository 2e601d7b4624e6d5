#include "snapshot/kvm_state.h"

#include <fmt/format.h>

#include <algorithm>

#include "log/log.h"

namespace vireo::snapshot {

namespace {
constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrTscDeadline = 0x6e0;

// KVM takes a TSC that userspace writes within a second of the value it expects (the
// VM's last write plus the time since) for an attempt to synchronise the vCPUs, and
// keeps the TSC it has: then a snapshot of a guest less than a second old, written into
// a fresh VM (whose TSC is near 0), would not get its TSC back, and time would run
// backwards for it. (Newer kernels leave user writes alone.) So the TSC is read back
// and, if it is behind the saved one, written once a few seconds beyond the saved
// value, which KVM must take as it is, and then the saved value, which is then as far
// from the last write and taken as well. A TSC found ahead is left: to the guest that
// is time it did not run, as when the host did not schedule it. (Hosts that emulate
// guest kernel mode give the guest the host's TSC: always ahead. Neither KVM the tests
// run on shows the synchronisation: the sandbox's takes the value written.)
Result<void> put_tsc(const kvm::VcpuFd& fd, uint64_t tsc, uint32_t khz) {
  auto behind = [&]() -> Result<bool> {
    std::vector<uint32_t> refused;
    VIREO_ASSIGN_OR_RETURN(auto now, fd.read_msrs({kMsrTsc}, &refused));
    return !now.empty() && now[0].second < tsc;
  };
  VIREO_ASSIGN_OR_RETURN(bool back, behind());
  if (!back) return {};
  const uint64_t hz = uint64_t{khz ? khz : 1'000'000} * 1000;  // 1 GHz if not known
  VIREO_TRY(fd.write_msrs({{kMsrTsc, tsc + 4 * hz}}));
  VIREO_TRY(fd.write_msrs({{kMsrTsc, tsc}}));
  VIREO_ASSIGN_OR_RETURN(back, behind());
  if (back) LOG_WARN("restore: vCPU {}: KVM did not take the saved TSC {:#x}: the guest's time goes back", fd.id(), tsc);
  return {};
}

bool same_cpuid(const std::vector<kvm_cpuid_entry2>& a, const std::vector<kvm_cpuid_entry2>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.function == y.function && x.index == y.index && x.flags == y.flags &&
           x.eax == y.eax && x.ebx == y.ebx && x.ecx == y.ecx && x.edx == y.edx;
  });
}

}  // namespace


Result<VcpuKvmState> capture_vcpu(const kvm::VcpuFd& fd, const VcpuCaptureOptions& opts) {
  VcpuKvmState s;
  VIREO_ASSIGN_OR_RETURN(s.regs, fd.get_regs());
  VIREO_ASSIGN_OR_RETURN(s.sregs, fd.get_sregs());
  VIREO_ASSIGN_OR_RETURN(s.xsave, fd.get_xsave(opts.xsave2_size));
  VIREO_ASSIGN_OR_RETURN(s.xcrs, fd.get_xcrs());
  VIREO_ASSIGN_OR_RETURN(s.lapic, fd.get_lapic());
  std::vector<uint32_t> refused;
  VIREO_ASSIGN_OR_RETURN(s.msrs, fd.read_msrs(opts.msr_indices, &refused));
  if (!refused.empty())
    LOG_DEBUG("snapshot: vCPU {}: KVM reads no MSR {:#x} ({} in all) of its own list", fd.id(),
              refused.front(), refused.size());
  VIREO_ASSIGN_OR_RETURN(s.mp_state, fd.get_mp_state());
  VIREO_ASSIGN_OR_RETURN(s.events, fd.get_vcpu_events());
  VIREO_ASSIGN_OR_RETURN(s.debugregs, fd.get_debugregs());
  VIREO_ASSIGN_OR_RETURN(s.cpuid, fd.get_cpuid2());
  // Some hosts' KVM (TSC of unknown frequency) cannot say; the restore then keeps its own.
  if (auto khz = fd.get_tsc_khz(); khz.ok())
    s.tsc_khz = *khz;
  else
    LOG_DEBUG("snapshot: vCPU {}: no TSC frequency ({})", fd.id(), khz.error().message());
  return s;
}

Result<void> restore_vcpu(const kvm::VcpuFd& fd, const VcpuKvmState& s) {
  // Only a different CPUID is set: kernels refuse KVM_SET_CPUID2 after KVM_RUN (since
  // 5.16; from 5.17 unless it is the same), and a reset in place has run.
  if (auto now = fd.get_cpuid2(); !now.ok() || !same_cpuid(*now, s.cpuid))
    VIREO_TRY(fd.set_cpuid2(s.cpuid));
  if (s.tsc_khz != 0) {
    auto here = fd.get_tsc_khz();
    if (here.ok() && *here != s.tsc_khz) {
      if (auto r = fd.set_tsc_khz(s.tsc_khz); !r.ok())
        return Error(fmt::format(
            "the snapshot's TSC runs at {} kHz, this host's at {} kHz, and its KVM cannot "
            "scale it ({}): restore on a host with the same TSC frequency or TSC scaling",
            s.tsc_khz, *here, r.error().message()));
    }
  }
  VIREO_TRY(fd.set_regs(s.regs));
  VIREO_TRY(fd.set_xsave(s.xsave));
  VIREO_TRY(fd.set_xcrs(s.xcrs));
  VIREO_TRY(fd.set_sregs(s.sregs));
  std::vector<std::pair<uint32_t, uint64_t>> msrs, after_lapic;
  for (const auto& m : s.msrs) (m.first == kMsrTscDeadline ? after_lapic : msrs).push_back(m);
  VIREO_ASSIGN_OR_RETURN(auto refused, fd.write_msrs(msrs));
  for (const auto& m : msrs)
    if (m.first == kMsrTsc) {
      auto khz = fd.get_tsc_khz();
      VIREO_TRY(put_tsc(fd, m.second, khz.ok() ? *khz : s.tsc_khz));
    }
  VIREO_TRY(fd.set_mp_state(s.mp_state));
  VIREO_TRY(fd.set_lapic(s.lapic));
  VIREO_ASSIGN_OR_RETURN(auto refused_late, fd.write_msrs(after_lapic));
  refused.insert(refused.end(), refused_late.begin(), refused_late.end());
  for (uint32_t index : refused)
    LOG_WARN("vCPU {}: this host's KVM refused MSR {:#x}; it keeps the value it had",
             fd.id(), index);
  kvm_vcpu_events events = s.events;
  events.flags |= KVM_VCPUEVENT_VALID_SIPI_VECTOR;  // a vCPU waiting for its SIPI keeps it
  VIREO_TRY(fd.set_vcpu_events(events));
  VIREO_TRY(fd.set_debugregs(s.debugregs));
  return {};
}

Result<VmKvmState> capture_vm(const kvm::VmFd& vm, uint64_t clock_ns) {
  VmKvmState s;
  const uint32_t chips[] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC};
  for (size_t i = 0; i < s.irqchips.size(); ++i) {
    VIREO_ASSIGN_OR_RETURN(s.irqchips[i], vm.get_irqchip(chips[i]));
  }
  VIREO_ASSIGN_OR_RETURN(s.pit, vm.get_pit2());
  s.clock_ns = clock_ns;
  return s;
}

Result<void> restore_vm(const kvm::VmFd& vm, const VmKvmState& s) {
  for (const auto& c : s.irqchips) VIREO_TRY(vm.set_irqchip(c));
  VIREO_TRY(vm.set_pit2(s.pit));
  return {};
}

Result<void> restore_clock(const kvm::VmFd& vm, const VmKvmState& s) {
  kvm_clock_data c{};
  c.clock = s.clock_ns;
  return vm.set_clock(c);
}

}  // namespace vireo::snapshot
