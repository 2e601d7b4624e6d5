#include "arch/x86/emulator/decoder.h"

#include "arch/x86/emulator/opcode_table.h"

namespace vireo::arch::x86::emu {

namespace {

using detail::Imm;
using detail::OpInfo;

// Reads instruction bytes, refusing to go past the input or the 15-byte limit.
class Reader {
 public:
  Reader(std::span<const uint8_t> bytes, DecodedInsn& insn) : bytes_(bytes), insn_(insn) {}

  bool byte(uint8_t& out) {
    if (!peek(out)) return false;
    insn_.bytes[pos_++] = out;
    return true;
  }
  bool peek(uint8_t& out) {
    if (pos_ >= kMaxInsnLength) return stop(DecodeStatus::kTooLong);
    if (pos_ >= bytes_.size()) return stop(DecodeStatus::kTruncated);
    out = bytes_[pos_];
    return true;
  }
  // Little-endian unsigned integer of n bytes (n <= 8).
  bool value(unsigned n, uint64_t& out) {
    out = 0;
    for (unsigned i = 0; i < n; ++i) {
      uint8_t b;
      if (!byte(b)) return false;
      out |= static_cast<uint64_t>(b) << (8 * i);
    }
    return true;
  }
  unsigned pos() const { return pos_; }
  DecodeStatus status() const { return status_; }

 private:
  bool stop(DecodeStatus s) {
    status_ = s;
    return false;
  }
  std::span<const uint8_t> bytes_;
  DecodedInsn& insn_;
  unsigned pos_ = 0;
  DecodeStatus status_ = DecodeStatus::kOk;
};

int64_t sign_extend(uint64_t v, unsigned bytes) {
  if (bytes == 0 || bytes >= 8) return static_cast<int64_t>(v);
  unsigned shift = 64 - 8 * bytes;
  return static_cast<int64_t>(v << shift) >> shift;
}

struct RegExt {
  bool r = false, x = false, b = false;
};

class Decoder {
 public:
  Decoder(std::span<const uint8_t> bytes, CpuMode mode) : rd_(bytes, result_.insn) {
    result_.insn.mode = mode;
  }

  DecodeResult run();

 private:
  bool is64() const { return in().mode == CpuMode::k64; }
  DecodedInsn& in() { return result_.insn; }
  const DecodedInsn& in() const { return result_.insn; }

  DecodeResult fail(DecodeStatus s, const char* why) {
    result_.status = s;
    result_.reason = why;
    in().length = static_cast<uint8_t>(rd_.pos());
    return result_;
  }
  DecodeResult read_failed() {
    return fail(rd_.status(), rd_.status() == DecodeStatus::kTooLong
                                  ? "instruction longer than 15 bytes"
                                  : "instruction bytes end inside the instruction");
  }

  bool read_prefixes(uint8_t& first_opcode_byte);
  DecodeResult decode_legacy(uint8_t b);
  DecodeResult decode_vex_like(uint8_t b);
  bool read_modrm(RegExt ext, bool mod_is_reg);
  bool read_mem16();
  bool read_mem32_64(RegExt ext);
  bool read_imm(Imm imm);
  void set_sizes(bool default64, bool force64);
  void set_segment(SegReg default_seg);
  DecodeResult finish() {
    in().length = static_cast<uint8_t>(rd_.pos());
    result_.status = DecodeStatus::kOk;
    return result_;
  }

  DecodeResult result_;
  Reader rd_;
};

bool Decoder::read_prefixes(uint8_t& b) {
  Prefixes& p = in().prefixes;
  for (;;) {
    if (!rd_.byte(b)) return false;
    bool legacy = true;
    switch (b) {
      case 0xf0: p.lock = true; break;
      case 0xf2: p.repne = true; p.last_rep = 0xf2; break;
      case 0xf3: p.rep = true; p.last_rep = 0xf3; break;
      case 0x26: p.segment = SegReg::kEs; break;
      case 0x2e: p.segment = SegReg::kCs; break;
      case 0x36: p.segment = SegReg::kSs; break;
      case 0x3e: p.segment = SegReg::kDs; break;
      case 0x64: p.segment = SegReg::kFs; break;
      case 0x65: p.segment = SegReg::kGs; break;
      case 0x66: p.opsize = true; break;
      case 0x67: p.addrsize = true; break;
      default: legacy = false;
    }
    if (legacy) {
      p.rex = 0;  // a REX prefix counts only right before the opcode
      ++p.count;
      continue;
    }
    if (is64() && (b & 0xf0) == 0x40) {
      p.rex = b;
      ++p.count;
      continue;
    }
    return true;
  }
}

void Decoder::set_sizes(bool default64, bool force64) {
  const Prefixes& p = in().prefixes;
  switch (in().mode) {
    case CpuMode::k64:
      if ((p.rex & 8) || force64) in().operand_size = 8;
      else if (default64) in().operand_size = p.opsize ? 2 : 8;
      else in().operand_size = p.opsize ? 2 : 4;
      in().address_size = p.addrsize ? 4 : 8;
      break;
    case CpuMode::k32:
      in().operand_size = p.opsize ? 2 : 4;
      in().address_size = p.addrsize ? 2 : 4;
      break;
    case CpuMode::k16:
      in().operand_size = p.opsize ? 4 : 2;
      in().address_size = p.addrsize ? 4 : 2;
      break;
  }
}

void Decoder::set_segment(SegReg default_seg) {
  auto ovr = in().prefixes.segment;
  // In 64-bit mode the CS, DS, ES and SS overrides are ignored.
  if (ovr && (!is64() || *ovr == SegReg::kFs || *ovr == SegReg::kGs))
    in().mem.segment = *ovr;
  else
    in().mem.segment = default_seg;
}

bool Decoder::read_modrm(RegExt ext, bool mod_is_reg) {
  DecodedInsn& d = in();
  if (!rd_.byte(d.modrm)) return false;
  d.has_modrm = true;
  d.mod = d.modrm >> 6;
  d.reg = ((d.modrm >> 3) & 7) | (ext.r ? 8 : 0);
  d.rm = (d.modrm & 7) | (ext.b ? 8 : 0);
  if (mod_is_reg) d.mod = 3;
  if (d.mod == 3) return true;
  d.has_mem = true;
  return d.address_size == 2 ? read_mem16() : read_mem32_64(ext);
}

bool Decoder::read_mem16() {
  DecodedInsn& d = in();
  static constexpr int8_t kBase[8] = {kRbx, kRbx, kRbp, kRbp, kRsi, kRdi, kRbp, kRbx};
  static constexpr int8_t kIndex[8] = {kRsi, kRdi, kRsi, kRdi, -1, -1, -1, -1};
  unsigned rm = d.modrm & 7;
  d.rm = static_cast<uint8_t>(rm);  // REX does not exist with 16-bit addressing
  MemOperand& m = d.mem;
  if (d.mod == 0 && rm == 6) {
    m.base = -1;
    d.disp_size = 2;
  } else {
    m.base = kBase[rm];
    m.index = kIndex[rm];
    d.disp_size = d.mod == 1 ? 1 : d.mod == 2 ? 2 : 0;
  }
  uint64_t disp = 0;
  if (!rd_.value(d.disp_size, disp)) return false;
  m.disp = sign_extend(disp, d.disp_size);
  set_segment(m.base == kRbp ? SegReg::kSs : SegReg::kDs);
  return true;
}

bool Decoder::read_mem32_64(RegExt ext) {
  DecodedInsn& d = in();
  MemOperand& m = d.mem;
  unsigned rm = d.modrm & 7;
  d.disp_size = d.mod == 1 ? 1 : d.mod == 2 ? 4 : 0;
  if (rm == 4) {
    if (!rd_.byte(d.sib)) return false;
    d.has_sib = true;
    m.scale = static_cast<uint8_t>(1u << (d.sib >> 6));
    unsigned index = ((d.sib >> 3) & 7) | (ext.x ? 8 : 0);
    m.index = index == 4 ? -1 : static_cast<int8_t>(index);
    unsigned base = d.sib & 7;
    if (base == 5 && d.mod == 0) {
      m.base = -1;
      d.disp_size = 4;
    } else {
      m.base = static_cast<int8_t>(base | (ext.b ? 8 : 0));
    }
  } else if (rm == 5 && d.mod == 0) {
    m.base = -1;
    m.rip_relative = is64();
    d.disp_size = 4;
  } else {
    m.base = static_cast<int8_t>(d.rm);
  }
  uint64_t disp = 0;
  if (!rd_.value(d.disp_size, disp)) return false;
  m.disp = sign_extend(disp, d.disp_size);
  set_segment(m.base == kRsp || m.base == kRbp ? SegReg::kSs : SegReg::kDs);
  return true;
}

bool Decoder::read_imm(Imm imm) {
  DecodedInsn& d = in();
  unsigned z = d.operand_size == 2 ? 2 : 4;
  unsigned n = 0, n2 = 0;
  switch (imm) {
    case Imm::kNone: break;
    case Imm::kB:
    case Imm::kJb: n = 1; break;
    case Imm::kW: n = 2; break;
    case Imm::kZ:
    case Imm::kJz: n = z; break;
    case Imm::kV: n = d.operand_size; break;
    case Imm::kWB: n = 2; n2 = 1; break;
    case Imm::kAp: n = z; n2 = 2; break;
    case Imm::kBB: n = 1; n2 = 1; break;
    case Imm::kD: n = 4; break;
    case Imm::kGroup3B: n = d.ext() < 2 ? 1 : 0; break;
    case Imm::kGroup3Z: n = d.ext() < 2 ? z : 0; break;
    case Imm::kMoffs: {
      uint64_t off = 0;
      if (!rd_.value(d.address_size, off)) return false;
      d.has_mem = true;
      d.disp_size = d.address_size;
      d.mem.disp = static_cast<int64_t>(off);
      set_segment(SegReg::kDs);
      return true;
    }
  }
  if (!rd_.value(n, d.imm)) return false;
  d.imm_size = static_cast<uint8_t>(n);
  if (!rd_.value(n2, d.imm2)) return false;
  d.imm2_size = static_cast<uint8_t>(n2);
  return true;
}

DecodeResult Decoder::decode_legacy(uint8_t b) {
  DecodedInsn& d = in();
  OpInfo info;
  if (b == 0x0f) {
    if (!rd_.byte(b)) return read_failed();
    if (b == 0x38 || b == 0x3a) {
      d.map = b == 0x38 ? OpcodeMap::k0F38 : OpcodeMap::k0F3A;
      info = OpInfo{detail::kModrm, b == 0x38 ? Imm::kNone : Imm::kB};
      if (!rd_.byte(b)) return read_failed();
    } else {
      d.map = OpcodeMap::k0F;
      info = detail::map0f_op(b);
    }
  } else {
    d.map = OpcodeMap::kPrimary;
    info = detail::primary_op(b);
  }
  d.opcode = b;
  if (info.flags & detail::kUndefined) return fail(DecodeStatus::kUnknownOpcode, "undefined opcode");
  if (is64() && (info.flags & detail::kInvalid64))
    return fail(DecodeStatus::kInvalid, "opcode is invalid in 64-bit mode");

  // SSE4a EXTRQ/INSERTQ (66/F2 0F 78) carry two immediate bytes.
  if (d.map == OpcodeMap::k0F && d.opcode == 0x78 &&
      (d.prefixes.opsize || d.prefixes.last_rep == 0xf2))
    info.imm = Imm::kBB;

  const uint8_t rex = d.prefixes.rex;
  bool def64 = info.flags & detail::kDefault64;
  bool force64 = info.flags & detail::kForce64;
  set_sizes(def64, force64);  // address size is needed for the ModRM
  if (info.flags & detail::kModrm) {
    RegExt ext{(rex & 4) != 0, (rex & 2) != 0, (rex & 1) != 0};
    if (!read_modrm(ext, info.flags & detail::kModIsReg)) return read_failed();
    // Group 5: near CALL/JMP are 64-bit, PUSH defaults to 64-bit.
    if (d.map == OpcodeMap::kPrimary && d.opcode == 0xff) {
      unsigned e = d.ext();
      set_sizes(e == 6, e == 2 || e == 4);
      if (e == 7) return fail(DecodeStatus::kUnknownOpcode, "undefined opcode (FF /7)");
    }
  }
  if (!read_imm(info.imm)) return read_failed();
  return finish();
}

DecodeResult Decoder::decode_vex_like(uint8_t b) {
  DecodedInsn& d = in();
  const Prefixes& p = d.prefixes;
  VexFields& v = d.vex;
  if (p.opsize || p.rep || p.repne || p.lock || p.rex)
    return fail(DecodeStatus::kInvalid, "VEX/EVEX/XOP prefix after a 66, F2, F3, LOCK or REX prefix");
  RegExt ext;
  uint8_t p0, p1, p2;
  bool reg_hi = false;  // EVEX.R'
  if (b == 0xc5) {
    v.kind = VexKind::kVex2;
    if (!rd_.byte(p0)) return read_failed();
    ext.r = !(p0 & 0x80);
    v.vvvv = (~p0 >> 3) & 0xf;
    v.l = (p0 >> 2) & 1;
    v.pp = p0 & 3;
    d.map = OpcodeMap::k0F;
  } else if (b == 0xc4 || b == 0x8f) {
    v.kind = b == 0xc4 ? VexKind::kVex3 : VexKind::kXop;
    if (!rd_.byte(p0) || !rd_.byte(p1)) return read_failed();
    ext = {!(p0 & 0x80), !(p0 & 0x40), !(p0 & 0x20)};
    unsigned m = p0 & 0x1f;
    if (b == 0xc4) {
      if (m < 1 || m > 3) return fail(DecodeStatus::kInvalid, "reserved VEX opcode map");
      d.map = m == 1 ? OpcodeMap::k0F : m == 2 ? OpcodeMap::k0F38 : OpcodeMap::k0F3A;
    } else {
      if (m > 10) return fail(DecodeStatus::kUnknownOpcode, "unknown XOP opcode map");
      d.map = m == 8 ? OpcodeMap::kXop8 : m == 9 ? OpcodeMap::kXop9 : OpcodeMap::kXopA;
    }
    v.w = p1 & 0x80;
    v.vvvv = (~p1 >> 3) & 0xf;
    v.l = (p1 >> 2) & 1;
    v.pp = p1 & 3;
  } else {  // 0x62: EVEX
    v.kind = VexKind::kEvex;
    if (!rd_.byte(p0) || !rd_.byte(p1) || !rd_.byte(p2)) return read_failed();
    ext = {!(p0 & 0x80), !(p0 & 0x40), !(p0 & 0x20)};
    reg_hi = !(p0 & 0x10);
    if (!(p1 & 0x04)) return fail(DecodeStatus::kInvalid, "EVEX P1 bit 2 is not set");
    switch (p0 & 7) {
      case 1: d.map = OpcodeMap::k0F; break;
      case 2: d.map = OpcodeMap::k0F38; break;
      case 3: d.map = OpcodeMap::k0F3A; break;
      case 5: d.map = OpcodeMap::kMap5; break;
      case 6: d.map = OpcodeMap::kMap6; break;
      default: return fail(DecodeStatus::kUnknownOpcode, "unknown EVEX opcode map");
    }
    v.w = p1 & 0x80;
    v.vvvv = ((~p1 >> 3) & 0xf) | ((p2 & 0x08) ? 0 : 0x10);
    v.pp = p1 & 3;
    v.zeroing = p2 & 0x80;
    v.l = (p2 >> 5) & 3;
    v.broadcast = p2 & 0x10;
    v.mask = p2 & 7;
  }
  if (!is64()) {  // no register extensions outside 64-bit mode
    ext = {};
    reg_hi = false;
    v.vvvv &= 7;
  }
  if (!rd_.byte(d.opcode)) return read_failed();
  set_sizes(false, false);
  d.operand_size = is64() && v.w ? 8 : 4;

  Imm imm = Imm::kNone;
  switch (d.map) {
    case OpcodeMap::k0F:
      if (detail::map0f_op(d.opcode).imm == Imm::kB) imm = Imm::kB;
      break;
    case OpcodeMap::k0F3A:
    case OpcodeMap::kXop8: imm = Imm::kB; break;
    case OpcodeMap::kXopA: imm = Imm::kD; break;
    default: break;
  }
  // VZEROUPPER/VZEROALL are the only VEX instructions without a ModRM byte.
  bool modrm = !(v.kind != VexKind::kEvex && d.map == OpcodeMap::k0F && d.opcode == 0x77);
  if (modrm) {
    if (!read_modrm(ext, false)) return read_failed();
    if (reg_hi) d.reg |= 0x10;
  }
  if (!read_imm(imm)) return read_failed();
  return finish();
}

DecodeResult Decoder::run() {
  uint8_t b;
  if (!read_prefixes(b)) return read_failed();
  if (b == 0xc4 || b == 0xc5 || b == 0x62 || b == 0x8f) {
    uint8_t next;
    if (!rd_.peek(next)) return read_failed();
    bool escape = b == 0x8f ? (next & 0x1f) >= 8 : is64() || (next & 0xc0) == 0xc0;
    if (escape) return decode_vex_like(b);
  }
  return decode_legacy(b);
}

}  // namespace

int64_t DecodedInsn::imm_signed() const { return sign_extend(imm, imm_size); }

const char* to_string(DecodeStatus s) {
  switch (s) {
    case DecodeStatus::kOk: return "ok";
    case DecodeStatus::kTruncated: return "truncated";
    case DecodeStatus::kTooLong: return "too long";
    case DecodeStatus::kInvalid: return "invalid";
    case DecodeStatus::kUnknownOpcode: return "unknown opcode";
  }
  return "?";
}

DecodeResult decode(std::span<const uint8_t> bytes, CpuMode mode) {
  return Decoder(bytes, mode).run();
}

uint64_t effective_address(const DecodedInsn& insn, const Regs& regs) {
  const MemOperand& m = insn.mem;
  uint64_t ea;
  if (m.rip_relative) {
    ea = regs.rip + insn.length + static_cast<uint64_t>(m.disp);
  } else {
    ea = static_cast<uint64_t>(m.disp);
    if (m.base >= 0) ea += regs.gpr[m.base & 15];
    if (m.index >= 0) ea += regs.gpr[m.index & 15] * m.scale;
  }
  switch (insn.address_size) {
    case 2: return ea & 0xffff;
    case 4: return ea & 0xffffffff;
    default: return ea;
  }
}

}  // namespace vireo::arch::x86::emu
