// Instruction assist: completes, with its exact architectural effect, an instruction the
// host's KVM instruction emulator rejected (KVM_EXIT_INTERNAL_ERROR /
// KVM_INTERNAL_ERROR_EMULATION), or says which exception the guest must get instead.
// What the VMM does with each result (kvm_regs, kvm_sregs, kvm_vcpu_events fields) is in
// README.md next to this file.
//
// Assisted: INT3, INT n, INTO, INT1, FWAIT, CLAC, STAC, XGETBV, LDMXCSR, STMXCSR, POPCNT, LZCNT, TZCNT, BSF,
// BSR, CMPXCHG8B, CMPXCHG16B. To add one: a handler in assist_handlers.h + an entry in
// insn_table.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>

#include "arch/x86/emulator/cpu_features.h"
#include "arch/x86/emulator/cpu_state.h"
#include "arch/x86/emulator/decoder.h"
#include "arch/x86/emulator/exception.h"
#include "arch/x86/emulator/guest_phys_memory.h"

namespace vireo::arch::x86::emu {

// The instruction completed: registers (RIP past the instruction, RFLAGS.RF cleared) and
// guest memory are updated.
struct Completed {
  // RFLAGS.TF was set when the instruction began: the CPU would now raise a single-step
  // #DB trap (DR6.BS set) before the next instruction.
  bool single_step_trap = false;
};

// A fault: deliver `vector` (with the error code, and CR2 for #PF); registers and memory
// are unchanged and RIP still points at the instruction.
using InjectException = Exception;

enum class SoftwareKind : uint8_t {
  kSoftException,            // INT3 (#BP), INTO (#OF)
  kSoftInterrupt,            // INT n
  kPrivilegedSoftException,  // INT1/ICEBP (#DB)
};

// A trap-like event raised by the instruction itself: RIP has been advanced past the
// instruction (the return address the handler sees); `insn_len` is its length.
struct InjectSoftware {
  uint8_t vector = 0;
  uint8_t insn_len = 0;
  SoftwareKind kind = SoftwareKind::kSoftException;
  bool operator==(const InjectSoftware&) const = default;
};

// Not assisted: nothing was changed. `reason` names the instruction when it is known,
// e.g. "xrstor (0F AE /5) is not assisted".
struct Unsupported {
  std::string reason;
};

using AssistResult = std::variant<Completed, InjectException, InjectSoftware, Unsupported>;

// Performs `insn`, decoded in the vCPU's current mode, at privilege level `cpl`.
// Of `sregs`, only `mxcsr` is ever modified (by LDMXCSR).
AssistResult assist(const DecodedInsn& insn, Regs& regs, SystemRegs& sregs,
                    GuestPhysMemory& mem, int cpl, const CpuFeatures& features);

// Decodes `bytes` (KVM's emulation_failure.insn_bytes) in the mode the registers give,
// then assists at the current CPL. Encodings the CPU always rejects give #UD, longer than
// 15 bytes #GP(0); truncated or unknown ones are Unsupported.
AssistResult assist_bytes(std::span<const uint8_t> bytes, Regs& regs, SystemRegs& sregs,
                          GuestPhysMemory& mem, const CpuFeatures& features);

const char* to_string(SoftwareKind k);
// One line for logs: "completed", "inject #GP(0)", "inject soft interrupt 0x80 (len 2)"...
std::string to_string(const AssistResult& r);

}  // namespace vireo::arch::x86::emu
