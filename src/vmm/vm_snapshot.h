// VmSnapshot: a paused VM as values (Vm::snapshot, Vm::restore): what the VM was built
// with (to check that the VM restored into is the same machine), KVM's state, every
// device's state with where it was placed, and guest memory.
//
// encode_vm_state() writes everything but memory as a state file (snapshot/state_file.h):
//   "vm"            vm-config     vCPU count, memory size, the RAM regions
//   "kvm/vm"        kvm-vm        irqchips, PIT, kvmclock
//   "kvm/vcpuN"     kvm-vcpu      one per vCPU
//   "devices"       device-layout each device's id, kind and placement, in order
//   "device/<id>"   device-state  its state; section version = the device's state version
// Memory stays apart (a RAM image file, mapped on restore, is the next step).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "snapshot/kvm_state.h"
#include "vmm/device_manager.h"

namespace vireo::vmm {

struct VmSnapshot {
  uint32_t cpus = 0;
  uint64_t memory_size = 0;
  struct RamRegion {
    uint64_t gpa = 0;
    std::vector<uint8_t> bytes;  // empty in a decoded state file: memory travels apart
    uint64_t size = 0;
  };
  std::vector<RamRegion> ram;
  snapshot::KvmState kvm;
  std::vector<DeviceManager::SavedDevice> devices;
};

std::vector<uint8_t> encode_vm_state(const VmSnapshot& s);
// The snapshot without memory (each RamRegion's bytes empty).
Result<VmSnapshot> decode_vm_state(std::span<const uint8_t> file);

}  // namespace vireo::vmm
