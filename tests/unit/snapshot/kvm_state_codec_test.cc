// The encodings of KVM's VM and vCPU state: round trips, and hostile bytes refused.
#include "snapshot/kvm_state_codec.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vireo::snapshot {
namespace {

VcpuKvmState sample_vcpu() {
  VcpuKvmState s;
  s.regs.rip = 0x1234;
  s.regs.rax = 42;
  s.sregs.cr0 = 0x80000011;
  s.sregs.efer = 0x500;
  s.xsave.assign(4096 + 64, 0x5a);
  s.xcrs.nr_xcrs = 1;
  s.xcrs.xcrs[0].value = 7;
  s.lapic.regs[0x20] = 1;
  s.msrs = {{0x10, 123456789}, {0x6e0, 99}, {0xc0000080, 0x500}};
  s.mp_state.mp_state = KVM_MP_STATE_HALTED;
  s.events.nmi.pending = 1;
  s.debugregs.dr7 = 0x400;
  kvm_cpuid_entry2 e{};
  e.function = 1;
  e.eax = 0x806f8;
  s.cpuid = {e, e};
  s.tsc_khz = 2'400'000;
  return s;
}

bool same(const VcpuKvmState& a, const VcpuKvmState& b) {
  auto eq = [](const auto& x, const auto& y) { return std::memcmp(&x, &y, sizeof x) == 0; };
  return eq(a.regs, b.regs) && eq(a.sregs, b.sregs) && a.xsave == b.xsave && eq(a.xcrs, b.xcrs) &&
         eq(a.lapic, b.lapic) && a.msrs == b.msrs && eq(a.mp_state, b.mp_state) &&
         eq(a.events, b.events) && eq(a.debugregs, b.debugregs) &&
         a.cpuid.size() == b.cpuid.size() &&
         std::memcmp(a.cpuid.data(), b.cpuid.data(), a.cpuid.size() * sizeof(kvm_cpuid_entry2)) == 0 &&
         a.tsc_khz == b.tsc_khz;
}

TEST(KvmStateCodec, VcpuRoundTrip) {
  const VcpuKvmState s = sample_vcpu();
  auto back = decode_vcpu_kvm_state(encode_vcpu_kvm_state(s), kVcpuKvmStateVersion);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_TRUE(same(*back, s));
}

TEST(KvmStateCodec, VmRoundTrip) {
  VmKvmState s;
  s.irqchips[0].chip_id = KVM_IRQCHIP_PIC_MASTER;
  s.irqchips[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
  s.irqchips[2].chip_id = KVM_IRQCHIP_IOAPIC;
  s.irqchips[2].chip.ioapic.base_address = 0xfec00000;
  s.pit.channels[0].count = 0x1234;
  s.clock_ns = 987654321;
  auto back = decode_vm_kvm_state(encode_vm_kvm_state(s), kVmKvmStateVersion);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(std::memcmp(&back->irqchips, &s.irqchips, sizeof s.irqchips), 0);
  EXPECT_EQ(std::memcmp(&back->pit, &s.pit, sizeof s.pit), 0);
  EXPECT_EQ(back->clock_ns, s.clock_ns);
  // The chips in the wrong order are refused.
  std::swap(s.irqchips[0], s.irqchips[2]);
  EXPECT_FALSE(decode_vm_kvm_state(encode_vm_kvm_state(s), kVmKvmStateVersion).ok());
}

TEST(KvmStateCodec, RefusesEveryTruncationAndTrailingBytes) {
  const auto bytes = encode_vcpu_kvm_state(sample_vcpu());
  for (size_t n = 0; n < bytes.size(); n += 97)
    EXPECT_FALSE(decode_vcpu_kvm_state(std::span(bytes).first(n), kVcpuKvmStateVersion).ok()) << n;
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decode_vcpu_kvm_state(longer, kVcpuKvmStateVersion).ok());
}

TEST(KvmStateCodec, RefusesUnknownVersionsAndHostileCounts) {
  const auto bytes = encode_vcpu_kvm_state(sample_vcpu());
  auto r = decode_vcpu_kvm_state(bytes, kVcpuKvmStateVersion + 1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("not one this vireo reads"), std::string::npos);
  EXPECT_FALSE(decode_vcpu_kvm_state(bytes, 0).ok());
  // A short XSAVE area.
  VcpuKvmState s = sample_vcpu();
  s.xsave.resize(100);
  EXPECT_FALSE(decode_vcpu_kvm_state(encode_vcpu_kvm_state(s), kVcpuKvmStateVersion).ok());
  // An MSR count far beyond the data.
  auto hostile = bytes;
  const size_t msr_count_at = 4 + sizeof(kvm_regs) + 4 + sizeof(kvm_sregs) + 4 + (4096 + 64) + 4 +
                              sizeof(kvm_xcrs) + 4 + sizeof(kvm_lapic_state);
  ASSERT_EQ(hostile[msr_count_at], 3);
  hostile[msr_count_at + 3] = 0x7f;
  EXPECT_FALSE(decode_vcpu_kvm_state(hostile, kVcpuKvmStateVersion).ok());
}

}  // namespace
}  // namespace vireo::snapshot
