// CMPXCHG8B / CMPXCHG16B (0F C7 /1): one locked compare-exchange of guest memory.
#include <cstring>

#include "arch/x86/emulator/assist_handlers.h"

namespace vireo::arch::x86::emu::handlers {

// Compares EDX:EAX (RDX:RAX with REX.W) with the memory operand: if equal, ZF=1 and
// ECX:EBX (RCX:RBX) is stored; else ZF=0 and the operand is loaded into EDX:EAX
// (RDX:RAX). Other flags are unchanged. #UD for a register operand or without
// CX8/CX16; #GP(0) if the 16-byte operand is not 16-byte aligned. The access is always
// a write (the CPU writes the old value back on a mismatch), so a read-only page faults.
AssistResult cmpxchg8b_16b(AssistContext& c) {
  const DecodedInsn& d = c.insn;
  if (d.mod == 3) return AssistContext::ud();
  const bool wide = d.operand_size == 8;  // REX.W: CMPXCHG16B
  if (wide ? !c.features.cx16 : !c.features.cx8) return AssistContext::ud();
  const unsigned half = wide ? 8 : 4;
  const uint64_t ea = c.ea();
  const SegReg seg = d.mem.segment;

  if (wide) {
    auto la = c.mem.linear(seg, ea, 16, AccessType::kWrite);
    if (!la.ok()) return c.from_failure(la.failure());
    if (la.value() % 16 != 0) return c.gp0();
  }

  uint8_t expected[16], desired[16];
  const uint64_t rax = c.reg(kRax, half), rdx = c.reg(kRdx, half);
  const uint64_t rbx = c.reg(kRbx, half), rcx = c.reg(kRcx, half);
  std::memcpy(expected, &rax, half);
  std::memcpy(expected + half, &rdx, half);
  std::memcpy(desired, &rbx, half);
  std::memcpy(desired + half, &rcx, half);

  const unsigned size = 2 * half;
  auto swapped = c.mem.cmpxchg(seg, ea, std::span<uint8_t>(expected, size),
                               std::span<const uint8_t>(desired, size));
  if (!swapped.ok()) return c.from_failure(swapped.failure());
  c.set_flag(kFlagZf, swapped.value());
  if (!swapped.value()) {
    uint64_t lo = 0, hi = 0;
    std::memcpy(&lo, expected, half);
    std::memcpy(&hi, expected + half, half);
    c.set_reg(kRax, half, lo);
    c.set_reg(kRdx, half, hi);
  }
  return c.complete();
}

}  // namespace vireo::arch::x86::emu::handlers
