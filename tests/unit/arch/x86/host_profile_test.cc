#include "arch/x86/host_profile.h"

#include <gtest/gtest.h>

namespace vireo::arch::x86 {
namespace {

TEST(HostProfile, DetectsVirtualizationFlags) {
  EXPECT_TRUE(detect_host_profile("processor : 0\nflags : fpu vme vmx sse\n").hardware_virtualization);
  EXPECT_TRUE(detect_host_profile("flags\t\t: fpu svm lm\n").hardware_virtualization);
  auto p = detect_host_profile("processor : 0\nflags : fpu vme sse hypervisor\n");
  EXPECT_FALSE(p.hardware_virtualization);
  EXPECT_TRUE(p.emulated_kernel_mode());
  // "vmxnet" or similar words must not count.
  EXPECT_FALSE(detect_host_profile("flags : vmxx svmx\n").hardware_virtualization);
}

TEST(HostProfile, AddsRequiredSwitchesOnce) {
  const std::string simd = "clearcpuid=ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni,gfni";
  const bool kNoTuning = false;
  EXPECT_EQ(add_emulated_host_switches("console=ttyS0", kNoTuning), "console=ttyS0 noxsave " + simd);
  EXPECT_EQ(add_emulated_host_switches("noxsave console=ttyS0", kNoTuning),
            "noxsave console=ttyS0 " + simd);
  // A clearcpuid= of the user's own wins (the kernel reads only one).
  EXPECT_EQ(add_emulated_host_switches("clearcpuid=pku noxsave", kNoTuning), "clearcpuid=pku noxsave");
  EXPECT_EQ(add_emulated_host_switches("", kNoTuning), "noxsave " + simd);
  // Words are separated by any blanks; a longer word that starts with a switch's name is
  // another option.
  EXPECT_EQ(add_emulated_host_switches("a\tnoxsave\nb", kNoTuning), "a\tnoxsave\nb " + simd);
  EXPECT_EQ(add_emulated_host_switches("noxsaves clearcpuidx=1", kNoTuning),
            "noxsaves clearcpuidx=1 noxsave " + simd);
  for (const auto& s : emulated_host_switches()) EXPECT_GT(std::string(s.reason).size(), 10u);
}

TEST(HostProfile, AddsTuningSwitchesUnlessTheUserChoseOtherwise) {
  const std::string required = "noxsave clearcpuid=ssse3,sse4_1,sse4_2,aes,pclmulqdq,sha_ni,gfni";
  const std::string blacklist = "initcall_blacklist=ftrace_check_for_weak_functions,trace_eval_init";
  EXPECT_EQ(add_emulated_host_switches("console=ttyS0"),
            "console=ttyS0 " + required + " mitigations=off cryptomgr.notests " + blacklist);
  // The user's own mitigations= and initcall_blacklist= are kept as given.
  EXPECT_EQ(add_emulated_host_switches("mitigations=auto initcall_blacklist=foo"),
            "mitigations=auto initcall_blacklist=foo " + required + " cryptomgr.notests");
  EXPECT_EQ(add_emulated_host_switches("cryptomgr.notests"),
            "cryptomgr.notests " + required + " mitigations=off " + blacklist);
}

}  // namespace
}  // namespace vireo::arch::x86
