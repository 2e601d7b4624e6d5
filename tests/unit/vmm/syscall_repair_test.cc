#include "vmm/syscall_repair.h"

#include <gtest/gtest.h>

namespace vireo::vmm {
namespace {

constexpr uint64_t kLstar = 0xffffffff81400040;
// Linux: SYSCALL CS = 0x10 (SS 0x18); SYSRET base 0x23.
constexpr uint64_t kStar = (0x23ull << 48) | (0x10ull << 32);
constexpr uint64_t kSfmask = 0x47700;  // TF IF DF IOPL NT AC

ExceptionFrame user_fetch_fault(uint64_t rip, uint64_t error) {
  return ExceptionFrame{error, rip, 0x33, 0x246 & ~0x200ull, 0x7ffc0000f000, 0x2b};
}

TEST(SyscallRepair, RecognisesHalfDoneSyscall) {
  EXPECT_TRUE(is_half_done_syscall(user_fetch_fault(kLstar, 0x15), kLstar));  // NX: I/D set
  EXPECT_TRUE(is_half_done_syscall(user_fetch_fault(kLstar, 0x05), kLstar));  // no NX
  EXPECT_TRUE(is_half_done_syscall(user_fetch_fault(kLstar, 0x14), kLstar));  // not present
}

TEST(SyscallRepair, LeavesOtherPageFaultsAlone) {
  // Another address, a write, a kernel-mode fault, a supervisor error code.
  EXPECT_FALSE(is_half_done_syscall(user_fetch_fault(kLstar + 1, 0x15), kLstar));
  EXPECT_FALSE(is_half_done_syscall(user_fetch_fault(kLstar, 0x07), kLstar));
  auto kernel = user_fetch_fault(kLstar, 0x15);
  kernel.cs = 0x10;
  EXPECT_FALSE(is_half_done_syscall(kernel, kLstar));
  EXPECT_FALSE(is_half_done_syscall(user_fetch_fault(kLstar, 0x11), kLstar));
  // Nothing armed yet.
  EXPECT_FALSE(is_half_done_syscall(user_fetch_fault(kLstar, 0x15), 0));
}

TEST(SyscallRepair, FinishesSyscallArchitecturally) {
  auto f = user_fetch_fault(kLstar, 0x15);
  f.rflags = 0x10246 | 0x100 | 0x400 | 0x40000;  // RF, TF, DF, AC as the user left them
  kvm_regs regs{};
  regs.rip = 0xffffffff81600000;  // the page-fault handler
  regs.rsp = 0xffffc90000003f58;  // the frame
  regs.rcx = 0x401234;            // written by the host's half of SYSCALL: kept
  regs.r11 = 0x246;
  kvm_sregs sregs{};
  sregs.cs.selector = 0x10;
  sregs.ss.selector = 0;  // NULL SS after a CPL change in 64-bit mode
  finish_syscall(f, kLstar, kStar, kSfmask, regs, sregs);
  EXPECT_EQ(regs.rip, kLstar);
  EXPECT_EQ(regs.rsp, f.rsp);      // SYSCALL does not switch stacks
  EXPECT_EQ(regs.rflags, 0x0046u);  // masked by SFMASK, RF cleared, bit 1 set
  EXPECT_EQ(regs.rcx, 0x401234u);
  EXPECT_EQ(regs.r11, 0x246u);
  EXPECT_EQ(sregs.cs.selector, 0x10);
  EXPECT_EQ(sregs.cs.dpl, 0);
  EXPECT_EQ(sregs.cs.l, 1);
  EXPECT_EQ(sregs.cs.db, 0);
  EXPECT_EQ(sregs.cs.type, 11);
  EXPECT_EQ(sregs.cs.present, 1);
  EXPECT_EQ(sregs.cs.base, 0u);
  EXPECT_EQ(sregs.cs.limit, 0xffffffffu);
  EXPECT_EQ(sregs.ss.selector, 0x18);
  EXPECT_EQ(sregs.ss.dpl, 0);
  EXPECT_EQ(sregs.ss.type, 3);
  EXPECT_EQ(sregs.ss.db, 1);
  EXPECT_EQ(sregs.ss.present, 1);
}

// As the SDM writes it: CS = STAR[47:32] & ~3, SS = STAR[47:32] + 8.
TEST(SyscallRepair, SelectorsFollowTheSdm) {
  kvm_regs regs{};
  kvm_sregs sregs{};
  finish_syscall(user_fetch_fault(kLstar, 0x15), kLstar, 0x13ull << 32, 0, regs, sregs);
  EXPECT_EQ(sregs.cs.selector, 0x10);
  EXPECT_EQ(sregs.ss.selector, 0x1b);
}

}  // namespace
}  // namespace vireo::vmm
