#include "arch/x86/cpuid.h"

#include <algorithm>
#include <cstring>

namespace vireo::arch::x86 {

namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheParams = 0x4;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;
constexpr uint32_t kLeafKvmSignature = 0x40000000;
constexpr uint32_t kLeafKvmFeatures = 0x40000001;
constexpr uint32_t kLeafAmdSizes = 0x80000008;

constexpr uint32_t kEcxHypervisor = 1u << 31;
constexpr uint32_t kEcxOsxsave = 1u << 27;
constexpr uint32_t kEcxTscDeadline = 1u << 24;
constexpr uint32_t kEdxHtt = 1u << 28;

// Number of bits needed to hold IDs 0..n-1.
uint32_t id_bits(uint32_t n) {
  uint32_t bits = 0;
  while ((1u << bits) < n) ++bits;
  return bits;
}

kvm_cpuid_entry2* find_mut(std::vector<kvm_cpuid_entry2>& t, uint32_t f, uint32_t i) {
  for (auto& e : t)
    if (e.function == f && ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) == 0 || e.index == i))
      return &e;
  return nullptr;
}

void fill_topology_leaf(std::vector<kvm_cpuid_entry2>& t, uint32_t leaf,
                        const CpuTopology& topo) {
  // Drop what the host reported and describe our own topology: SMT level (1 thread per
  // core) then core level (num_cpus cores), then the terminating invalid level.
  bool present = std::any_of(t.begin(), t.end(), [&](const auto& e) { return e.function == leaf; });
  if (!present) return;
  t.erase(std::remove_if(t.begin(), t.end(), [&](const auto& e) { return e.function == leaf; }),
          t.end());
  for (uint32_t sub = 0; sub < 3; ++sub) {
    kvm_cpuid_entry2 e{};
    e.function = leaf;
    e.index = sub;
    e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    e.edx = topo.vcpu_id;
    if (sub == 0) {
      e.eax = 0;
      e.ebx = 1;
      e.ecx = sub | (1u << 8);  // SMT
    } else if (sub == 1) {
      e.eax = id_bits(topo.num_cpus);
      e.ebx = topo.num_cpus;
      e.ecx = sub | (2u << 8);  // core
    } else {
      e.ecx = sub;  // level type 0: invalid, ends the enumeration
    }
    t.push_back(e);
  }
}

}  // namespace

const kvm_cpuid_entry2* find_cpuid(const std::vector<kvm_cpuid_entry2>& t, uint32_t function,
                                   uint32_t index) {
  for (const auto& e : t)
    if (e.function == function &&
        ((e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) == 0 || e.index == index))
      return &e;
  return nullptr;
}

std::vector<kvm_cpuid_entry2> build_vcpu_cpuid(const std::vector<kvm_cpuid_entry2>& supported,
                                               const CpuTopology& topo) {
  std::vector<kvm_cpuid_entry2> t = supported;
  const uint32_t n = std::max<uint32_t>(topo.num_cpus, 1);

  if (auto* e = find_mut(t, kLeafFeatures, 0)) {
    e->ebx = (e->ebx & 0x0000ffffu) | (topo.vcpu_id << 24) |
             (std::min<uint32_t>(1u << id_bits(n), 255) << 16);
    e->ecx |= kEcxHypervisor;
    e->ecx &= ~kEcxOsxsave;
    if (n > 1)
      e->edx |= kEdxHtt;
    else
      e->edx &= ~kEdxHtt;
    (void)kEcxTscDeadline;  // kept as KVM reports it (emulated by the in-kernel LAPIC)
  }

  for (auto& e : t) {
    if (e.function != kLeafCacheParams) continue;
    // EAX[31:26]: cores per package - 1; EAX[25:14]: logical CPUs sharing the cache - 1.
    uint32_t cache_level = (e.eax >> 5) & 0x7;
    uint32_t sharing = cache_level >= 3 ? n - 1 : 0;
    e.eax = (e.eax & 0x3fffu) | ((sharing & 0xfff) << 14) | (((n - 1) & 0x3f) << 26);
  }

  fill_topology_leaf(t, kLeafTopology, topo);
  fill_topology_leaf(t, kLeafTopologyV2, topo);

  if (auto* e = find_mut(t, kLeafAmdSizes, 0)) {
    e->ecx = (e->ecx & ~0xf0ffu) | ((n - 1) & 0xff) | (id_bits(n) << 12);
  }

  // KVM paravirtual signature: "KVMKVMKVM\0\0\0".
  kvm_cpuid_entry2* sig = find_mut(t, kLeafKvmSignature, 0);
  if (!sig) {
    t.push_back(kvm_cpuid_entry2{});
    sig = &t.back();
    sig->function = kLeafKvmSignature;
  }
  sig->eax = std::max<uint32_t>(sig->eax, kLeafKvmFeatures);
  const char kSig[12] = {'K', 'V', 'M', 'K', 'V', 'M', 'K', 'V', 'M', 0, 0, 0};
  std::memcpy(&sig->ebx, kSig, 4);
  std::memcpy(&sig->ecx, kSig + 4, 4);
  std::memcpy(&sig->edx, kSig + 8, 4);
  return t;
}

}  // namespace vireo::arch::x86
