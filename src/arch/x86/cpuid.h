// Per-vCPU CPUID tables derived from what KVM supports on this host.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace vireo::arch::x86 {

struct CpuTopology {
  uint32_t vcpu_id;   // also the (x2)APIC ID
  uint32_t num_cpus;  // one socket, one thread per core, num_cpus cores
};

// Starts from KVM_GET_SUPPORTED_CPUID and sets what is specific to this vCPU and VM:
// APIC IDs (leaf 1, 0xB, 0x1F), core counts (leaf 4, 0x80000008), the hypervisor bit,
// the KVM signature leaves, and clears OSXSAVE (the guest sets it through CR4).
std::vector<kvm_cpuid_entry2> build_vcpu_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                               const CpuTopology& topo);

// Finds a leaf/subleaf in a CPUID table (nullptr if absent).
const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& t, uint32_t function,
                                   uint32_t index = 0);

}  // namespace vireo::arch::x86
