#include "arch/x86/cpuid.h"

#include <gtest/gtest.h>

#include <cstring>

namespace vireo::arch::x86 {
namespace {

kvm_cpuid_entry2 leaf(uint32_t f, uint32_t i, uint32_t a, uint32_t b, uint32_t c, uint32_t d,
                      bool indexed = false) {
  kvm_cpuid_entry2 e{};
  e.function = f;
  e.index = i;
  e.flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
  e.eax = a;
  e.ebx = b;
  e.ecx = c;
  e.edx = d;
  return e;
}

// A plausible KVM_GET_SUPPORTED_CPUID answer.
std::vector<kvm_cpuid_entry2> supported() {
  return {
      leaf(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
      leaf(1, 0, 0x000906ea, 0xff000800, 0xfffa3203 | (1u << 27), 0x178bfbff),
      leaf(4, 0, 0x1c004121, 0x01c0003f, 0x3f, 0, true),   // L1d
      leaf(4, 3, 0x1c03c163, 0x02c0003f, 0x3fff, 6, true), // L3
      leaf(0xb, 0, 1, 2, 0x100, 7, true),
      leaf(0xb, 1, 4, 16, 0x201, 7, true),
      leaf(0x1f, 0, 1, 2, 0x100, 7, true),
      leaf(0x80000008, 0, 0x3027, 0, 0x7, 0),
  };
}

TEST(Cpuid, ApicIdAndLogicalCountInLeaf1) {
  auto t = build_vcpu_cpuid(supported(), {3, 4});
  const auto* l1 = find_cpuid(t, 1);
  ASSERT_NE(l1, nullptr);
  EXPECT_EQ(l1->ebx >> 24, 3u);
  EXPECT_EQ((l1->ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1->ebx & 0xffff, 0x0800u);       // CLFLUSH size kept
  EXPECT_TRUE(l1->ecx & (1u << 31));          // hypervisor present
  EXPECT_FALSE(l1->ecx & (1u << 27));         // OSXSAVE is the guest's to set
  EXPECT_TRUE(l1->edx & (1u << 28));          // HTT: more than one logical CPU
}

TEST(Cpuid, SingleCpuHasNoHtt) {
  auto t = build_vcpu_cpuid(supported(), {0, 1});
  EXPECT_FALSE(find_cpuid(t, 1)->edx & (1u << 28));
  EXPECT_EQ((find_cpuid(t, 1)->ebx >> 16) & 0xff, 1u);
}

TEST(Cpuid, TopologyLeavesDescribeOurCores) {
  auto t = build_vcpu_cpuid(supported(), {5, 6});
  for (uint32_t leaf_no : {0xbu, 0x1fu}) {
    const auto* smt = find_cpuid(t, leaf_no, 0);
    const auto* core = find_cpuid(t, leaf_no, 1);
    const auto* end = find_cpuid(t, leaf_no, 2);
    ASSERT_TRUE(smt && core && end);
    EXPECT_EQ(smt->ebx, 1u);
    EXPECT_EQ((smt->ecx >> 8) & 0xff, 1u);
    EXPECT_EQ(core->eax, 3u);  // 6 CPUs need 3 bits
    EXPECT_EQ(core->ebx, 6u);
    EXPECT_EQ((core->ecx >> 8) & 0xff, 2u);
    EXPECT_EQ((end->ecx >> 8) & 0xff, 0u);
    EXPECT_EQ(smt->edx, 5u);
    EXPECT_EQ(core->edx, 5u);
  }
}

TEST(Cpuid, CacheLeafCoreCounts) {
  auto t = build_vcpu_cpuid(supported(), {0, 4});
  const auto* l1d = find_cpuid(t, 4, 0);
  const auto* l3 = find_cpuid(t, 4, 3);
  EXPECT_EQ(l1d->eax >> 26, 3u);
  EXPECT_EQ((l1d->eax >> 14) & 0xfff, 0u);
  EXPECT_EQ((l3->eax >> 14) & 0xfff, 3u);
  EXPECT_EQ(l1d->eax & 0x3fff, 0x0121u);  // cache type/level bits kept
}

TEST(Cpuid, KvmSignature) {
  auto t = build_vcpu_cpuid(supported(), {0, 1});
  const auto* sig = find_cpuid(t, 0x40000000);
  ASSERT_NE(sig, nullptr);
  char s[13] = {};
  std::memcpy(s, &sig->ebx, 4);
  std::memcpy(s + 4, &sig->ecx, 4);
  std::memcpy(s + 8, &sig->edx, 4);
  EXPECT_STREQ(s, "KVMKVMKVM");
  EXPECT_GE(sig->eax, 0x40000001u);
}

TEST(Cpuid, AmdCoreCount) {
  auto t = build_vcpu_cpuid(supported(), {0, 8});
  EXPECT_EQ(find_cpuid(t, 0x80000008)->ecx & 0xff, 7u);
}

}  // namespace
}  // namespace vireo::arch::x86
