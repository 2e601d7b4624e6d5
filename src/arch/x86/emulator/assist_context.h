// What an instruction handler works with (assist-internal).
#pragma once

#include <string>

#include "arch/x86/emulator/assist.h"
#include "arch/x86/emulator/outcome.h"
#include "arch/x86/emulator/virtual_memory.h"

namespace vireo::arch::x86::emu {

class AssistContext {
 public:
  AssistContext(const DecodedInsn& insn, Regs& regs, SystemRegs& sregs, GuestPhysMemory& phys,
                int cpl, const CpuFeatures& features)
      : insn(insn), regs(regs), sregs(sregs), cpl(cpl), features(features),
        state(exec_state(sregs, regs.rflags)), mem(phys, sregs, regs.rflags, cpl, features),
        start_rflags_(regs.rflags) {}

  const DecodedInsn& insn;
  Regs& regs;
  SystemRegs& sregs;
  const int cpl;
  const CpuFeatures& features;
  const ExecState state;
  VirtualMemory mem;

  // Finishing: RIP past the instruction, RFLAGS.RF cleared.
  AssistResult complete();
  AssistResult software(uint8_t vector, SoftwareKind kind);
  static AssistResult fault(const Exception& e) { return e; }
  static AssistResult ud() { return make_ud(); }
  AssistResult gp0() const { return make_gp0(sregs); }
  AssistResult unsupported(const std::string& why) const;
  // A fault becomes the exception to inject; an Error becomes Unsupported.
  AssistResult from_failure(const Failure& f) const;

  // General register `n` read/written at `size` bytes (2, 4, 8): 16-bit writes keep the
  // upper bits, 32-bit writes zero-extend (as in 64-bit mode).
  uint64_t reg(unsigned n, unsigned size) const;
  void set_reg(unsigned n, unsigned size, uint64_t value);
  // The ModRM r/m operand (register or memory) read at `size` bytes.
  Outcome<uint64_t> read_rm(unsigned size);
  // The memory operand's effective address (offset in its segment).
  uint64_t ea() const { return effective_address(insn, regs); }

  void set_flag(uint64_t flag, bool on) {
    regs.rflags = on ? (regs.rflags | flag) : (regs.rflags & ~flag);
  }

 private:
  void advance_rip();
  uint64_t start_rflags_;
};

// Mask of the low `size` bytes.
inline uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

}  // namespace vireo::arch::x86::emu
