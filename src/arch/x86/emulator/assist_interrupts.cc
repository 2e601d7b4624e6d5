// INT3, INT n, INTO, INT1: the instruction completes and raises an event the VMM injects.
#include "arch/x86/emulator/assist_handlers.h"

namespace vireo::arch::x86::emu::handlers {

// CC: #BP as a software exception; the handler returns past the INT3.
AssistResult int3(AssistContext& c) { return c.software(kVectorBp, SoftwareKind::kSoftException); }

// CD ib: software interrupt ib. In virtual-8086 mode it is IOPL-sensitive.
AssistResult int_n(AssistContext& c) {
  if (c.state == ExecState::kVirtual8086 &&
      ((c.regs.rflags & kFlagIoplMask) >> kFlagIoplShift) < 3) {
    if (c.sregs.cr4 & kCr4Vme)
      return c.unsupported("INT n in virtual-8086 mode with CR4.VME (interrupt redirection)");
    return c.gp0();
  }
  return c.software(static_cast<uint8_t>(c.insn.imm), SoftwareKind::kSoftInterrupt);
}

// CE: #OF if RFLAGS.OF, else nothing; invalid in 64-bit mode.
AssistResult into(AssistContext& c) {
  if (c.state == ExecState::kLong64) return AssistContext::ud();
  if (c.regs.rflags & kFlagOf) return c.software(kVectorOf, SoftwareKind::kSoftException);
  return c.complete();
}

// F1: #DB as a privileged software exception (no IDT gate DPL check, DR6 unchanged).
AssistResult int1(AssistContext& c) {
  return c.software(kVectorDb, SoftwareKind::kPrivilegedSoftException);
}

}  // namespace vireo::arch::x86::emu::handlers
