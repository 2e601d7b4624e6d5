#include "arch/x86/emulator/describe.h"

#include <fmt/format.h>

#include "arch/x86/emulator/insn_table.h"

namespace vireo::arch::x86::emu {

namespace {

const char* map_prefix(OpcodeMap m) {
  switch (m) {
    case OpcodeMap::kPrimary: return "";
    case OpcodeMap::k0F: return "0F ";
    case OpcodeMap::k0F38: return "0F 38 ";
    case OpcodeMap::k0F3A: return "0F 3A ";
    case OpcodeMap::kMap5: return "MAP5 ";
    case OpcodeMap::kMap6: return "MAP6 ";
    case OpcodeMap::kXop8: return "MAP8 ";
    case OpcodeMap::kXop9: return "MAP9 ";
    case OpcodeMap::kXopA: return "MAP10 ";
  }
  return "";
}

const char* map_suffix(OpcodeMap m) {
  switch (m) {
    case OpcodeMap::k0F: return "0F";
    case OpcodeMap::k0F38: return "0F38";
    case OpcodeMap::k0F3A: return "0F3A";
    case OpcodeMap::kMap5: return "MAP5";
    case OpcodeMap::kMap6: return "MAP6";
    case OpcodeMap::kXop8: return "MAP8";
    case OpcodeMap::kXop9: return "MAP9";
    case OpcodeMap::kXopA: return "MAP10";
    default: return "?";
  }
}

std::string modrm_notation(const DecodedInsn& d, const InsnSpec* spec) {
  if (!d.has_modrm) return "";
  if (spec && spec->rm >= 0) return fmt::format(" {:02X}", d.modrm);
  if (spec && spec->ext >= 0) return fmt::format(" /{}", spec->ext);
  return " /r";
}

std::string expand_operands(const DecodedInsn& d, const char* templ) {
  std::string out;
  for (const char* p = templ; *p; ++p) {
    if (p[0] == '{' && p[1] && p[2] == '}') {
      if (p[1] == 'v') out += std::to_string(d.operand_size * 8);
      else if (p[1] == 'x') out += d.vex.l == 0 ? "xmm" : d.vex.l == 1 ? "ymm" : "zmm";
      p += 2;
      continue;
    }
    out += *p;
  }
  return out;
}

}  // namespace

const char* mnemonic(const DecodedInsn& insn) {
  const InsnSpec* s = find_insn_spec(insn);
  return s ? s->name : nullptr;
}

std::string opcode_notation(const DecodedInsn& d) {
  const InsnSpec* spec = find_insn_spec(d);
  const std::string modrm = modrm_notation(d, spec);
  if (d.is_vex_like()) {
    static constexpr const char* kPp[] = {"", "66.", "F3.", "F2."};
    static constexpr const char* kLen[] = {"128", "256", "512", "L3"};
    const char* kind = d.vex.kind == VexKind::kEvex ? "EVEX"
                       : d.vex.kind == VexKind::kXop ? "XOP"
                                                     : "VEX";
    return fmt::format("{}.{}.{}{}.W{} {:02X}{}", kind, kLen[d.vex.l & 3], kPp[d.vex.pp & 3],
                       map_suffix(d.map), d.vex.w ? 1 : 0, d.opcode, modrm);
  }
  std::string out;
  Mandatory mp = spec ? spec->prefix : Mandatory::kAny;
  if (mp == Mandatory::k66) out += "66 ";
  else if (mp == Mandatory::kF3) out += "F3 ";
  else if (mp == Mandatory::kF2) out += "F2 ";
  else if (!spec && d.map != OpcodeMap::kPrimary && d.prefixes.last_rep)
    out += fmt::format("{:02X} ", d.prefixes.last_rep);
  if (d.rex_w()) out += "REX.W ";
  out += fmt::format("{}{:02X}{}", map_prefix(d.map), d.opcode, modrm);
  return out;
}

std::string describe_short(const DecodedInsn& d) {
  const InsnSpec* spec = find_insn_spec(d);
  if (!spec) return fmt::format("unknown ({})", opcode_notation(d));
  std::string ops = expand_operands(d, spec->operands);
  return ops.empty() ? std::string(spec->name) : fmt::format("{} {}", spec->name, ops);
}

std::string describe(const DecodedInsn& d) {
  return fmt::format("{} [{}]", describe_short(d), hex_bytes(d.insn_bytes()));
}

std::string hex_bytes(std::span<const uint8_t> bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i) out += ' ';
    out += fmt::format("{:02x}", bytes[i]);
  }
  return out;
}

}  // namespace vireo::arch::x86::emu
