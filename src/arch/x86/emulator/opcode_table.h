// Length-relevant properties of every opcode in the legacy opcode maps (decoder-internal).
#pragma once

#include <cstdint>

namespace vireo::arch::x86::emu::detail {

// How the immediate (or other trailing operand) is encoded.
enum class Imm : uint8_t {
  kNone,
  kB,        // 1 byte
  kW,        // 2 bytes
  kZ,        // 2 or 4 bytes by operand size (sign-extended to 64 with REX.W)
  kV,        // 2, 4 or 8 bytes by operand size (MOV r, imm)
  kWB,       // 2 + 1 bytes (ENTER)
  kAp,       // far pointer: offset (2 or 4 by operand size) + 2-byte selector
  kMoffs,    // memory offset, address-size bytes (MOV AL/eAX <-> moffs)
  kJb,       // 1-byte relative branch target
  kJz,       // 2 or 4 bytes relative branch target (4 in 64-bit mode)
  kGroup3B,  // F6: 1 byte for /0 and /1 (TEST), none otherwise
  kGroup3Z,  // F7: as kZ for /0 and /1 (TEST), none otherwise
  kBB,       // two 1-byte immediates (SSE4a EXTRQ/INSERTQ)
  kD,        // 4 bytes (XOP map 0Ah)
};

enum OpFlag : uint8_t {
  kModrm = 1 << 0,      // a ModRM byte follows
  kInvalid64 = 1 << 1,  // #UD in 64-bit mode
  kDefault64 = 1 << 2,  // operand size defaults to 64 bits in 64-bit mode (66 gives 16)
  kForce64 = 1 << 3,    // operand size is 64 bits in 64-bit mode whatever the prefixes
  kUndefined = 1 << 4,  // no instruction has this opcode
  kModIsReg = 1 << 5,   // ModRM.mod is ignored and always means a register (MOV CRn/DRn)
};

struct OpInfo {
  uint8_t flags = kUndefined;
  Imm imm = Imm::kNone;
};

// One-byte opcodes. Prefix bytes and 0F have entries but the decoder handles them first.
const OpInfo& primary_op(uint8_t opcode);
// Two-byte opcodes (0F xx).
const OpInfo& map0f_op(uint8_t opcode);

}  // namespace vireo::arch::x86::emu::detail
