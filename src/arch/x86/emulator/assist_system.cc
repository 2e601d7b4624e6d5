// FWAIT, CLAC, STAC, XGETBV, LDMXCSR, STMXCSR.
#include "arch/x86/emulator/assist_handlers.h"

#include <optional>

namespace vireo::arch::x86::emu::handlers {

// 9B: #NM if CR0.MP and CR0.TS are both set. Pending unmasked x87 exceptions (#MF) are
// not seen here (the x87 state lives in KVM's FPU state) and are not raised.
AssistResult fwait(AssistContext& c) {
  if ((c.sregs.cr0 & (kCr0Mp | kCr0Ts)) == (kCr0Mp | kCr0Ts)) return AssistContext::fault(make_nm());
  return c.complete();
}

namespace {
// CLAC/STAC: #UD without SMAP support (CPUID.07H:EBX.SMAP), in virtual-8086 mode, or at
// CPL > 0. CR4.SMAP does not matter.
AssistResult set_ac(AssistContext& c, bool on) {
  if (!c.features.smap || c.state == ExecState::kVirtual8086 || c.cpl > 0)
    return AssistContext::ud();
  c.set_flag(kFlagAc, on);
  return c.complete();
}
}  // namespace

AssistResult clac(AssistContext& c) { return set_ac(c, false); }  // 0F 01 CA
AssistResult stac(AssistContext& c) { return set_ac(c, true); }   // 0F 01 CB

// 0F 01 D0: EDX:EAX = XCR[ECX]. #UD unless CR4.OSXSAVE; #GP(0) for an XCR that does not
// exist. XCR1 (XINUSE, with XGETBV1) is reported as XCR0: every enabled component is
// said to be possibly in use, which is always a correct answer.
AssistResult xgetbv(AssistContext& c) {
  if (!c.features.xsave || !(c.sregs.cr4 & kCr4Osxsave)) return AssistContext::ud();
  const auto ecx = static_cast<uint32_t>(c.regs.gpr[kRcx]);
  uint64_t value;
  if (ecx == 0)
    value = c.sregs.xcr0;
  else if (ecx == 1 && c.features.xgetbv1)
    value = c.sregs.xcr0;
  else
    return c.gp0();
  c.set_reg(kRax, 4, value & 0xffffffff);
  c.set_reg(kRdx, 4, value >> 32);
  return c.complete();
}

namespace {
// LDMXCSR/STMXCSR (legacy SSE form): #UD without SSE, with CR0.EM or without CR4.OSFXSR
// (LOCK is rejected before handlers run); then #NM with CR0.TS.
std::optional<AssistResult> sse_state_check(const AssistContext& c) {
  if (!c.features.sse || (c.sregs.cr0 & kCr0Em) || !(c.sregs.cr4 & kCr4Osfxsr))
    return AssistContext::ud();
  if (c.sregs.cr0 & kCr0Ts) return AssistContext::fault(make_nm());
  return std::nullopt;
}
}  // namespace

// 0F AE /2: MXCSR = m32; #GP(0) if it sets a bit MXCSR_MASK does not allow (after the
// memory read, whose faults come first).
AssistResult ldmxcsr(AssistContext& c) {
  if (auto r = sse_state_check(c)) return *r;
  uint32_t v = 0;
  auto rd = c.mem.read(c.insn.mem.segment, c.ea(),
                       std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), sizeof v));
  if (!rd.ok()) return c.from_failure(rd.failure());
  if (v & ~c.features.mxcsr_mask) return c.gp0();
  c.sregs.mxcsr = v;
  return c.complete();
}

// 0F AE /3: m32 = MXCSR.
AssistResult stmxcsr(AssistContext& c) {
  if (auto r = sse_state_check(c)) return *r;
  const uint32_t v = c.sregs.mxcsr;
  auto wr = c.mem.write(c.insn.mem.segment, c.ea(),
                        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), sizeof v));
  if (!wr.ok()) return c.from_failure(wr.failure());
  return c.complete();
}

}  // namespace vireo::arch::x86::emu::handlers
