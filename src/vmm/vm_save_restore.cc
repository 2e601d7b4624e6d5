// Vm::snapshot and Vm::restore: a paused VM to values and back (vmm/vm_snapshot.h).
#include <fmt/format.h>

#include <cstring>

#include "snapshot/kvm_state.h"
#include "util/size.h"
#include "vmm/vm.h"

namespace vireo::vmm {

Result<VmSnapshot> Vm::snapshot() {
  if (!paused_) return Error("cannot take a snapshot of a running VM: pause it first");
  VmSnapshot s;
  s.cpus = cfg_.cpus;
  s.memory_size = cfg_.memory;
  for (const auto& r : mem_.regions())
    s.ram.push_back({.gpa = r.gpa, .bytes = std::vector<uint8_t>(r.host, r.host + r.size), .size = r.size});

  VIREO_ASSIGN_OR_RETURN(s.kvm.vm, snapshot::capture_vm(vm_, paused_clock_));
  snapshot::VcpuCaptureOptions opts;
  VIREO_ASSIGN_OR_RETURN(opts.msr_indices, kvm_.msr_index_list());
  opts.xsave2_size = static_cast<uint32_t>(std::max(0, vm_.check_extension(KVM_CAP_XSAVE2)));
  for (auto& v : vcpus_) {
    auto st = snapshot::capture_vcpu(v->fd(), opts);
    if (!st.ok()) return st.error().context("taking a snapshot");
    s.kvm.vcpus.push_back(std::move(*st));
  }
  s.devices = devices_->save_all();
  return s;
}

Result<void> Vm::check_restorable(const VmSnapshot& s) const {
  for (const auto& v : vcpus_)
    if (v->state() != VcpuState::kCreated)
      return Error("this VM has run already: restore into a VM just built, before it starts");
  if (s.cpus != cfg_.cpus || s.kvm.vcpus.size() != vcpus_.size())
    return Error(fmt::format(
        "the snapshot is of a VM with {} vCPUs, this one has {}: build it with --cpus {} to "
        "restore the snapshot",
        s.cpus, cfg_.cpus, s.cpus));
  if (s.memory_size != cfg_.memory)
    return Error(fmt::format(
        "the snapshot is of a VM with {} of memory, this one has {}: build it with --memory {} "
        "to restore the snapshot",
        format_size(s.memory_size), format_size(cfg_.memory), format_size(s.memory_size)));
  const auto& regions = mem_.regions();
  if (s.ram.size() != regions.size())
    return Error(fmt::format("the snapshot has {} RAM regions, this VM {}: it was taken by another "
                             "vireo version; restore it with that one",
                             s.ram.size(), regions.size()));
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& r = s.ram[i];
    if (r.gpa != regions[i].gpa || r.size != regions[i].size)
      return Error(fmt::format("the snapshot's RAM region {} is {:#x}+{:#x}, this VM's {:#x}+{:#x}: "
                               "it was taken by another vireo version; restore it with that one",
                               i, r.gpa, r.size, regions[i].gpa, regions[i].size));
    if (r.bytes.size() != r.size)
      return Error(fmt::format("the snapshot's RAM region {} has {} bytes of {}: its memory image "
                               "is missing or incomplete",
                               i, r.bytes.size(), r.size));
  }
  if (auto r = devices_->check_layout(s.devices); !r.ok())
    return r.error().context("the snapshot's devices are not this VM's (is it built from the same configuration?)");
  return {};
}

Result<void> Vm::restore(const VmSnapshot& s) {
  VIREO_TRY(check_restorable(s));
  // Memory first (it replaces the boot image create() loaded), then KVM's state, then
  // the devices: a virtio device restored active starts serving its queues at once, and
  // the interrupts it raises go to the irqchip and LAPICs already restored. After an
  // error here the VM is part restored: do not start it.
  const auto& regions = mem_.regions();
  for (size_t i = 0; i < regions.size(); ++i)
    std::memcpy(regions[i].host, s.ram[i].bytes.data(), regions[i].size);
  auto in_restore = [](Result<void> r) -> Result<void> {
    if (!r.ok()) return r.error().context("restoring the snapshot");
    return {};
  };
  VIREO_TRY(in_restore(snapshot::restore_vm(vm_, s.kvm.vm)));
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    VIREO_TRY(in_restore(snapshot::restore_vcpu(vcpus_[i]->fd(), s.kvm.vcpus[i])));
    VIREO_TRY(in_restore(vcpus_[i]->restored()));
  }
  VIREO_TRY(in_restore(snapshot::restore_clock(vm_, s.kvm.vm)));
  VIREO_TRY(in_restore(devices_->restore_all(s.devices)));
  return {};
}

}  // namespace vireo::vmm
