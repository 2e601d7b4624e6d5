#include "vmm/kvm_emu_state.h"

namespace vireo::vmm {

namespace emu = arch::x86::emu;

emu::Regs to_emu(const kvm_regs& r) {
  emu::Regs e;
  e.gpr[emu::kRax] = r.rax; e.gpr[emu::kRcx] = r.rcx; e.gpr[emu::kRdx] = r.rdx;
  e.gpr[emu::kRbx] = r.rbx; e.gpr[emu::kRsp] = r.rsp; e.gpr[emu::kRbp] = r.rbp;
  e.gpr[emu::kRsi] = r.rsi; e.gpr[emu::kRdi] = r.rdi; e.gpr[emu::kR8] = r.r8;
  e.gpr[emu::kR9] = r.r9; e.gpr[emu::kR10] = r.r10; e.gpr[emu::kR11] = r.r11;
  e.gpr[emu::kR12] = r.r12; e.gpr[emu::kR13] = r.r13; e.gpr[emu::kR14] = r.r14;
  e.gpr[emu::kR15] = r.r15;
  e.rip = r.rip;
  e.rflags = r.rflags;
  return e;
}

kvm_regs from_emu(const emu::Regs& e) {
  kvm_regs r{};
  r.rax = e.gpr[emu::kRax]; r.rcx = e.gpr[emu::kRcx]; r.rdx = e.gpr[emu::kRdx];
  r.rbx = e.gpr[emu::kRbx]; r.rsp = e.gpr[emu::kRsp]; r.rbp = e.gpr[emu::kRbp];
  r.rsi = e.gpr[emu::kRsi]; r.rdi = e.gpr[emu::kRdi]; r.r8 = e.gpr[emu::kR8];
  r.r9 = e.gpr[emu::kR9]; r.r10 = e.gpr[emu::kR10]; r.r11 = e.gpr[emu::kR11];
  r.r12 = e.gpr[emu::kR12]; r.r13 = e.gpr[emu::kR13]; r.r14 = e.gpr[emu::kR14];
  r.r15 = e.gpr[emu::kR15];
  r.rip = e.rip;
  r.rflags = e.rflags;
  return r;
}

emu::Segment to_emu(const kvm_segment& s) {
  emu::Segment e;
  e.base = s.base;
  e.limit = s.limit;
  e.selector = s.selector;
  e.type = s.type;
  e.dpl = s.dpl;
  e.db = s.db;
  e.l = s.l;
  e.present = s.present;
  e.unusable = s.unusable;
  return e;
}

emu::SystemRegs to_emu(const kvm_sregs& s, uint64_t xcr0) {
  emu::SystemRegs e;
  e.cr0 = s.cr0; e.cr2 = s.cr2; e.cr3 = s.cr3; e.cr4 = s.cr4; e.efer = s.efer;
  e.cs = to_emu(s.cs); e.ds = to_emu(s.ds); e.es = to_emu(s.es);
  e.fs = to_emu(s.fs); e.gs = to_emu(s.gs); e.ss = to_emu(s.ss);
  e.xcr0 = xcr0;
  return e;
}

}  // namespace vireo::vmm
