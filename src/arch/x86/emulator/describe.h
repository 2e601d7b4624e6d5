// Human-readable names of decoded instructions, for logs and exit statistics.
#pragma once

#include <span>
#include <string>

#include "arch/x86/emulator/decoder.h"

namespace vireo::arch::x86::emu {

// The mnemonic if the instruction is one vireo knows by name ("popcnt", "xrstor64"),
// else nullptr.
const char* mnemonic(const DecodedInsn& insn);

// The opcode in SDM notation: "F3 0F B8 /r", "REX.W 0F AE /5", "0F 01 CA",
// "VEX.256.F3.0F.W0 6F /r".
std::string opcode_notation(const DecodedInsn& insn);

// Mnemonic and operand kinds, for counting: "popcnt r64, r/m64"; for an instruction
// without a known name, "unknown (<opcode notation>)".
std::string describe_short(const DecodedInsn& insn);

// describe_short plus the bytes: "popcnt r64, r/m64 [f3 48 0f b8 c1]".
std::string describe(const DecodedInsn& insn);

// "f3 48 0f b8 c1"
std::string hex_bytes(std::span<const uint8_t> bytes);

}  // namespace vireo::arch::x86::emu
