// x86 instruction decoder: one instruction from (hostile) bytes, for a given CPU mode.
// It finds the length and the fields of every instruction in the legacy opcode maps
// (one-byte, 0F, 0F 38, 0F 3A) and of VEX/EVEX/XOP-encoded ones; it never reads past
// the given bytes nor past the architectural 15-byte limit.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "arch/x86/emulator/cpu_state.h"

namespace vireo::arch::x86::emu {

inline constexpr int kMaxInsnLength = 15;

enum class OpcodeMap : uint8_t {
  kPrimary,  // one-byte opcodes
  k0F,       // 0F xx (VEX/EVEX map 1)
  k0F38,     // 0F 38 xx (map 2)
  k0F3A,     // 0F 3A xx (map 3)
  kMap5,     // EVEX map 5 (AVX512-FP16)
  kMap6,     // EVEX map 6
  kXop8,     // AMD XOP maps
  kXop9,
  kXopA,
};

enum class VexKind : uint8_t { kNone, kVex2, kVex3, kEvex, kXop };

struct Prefixes {
  bool lock = false;      // F0
  bool rep = false;       // F3 (REP/REPE)
  bool repne = false;     // F2 (REPNE)
  uint8_t last_rep = 0;   // F2 or F3, whichever came last (it selects mandatory-prefix forms)
  bool opsize = false;    // 66
  bool addrsize = false;  // 67
  std::optional<SegReg> segment;  // last segment-override prefix (even if ignored in 64-bit)
  uint8_t rex = 0;        // REX byte in effect (0x40-0x4F), 0 if none
  uint8_t count = 0;      // number of prefix bytes, REX included
};

// VEX/EVEX/XOP fields (inverted fields already un-inverted).
struct VexFields {
  VexKind kind = VexKind::kNone;
  bool w = false;
  uint8_t vvvv = 0;  // source register (0-15; 0-31 with EVEX.V')
  uint8_t l = 0;     // vector length: 0 = 128, 1 = 256, 2 = 512
  uint8_t pp = 0;    // implied prefix: 0 none, 1 = 66, 2 = F3, 3 = F2
  uint8_t mask = 0;  // EVEX opmask register (aaa)
  bool zeroing = false;    // EVEX.z
  bool broadcast = false;  // EVEX.b
};

// A memory operand: segment:[base + index*scale + disp] (or [rip + length + disp]).
struct MemOperand {
  int8_t base = -1;   // register number (Gpr) or -1
  int8_t index = -1;  // register number (Gpr) or -1
  uint8_t scale = 1;
  int64_t disp = 0;   // sign-extended (moffs: the zero-extended offset)
  bool rip_relative = false;
  SegReg segment = SegReg::kDs;  // effective: the override if it applies, else the default
};

struct DecodedInsn {
  uint8_t length = 0;
  CpuMode mode = CpuMode::k64;
  Prefixes prefixes;
  VexFields vex;
  OpcodeMap map = OpcodeMap::kPrimary;
  uint8_t opcode = 0;

  bool has_modrm = false;
  uint8_t modrm = 0;
  uint8_t mod = 0;  // ModRM.mod (3 for MOV CRn/DRn, whose mod field means a register)
  uint8_t reg = 0;  // ModRM.reg extended by REX.R / VEX.R (0-15)
  uint8_t rm = 0;   // ModRM.rm extended by REX.B / VEX.B (0-15)
  bool has_sib = false;
  uint8_t sib = 0;
  uint8_t disp_size = 0;  // bytes of displacement (0, 1, 2, 4; moffs: 2, 4, 8)

  uint8_t operand_size = 4;  // operand-size attribute in bytes: 2, 4 or 8
  uint8_t address_size = 4;  // address-size attribute in bytes: 2, 4 or 8

  bool has_mem = false;  // the instruction has a memory operand (ModRM.mod != 3, or moffs)
  MemOperand mem;

  uint64_t imm = 0;  // first immediate, zero-extended raw bytes
  uint8_t imm_size = 0;
  uint64_t imm2 = 0;  // second immediate (ENTER's Ib, far pointer selector, EXTRQ)
  uint8_t imm2_size = 0;

  std::array<uint8_t, kMaxInsnLength> bytes{};  // the instruction's bytes (length of them)

  // ModRM.reg as an opcode extension (/digit): without REX.R.
  uint8_t ext() const { return (modrm >> 3) & 7; }
  // The first immediate sign-extended from its size.
  int64_t imm_signed() const;
  bool rex_w() const { return (prefixes.rex & 8) != 0; }
  bool is_vex_like() const { return vex.kind != VexKind::kNone; }
  std::span<const uint8_t> insn_bytes() const { return {bytes.data(), length}; }
};

enum class DecodeStatus : uint8_t {
  kOk,
  kTruncated,      // the bytes end inside the instruction
  kTooLong,        // longer than 15 bytes: the CPU raises #GP(0)
  kInvalid,        // an encoding the CPU always rejects with #UD (e.g. PUSH ES in 64-bit
                   // mode, VEX after a 66/F2/F3/LOCK/REX prefix)
  kUnknownOpcode,  // an opcode with no instruction in the opcode maps this decoder knows
};

const char* to_string(DecodeStatus s);

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kOk;
  DecodedInsn insn;              // complete if ok(); else the fields decoded so far
  const char* reason = nullptr;  // why, if not ok()
  bool ok() const { return status == DecodeStatus::kOk; }
};

DecodeResult decode(std::span<const uint8_t> bytes, CpuMode mode);

// The offset part of the memory operand: base + index*scale + disp truncated to the
// address size (RIP-relative: from the next instruction's address).
uint64_t effective_address(const DecodedInsn& insn, const Regs& regs);

}  // namespace vireo::arch::x86::emu
