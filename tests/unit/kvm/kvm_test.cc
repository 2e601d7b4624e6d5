// The KVM wrappers against the real /dev/kvm.
#include "kvm/kvm.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "arch/x86/cpuid.h"
#include "support/kvm_required.h"

namespace vireo::kvm {
namespace {

TEST(Kvm, OpenReportsMissingDevice) {
  auto r = Kvm::open("/nonexistent/kvm");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not exist"), std::string::npos);
  auto n = Kvm::open("/dev/null");
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message().find("not a KVM device"), std::string::npos);
}

TEST(Kvm, SupportedCpuidAndMsrs) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm.ok()) << kvm.error().message();
  auto cpuid = kvm->supported_cpuid();
  ASSERT_TRUE(cpuid.ok()) << cpuid.error().message();
  EXPECT_NE(arch::x86::find_cpuid(*cpuid, 0), nullptr);
  EXPECT_NE(arch::x86::find_cpuid(*cpuid, 1), nullptr);
  auto msrs = kvm->msr_index_list();
  ASSERT_TRUE(msrs.ok()) << msrs.error().message();
  EXPECT_NE(std::find(msrs->begin(), msrs->end(), 0x10u), msrs->end());  // TSC
  EXPECT_GT(kvm->vcpu_mmap_size(), 0);
}

TEST(Kvm, VcpuStateRoundTrips) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  ASSERT_TRUE(kvm.ok());
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm.ok()) << vm.error().message();
  ASSERT_TRUE(vm->create_irqchip().ok());
  auto vcpu = vm->create_vcpu(0);
  ASSERT_TRUE(vcpu.ok()) << vcpu.error().message();
  auto cpuid = kvm->supported_cpuid();
  ASSERT_TRUE(vcpu->set_cpuid2(arch::x86::build_vcpu_cpuid(*cpuid, {0, 1})).ok());
  ASSERT_TRUE(vcpu->set_msrs({{0xc0000102, 0x1234000}}).ok());  // KERNEL_GS_BASE
  auto back = vcpu->get_msrs({0xc0000102});
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ((*back)[0], 0x1234000u);
  // An MSR KVM does not know is reported by index.
  auto bad = vcpu->set_msrs({{0xdeadbeef, 1}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("0xdeadbeef"), std::string::npos);
  auto regs = vcpu->get_regs();
  ASSERT_TRUE(regs.ok());
  regs->rax = 42;
  ASSERT_TRUE(vcpu->set_regs(*regs).ok());
  EXPECT_EQ(vcpu->get_regs()->rax, 42u);
}

TEST(Kvm, FailedIoctlNamesItself) {
  VIREO_REQUIRE_KVM();
  auto kvm = Kvm::open();
  auto vm = kvm->create_vm();
  ASSERT_TRUE(vm.ok());
  // Unaligned guest address: KVM_SET_USER_MEMORY_REGION fails with EINVAL.
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  auto r = vm->set_user_memory_region(0, 0x123, 4096, p);
  ::munmap(p, 4096);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("KVM_SET_USER_MEMORY_REGION"), std::string::npos);
  EXPECT_EQ(r.error().os_errno(), EINVAL);
}

}  // namespace
}  // namespace vireo::kvm
