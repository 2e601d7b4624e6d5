// The instructions vireo knows by name, and the assist handler of those it completes.
// Adding an assisted instruction = one handler function (assist_handlers.h) + one entry
// in insn_table.cc.
#pragma once

#include <cstdint>

#include "arch/x86/emulator/assist.h"
#include "arch/x86/emulator/decoder.h"

namespace vireo::arch::x86::emu {

class AssistContext;
using AssistFn = AssistResult (*)(AssistContext&);

enum class Form : uint8_t { kAny, kMem, kReg };  // ModRM.mod != 3 / == 3

// Mandatory-prefix requirement (for VEX: the pp field).
enum class Mandatory : uint8_t { kAny, kNone, k66, kF3, kF2 };

struct InsnSpec {
  bool vex = false;  // VEX-encoded (VEX2/VEX3)
  OpcodeMap map = OpcodeMap::kPrimary;
  uint8_t opcode = 0;
  int8_t ext = -1;  // ModRM.reg (/digit), -1: any or no ModRM
  Form form = Form::kAny;
  int8_t rm = -1;    // ModRM.rm of a register form, -1: any
  Mandatory prefix = Mandatory::kAny;
  int8_t rex_w = -1;  // REX.W (VEX.W) required clear (0) or set (1); -1: either
  const char* name = "";
  // Operands; "{v}" is replaced by the operand size in bits, "{x}" by xmm/ymm/zmm.
  const char* operands = "";
  AssistFn assist = nullptr;  // nullptr: known but not assisted
  bool lockable = false;      // LOCK allowed (otherwise #UD)
};

// The first entry matching the instruction, or nullptr.
const InsnSpec* find_insn_spec(const DecodedInsn& insn);

}  // namespace vireo::arch::x86::emu
