#include "snapshot/kvm_state_codec.h"

#include <fmt/format.h>

#include <cstring>
#include <type_traits>

#include "util/state_codec.h"

namespace vireo::snapshot {

namespace {

// Bounds for hostile input: KVM's limits, with room.
constexpr size_t kMaxXsave = 1 << 20;
constexpr uint32_t kMaxMsrs = 4096;
constexpr uint32_t kMaxCpuid = 4096;

template <class T>
void put_abi(StateWriter& w, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  w.bytes({reinterpret_cast<const uint8_t*>(&v), sizeof v});
}

template <class T>
Result<void> get_abi(StateReader& r, T& out, const char* name) {
  VIREO_ASSIGN_OR_RETURN(auto b, r.bytes(sizeof(T)));
  if (b.size() != sizeof(T))
    return Error(fmt::format("{} is {} bytes, not {}", name, b.size(), sizeof(T)));
  std::memcpy(&out, b.data(), sizeof(T));
  return {};
}

Result<void> check_version(uint32_t version, uint32_t newest, const char* what) {
  if (version == 0 || version > newest)
    return Error(fmt::format("{} version {} is not one this vireo reads (1 to {})", what, version,
                             newest));
  return {};
}

}  // namespace

std::vector<uint8_t> encode_vm_kvm_state(const VmKvmState& s) {
  StateWriter w;
  for (const auto& c : s.irqchips) put_abi(w, c);
  put_abi(w, s.pit);
  w.u64(s.clock_ns);
  return w.take();
}

Result<VmKvmState> decode_vm_kvm_state(std::span<const uint8_t> bytes, uint32_t version) {
  VIREO_TRY(check_version(version, kVmKvmStateVersion, "KVM VM state"));
  StateReader r(bytes, "KVM VM state");
  VmKvmState s;
  for (auto& c : s.irqchips) VIREO_TRY(get_abi(r, c, "an irqchip"));
  const uint32_t want[] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC};
  for (size_t i = 0; i < s.irqchips.size(); ++i)
    if (s.irqchips[i].chip_id != want[i])
      return Error(fmt::format("KVM VM state: irqchip {} has id {}, not {}", i,
                               s.irqchips[i].chip_id, want[i]));
  VIREO_TRY(get_abi(r, s.pit, "the PIT state"));
  VIREO_ASSIGN_OR_RETURN(s.clock_ns, r.u64());
  VIREO_TRY(r.finish());
  return s;
}

std::vector<uint8_t> encode_vcpu_kvm_state(const VcpuKvmState& s) {
  StateWriter w;
  put_abi(w, s.regs);
  put_abi(w, s.sregs);
  w.bytes(s.xsave);
  put_abi(w, s.xcrs);
  put_abi(w, s.lapic);
  w.u32(static_cast<uint32_t>(s.msrs.size()));
  for (const auto& [index, value] : s.msrs) {
    w.u32(index);
    w.u64(value);
  }
  put_abi(w, s.mp_state);
  put_abi(w, s.events);
  put_abi(w, s.debugregs);
  w.u32(static_cast<uint32_t>(s.cpuid.size()));
  for (const auto& e : s.cpuid) put_abi(w, e);
  w.u32(s.tsc_khz);
  return w.take();
}

Result<VcpuKvmState> decode_vcpu_kvm_state(std::span<const uint8_t> bytes, uint32_t version) {
  VIREO_TRY(check_version(version, kVcpuKvmStateVersion, "KVM vCPU state"));
  StateReader r(bytes, "KVM vCPU state");
  VcpuKvmState s;
  VIREO_TRY(get_abi(r, s.regs, "the registers"));
  VIREO_TRY(get_abi(r, s.sregs, "the system registers"));
  VIREO_ASSIGN_OR_RETURN(s.xsave, r.bytes(kMaxXsave));
  if (s.xsave.size() < 4096)
    return Error(fmt::format("KVM vCPU state: an XSAVE area of {} bytes (at least 4096)",
                             s.xsave.size()));
  VIREO_TRY(get_abi(r, s.xcrs, "the XCRs"));
  VIREO_TRY(get_abi(r, s.lapic, "the LAPIC"));
  VIREO_ASSIGN_OR_RETURN(uint32_t nmsrs, r.u32());
  if (nmsrs > kMaxMsrs) return Error(fmt::format("KVM vCPU state: {} MSRs (at most {})", nmsrs, kMaxMsrs));
  for (uint32_t i = 0; i < nmsrs; ++i) {
    VIREO_ASSIGN_OR_RETURN(uint32_t index, r.u32());
    VIREO_ASSIGN_OR_RETURN(uint64_t value, r.u64());
    s.msrs.emplace_back(index, value);
  }
  VIREO_TRY(get_abi(r, s.mp_state, "the MP state"));
  VIREO_TRY(get_abi(r, s.events, "the vCPU events"));
  VIREO_TRY(get_abi(r, s.debugregs, "the debug registers"));
  VIREO_ASSIGN_OR_RETURN(uint32_t ncpuid, r.u32());
  if (ncpuid > kMaxCpuid)
    return Error(fmt::format("KVM vCPU state: {} CPUID entries (at most {})", ncpuid, kMaxCpuid));
  s.cpuid.resize(ncpuid);
  for (auto& e : s.cpuid) VIREO_TRY(get_abi(r, e, "a CPUID entry"));
  VIREO_ASSIGN_OR_RETURN(s.tsc_khz, r.u32());
  VIREO_TRY(r.finish());
  return s;
}

}  // namespace vireo::snapshot
