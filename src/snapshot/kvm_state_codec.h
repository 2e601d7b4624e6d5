// The encodings of KvmState's parts (sections "kvm-vm" and "kvm-vcpu" of a state file).
// KVM's own structures are written as the kernel's ABI lays them out (fixed sizes, which
// decoding checks); the rest field by field.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "snapshot/kvm_state.h"
#include "util/result.h"

namespace vireo::snapshot {

inline constexpr uint32_t kVmKvmStateVersion = 1;
inline constexpr uint32_t kVcpuKvmStateVersion = 1;

std::vector<uint8_t> encode_vm_kvm_state(const VmKvmState& s);
Result<VmKvmState> decode_vm_kvm_state(std::span<const uint8_t> bytes, uint32_t version);
std::vector<uint8_t> encode_vcpu_kvm_state(const VcpuKvmState& s);
Result<VcpuKvmState> decode_vcpu_kvm_state(std::span<const uint8_t> bytes, uint32_t version);

}  // namespace vireo::snapshot
