// Finishes SYSCALL on hosts whose KVM emulates guest kernel mode.
//
// On such hosts (nested KVM without VT-x/AMD-V, see shared/host-kvm.md) a `syscall`
// executed by guest user code writes RCX and R11, sets RIP to MSR_LSTAR and masks RFLAGS
// with MSR_SFMASK, but leaves CS and SS at the user selectors: the CPU then fetches the
// kernel's entry point at CPL 3 and takes a page fault on it, which the guest kernel sees
// as a user fault on its own entry code (Linux kills /init with SIGSEGV at
// entry_SYSCALL_64). No guest-visible switch avoids this: every 64-bit user program makes
// system calls this way.
//
// The repair:
// - Guest writes of MSR_LSTAR exit to the VMM (an MSR filter), which applies them and arms
//   an execute breakpoint (guest debug, DR0) on the guest's page-fault handler (IDT
//   vector 14). Breakpoints fire in emulated kernel mode; in natively run user mode
//   (where the fetch of LSTAR happens) they do not, so the handler is where to look.
// - When the breakpoint fires, the exception frame on the guest's stack tells whether
//   this fault is a half-done SYSCALL: a user-mode fetch of exactly LSTAR. If so, the
//   fault is undone and the SYSCALL finished: RSP and RFLAGS from the frame (RFLAGS masked
//   with SFMASK again), RIP = LSTAR, CS and SS from MSR_STAR as SYSCALL loads them (flat
//   64-bit kernel code, flat data, DPL 0). Any other page fault resumes untouched: the
//   breakpoint is swapped for one single step (this host does not honour RFLAGS.RF for
//   breakpoints), then re-armed.
//
// Cost: two exits per page fault taken by the guest (whose handler, in emulated kernel
// mode, costs far more) and per system call. Side effects: the guest's CR2 holds LSTAR
// after a system call, and the guest cannot use hardware breakpoints (the VMM owns DR7).
// Only enabled on emulated-kernel-mode hosts. The IDT must be loaded before LSTAR is
// written (Linux and our test guests do this); a later change of vector 14 is not seen.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "arch/x86/emulator/cpu_features.h"
#include "kvm/vcpu_fd.h"
#include "kvm/vm_fd.h"
#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::vmm {

inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrSfmask = 0xc0000084;

// The frame a 64-bit exception with an error code pushes, lowest address first.
struct ExceptionFrame {
  uint64_t error_code, rip, cs, rflags, rsp, ss;
};

// Whether a page fault with this frame is a SYSCALL the host left half done: a user-mode
// instruction fetch (or one made without NX, error code P/U) at exactly `lstar`.
bool is_half_done_syscall(const ExceptionFrame& frame, uint64_t lstar);

// Turns `regs`/`sregs`, stopped at the entry of the page-fault handler for `frame`, into
// the state right after the SYSCALL completed: RIP = lstar, RSP and RFLAGS (& ~sfmask)
// from the frame, CS/SS from star[47:32] (CS = selector & ~3, SS = selector + 8, DPL 0).
void finish_syscall(const ExceptionFrame& frame, uint64_t lstar, uint64_t star, uint64_t sfmask,
                    kvm_regs& regs, kvm_sregs& sregs);

class SyscallRepair {
 public:
  SyscallRepair(const memory::GuestMemory& mem, arch::x86::emu::CpuFeatures features)
      : mem_(mem), features_(features) {}

  // VM-wide, before vCPUs run: guest writes of MSR_LSTAR exit to the VMM.
  static Result<void> enable(const kvm::VmFd& vm);

  // Per-vCPU state; each vCPU thread owns one.
  class Vcpu {
   public:
    explicit Vcpu(SyscallRepair& vm) : vm_(vm) {}
    // KVM_EXIT_X86_WRMSR: applies the write and (re)arms the breakpoint.
    Result<void> on_wrmsr(const kvm::VcpuFd& vcpu);
    // KVM_EXIT_DEBUG: finishes a half-done SYSCALL or resumes the page fault. Error for
    // a debug exit it did not arm.
    Result<void> on_debug(const kvm::VcpuFd& vcpu);
    // A machine reset: no breakpoint armed (KVM's guest debugging off) and nothing
    // remembered of the last kernel.
    Result<void> reset(const kvm::VcpuFd& vcpu);
    // After a restore (Vm::restore) put a snapshot's state into this vCPU: the guest
    // wrote MSR_LSTAR in the VM the snapshot was taken of, so the breakpoint is armed
    // here for the LSTAR the vCPU has now, as that write did (nothing if it has none).
    Result<void> restored(const kvm::VcpuFd& vcpu);

   private:
    Result<void> arm(const kvm::VcpuFd& vcpu);
    Result<void> set_debug(const kvm::VcpuFd& vcpu, bool step);

    SyscallRepair& vm_;
    uint64_t lstar_ = 0;
    std::optional<uint64_t> armed_at_;  // the #PF handler's linear address
    bool stepping_ = false;             // single-stepping past the handler's entry
  };

  std::unique_ptr<Vcpu> make_vcpu() { return std::make_unique<Vcpu>(*this); }
  uint64_t repairs() const { return repairs_.load(std::memory_order_relaxed); }
  uint64_t page_faults_seen() const { return faults_.load(std::memory_order_relaxed); }

 private:
  const memory::GuestMemory& mem_;
  arch::x86::emu::CpuFeatures features_;
  std::atomic<uint64_t> repairs_{0};
  std::atomic<uint64_t> faults_{0};
};

}  // namespace vireo::vmm
