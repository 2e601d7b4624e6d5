#include "vmm/syscall_repair.h"

#include <fmt/format.h>

#include <cstring>

#include "arch/x86/emulator/guest_phys_memory.h"
#include "arch/x86/emulator/virtual_memory.h"
#include "vmm/kvm_emu_state.h"

namespace vireo::vmm {

namespace emu = arch::x86::emu;

namespace {
constexpr uint64_t kRflagsRf = 1ull << 16;
constexpr uint64_t kRflagsFixed = 1ull << 1;
constexpr uint64_t kPfPresent = 1, kPfWrite = 2, kPfUser = 4;
constexpr uint64_t kDr6B0 = 1;
constexpr uint64_t kDr6Bs = 1u << 14;  // single step
constexpr uint64_t kDr7L0 = 1;  // DR0 enabled; R/W0 = 00 (execute), LEN0 = 00
constexpr uint64_t kDr7Reserved = 1u << 10;
constexpr uint32_t kDebugVector = 1;
constexpr uint32_t kPageFaultVector = 14;

// Reads `out.size()` bytes at linear address `la` as the guest kernel would (CPL 0).
Result<void> read_linear(const memory::GuestMemory& mem, const emu::CpuFeatures& features,
                         const kvm_sregs& ksregs, uint64_t rflags, uint64_t la,
                         std::span<uint8_t> out) {
  emu::GuestMemoryPhys phys(mem);
  emu::SystemRegs sregs = to_emu(ksregs, 1);
  emu::VirtualMemory vm(phys, sregs, rflags, 0, features);
  auto r = vm.translate(la, static_cast<uint32_t>(out.size()), emu::AccessType::kRead);
  if (!r.ok())
    return Error(fmt::format("guest linear address {:#x} is not mapped for the kernel", la));
  size_t done = 0;
  for (unsigned i = 0; i < r.value().pieces; ++i) {
    VIREO_TRY(phys.read(r.value().gpa[i], out.subspan(done, r.value().len[i])));
    done += r.value().len[i];
  }
  return {};
}
}  // namespace

bool is_half_done_syscall(const ExceptionFrame& f, uint64_t lstar) {
  return f.rip == lstar && (f.cs & 3) == 3 && (f.error_code & kPfUser) &&
         !(f.error_code & kPfWrite);
}

void finish_syscall(const ExceptionFrame& f, uint64_t lstar, uint64_t star, uint64_t sfmask,
                    kvm_regs& regs, kvm_sregs& sregs) {
  regs.rip = lstar;
  regs.rsp = f.rsp;
  regs.rflags = (f.rflags & ~sfmask & ~kRflagsRf) | kRflagsFixed;
  const uint16_t sel = static_cast<uint16_t>((star >> 32) & 0xfffc);
  kvm_segment cs{};
  cs.limit = 0xffffffff;
  cs.selector = sel;
  cs.type = 11;  // execute/read, accessed
  cs.present = 1;
  cs.s = 1;
  cs.l = 1;
  cs.g = 1;
  kvm_segment ss{};
  ss.limit = 0xffffffff;
  ss.selector = static_cast<uint16_t>(((star >> 32) & 0xffff) + 8);  // RPL bits kept (SDM)
  ss.type = 3;  // read/write, accessed
  ss.present = 1;
  ss.db = 1;
  ss.s = 1;
  ss.g = 1;
  sregs.cs = cs;
  sregs.ss = ss;
}

Result<void> SyscallRepair::enable(const kvm::VmFd& vm) {
  VIREO_TRY(vm.enable_cap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER));
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  static uint8_t deny = 0;  // bit clear: the guest's write exits to the VMM
  filter.ranges[0].flags = KVM_MSR_FILTER_WRITE;
  filter.ranges[0].base = kMsrLstar;
  filter.ranges[0].nmsrs = 1;
  filter.ranges[0].bitmap = &deny;
  auto r = vm.set_msr_filter(filter);
  if (!r.ok()) return r.error().context("routing guest MSR_LSTAR writes to the VMM");
  return {};
}

Result<void> SyscallRepair::Vcpu::on_wrmsr(const kvm::VcpuFd& vcpu) {
  auto& msr = vcpu.run_struct()->msr;
  if (msr.index != kMsrLstar) {
    msr.error = 1;  // not filtered by us: #GP, as for an MSR the CPU lacks
    return {};
  }
  if (!vcpu.set_msrs({{kMsrLstar, msr.data}}).ok()) {
    msr.error = 1;  // e.g. a non-canonical address: #GP, as on hardware
    return {};
  }
  msr.error = 0;
  lstar_ = msr.data;
  return arm(vcpu);
}

Result<void> SyscallRepair::Vcpu::restored(const kvm::VcpuFd& vcpu) {
  VIREO_ASSIGN_OR_RETURN(auto lstar, vcpu.get_msrs({kMsrLstar}));
  lstar_ = lstar.at(0);
  armed_at_.reset();
  stepping_ = false;
  if (lstar_ == 0) return {};  // not written yet: the guest's write arms it
  auto r = arm(vcpu);
  if (!r.ok()) return r.error().context("re-arming the SYSCALL repair");
  return {};
}

Result<void> SyscallRepair::Vcpu::arm(const kvm::VcpuFd& vcpu) {
  VIREO_ASSIGN_OR_RETURN(auto sregs, vcpu.get_sregs());
  if (sregs.idt.limit < kPageFaultVector * 16 + 15)
    return Error("MSR_LSTAR written before the IDT has a page-fault entry");
  std::array<uint8_t, 16> gate{};
  auto r = read_linear(vm_.mem_, vm_.features_, sregs, 0, sregs.idt.base + kPageFaultVector * 16,
                       gate);
  if (!r.ok()) return r.error().context("reading the guest's IDT");
  uint16_t lo, mid;
  uint32_t hi;
  std::memcpy(&lo, &gate[0], 2);
  std::memcpy(&mid, &gate[6], 2);
  std::memcpy(&hi, &gate[8], 4);
  armed_at_ = lo | (uint64_t{mid} << 16) | (uint64_t{hi} << 32);
  return set_debug(vcpu, false);
}

// Either the breakpoint on the handler, or (to get past it: this host ignores RFLAGS.RF
// for breakpoints) one single step with the breakpoint off.
Result<void> SyscallRepair::Vcpu::set_debug(const kvm::VcpuFd& vcpu, bool step) {
  kvm_guest_debug dbg{};
  if (step) {
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
  } else {
    dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    dbg.arch.debugreg[0] = *armed_at_;
    dbg.arch.debugreg[7] = kDr7L0 | kDr7Reserved;
  }
  auto d = vcpu.set_guest_debug(dbg);
  if (!d.ok()) return d.error().context("breakpoint on the guest's page-fault handler");
  stepping_ = step;
  return {};
}

Result<void> SyscallRepair::Vcpu::reset(const kvm::VcpuFd& vcpu) {
  lstar_ = 0;
  armed_at_.reset();
  stepping_ = false;
  return vcpu.set_guest_debug(kvm_guest_debug{});
}

Result<void> SyscallRepair::Vcpu::on_debug(const kvm::VcpuFd& vcpu) {
  const auto& d = vcpu.run_struct()->debug.arch;
  if (stepping_ && d.exception == kDebugVector && (d.dr6 & kDr6Bs)) return set_debug(vcpu, false);
  if (d.exception != kDebugVector || !(d.dr6 & kDr6B0) || !armed_at_ || d.pc != *armed_at_)
    return Error(fmt::format("unexpected debug exit (vector {}, DR6 {:#x}, PC {:#x})",
                             d.exception, d.dr6, d.pc));
  vm_.faults_.fetch_add(1, std::memory_order_relaxed);
  VIREO_ASSIGN_OR_RETURN(auto regs, vcpu.get_regs());
  VIREO_ASSIGN_OR_RETURN(auto sregs, vcpu.get_sregs());
  std::array<uint64_t, 6> raw{};
  auto r = read_linear(vm_.mem_, vm_.features_, sregs, regs.rflags, regs.rsp,
                       std::span<uint8_t>(reinterpret_cast<uint8_t*>(raw.data()), sizeof(raw)));
  if (!r.ok()) return r.error().context("reading the page-fault frame");
  const ExceptionFrame frame{raw[0], raw[1], raw[2], raw[3], raw[4], raw[5]};
  if (!is_half_done_syscall(frame, lstar_)) return set_debug(vcpu, true);
  VIREO_ASSIGN_OR_RETURN(auto msrs, vcpu.get_msrs({kMsrStar, kMsrSfmask}));
  finish_syscall(frame, lstar_, msrs[0], msrs[1], regs, sregs);
  VIREO_TRY(vcpu.set_sregs(sregs));
  VIREO_TRY(vcpu.set_regs(regs));
  vm_.repairs_.fetch_add(1, std::memory_order_relaxed);
  return {};
}

}  // namespace vireo::vmm
