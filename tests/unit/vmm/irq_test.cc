// The vmm Irq implementations without KVM: a VmFd without a VM makes every ioctl fail,
// which is what the failure counters are for. (Delivery is tested against real KVM in
// tests/unit/kvm/kvm_test.cc.)
#include <gtest/gtest.h>

#include "kvm/vm_fd.h"
#include "vmm/irq_line.h"
#include "vmm/irqfd_irq.h"
#include "vmm/msi_irq.h"

namespace vireo::vmm {
namespace {

TEST(IrqLine, CountsFailedIoctlsAndKeepsGoing) {
  kvm::VmFd no_vm;
  IrqLine line(no_vm, 4);
  EXPECT_EQ(line.failures(), 0u);
  line.set_level(true);
  line.set_level(false);
  EXPECT_EQ(line.failures(), 2u);
  line.trigger();  // a pulse: two KVM_IRQ_LINE calls
  EXPECT_EQ(line.failures(), 4u);
}

TEST(MsiIrq, CountsFailuresAndSendsOnRisingEdgesOnly) {
  kvm::VmFd no_vm;
  MsiIrq msi(no_vm, 0xfee00000, 0x41);
  msi.trigger();
  EXPECT_EQ(msi.failures(), 1u);
  msi.set_message(0xfee01000, 0x42);
  msi.trigger();
  EXPECT_EQ(msi.failures(), 2u);
  // Each attempt to send shows up as a failure here: count the sends.
  msi.set_level(true);   // rising edge: sent
  msi.set_level(true);   // still high: nothing
  msi.set_level(false);  // nothing
  msi.set_level(true);   // sent
  EXPECT_EQ(msi.failures(), 4u);
  EXPECT_EQ(msi.undelivered(), 0u);
}

TEST(IrqfdIrq, CreateNamesTheFailedIoctl) {
  kvm::VmFd no_vm;
  auto irq = IrqfdIrq::create(no_vm, 24);
  ASSERT_FALSE(irq.ok());
  EXPECT_NE(irq.error().message().find("KVM_IRQFD"), std::string::npos) << irq.error().message();
  EXPECT_NE(irq.error().message().find("GSI 24"), std::string::npos) << irq.error().message();
}

}  // namespace
}  // namespace vireo::vmm
