#include "arch/x86/emulator/insn_table.h"

#include "arch/x86/emulator/assist_handlers.h"

namespace vireo::arch::x86::emu {

namespace {

namespace h = handlers;
using M = Mandatory;
constexpr auto k0F = OpcodeMap::k0F;
constexpr auto k0F38 = OpcodeMap::k0F38;
constexpr auto k0F3A = OpcodeMap::k0F3A;
constexpr auto kMem = Form::kMem;
constexpr auto kReg = Form::kReg;

// Searched in order: put prefixed and REX.W forms before the plain ones.
constexpr InsnSpec kTable[] = {
    // ---- assisted ----
    {.opcode = 0xcc, .name = "int3", .assist = h::int3},
    {.opcode = 0xcd, .name = "int", .operands = "imm8", .assist = h::int_n},
    {.opcode = 0xce, .name = "into", .assist = h::into},
    {.opcode = 0xf1, .name = "int1", .assist = h::int1},
    {.opcode = 0x9b, .name = "fwait", .assist = h::fwait},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 2, .prefix = M::kNone,
     .name = "clac", .assist = h::clac},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 3, .prefix = M::kNone,
     .name = "stac", .assist = h::stac},
    {.map = k0F, .opcode = 0x01, .ext = 2, .form = kReg, .rm = 0, .prefix = M::kNone,
     .name = "xgetbv", .assist = h::xgetbv},
    {.map = k0F, .opcode = 0xb8, .prefix = M::kF3, .name = "popcnt",
     .operands = "r{v}, r/m{v}", .assist = h::popcnt},
    {.map = k0F, .opcode = 0xbc, .prefix = M::kF3, .name = "tzcnt",
     .operands = "r{v}, r/m{v}", .assist = h::tzcnt_or_bsf},
    {.map = k0F, .opcode = 0xbc, .name = "bsf", .operands = "r{v}, r/m{v}",
     .assist = h::tzcnt_or_bsf},
    {.map = k0F, .opcode = 0xbd, .prefix = M::kF3, .name = "lzcnt",
     .operands = "r{v}, r/m{v}", .assist = h::lzcnt_or_bsr},
    {.map = k0F, .opcode = 0xbd, .name = "bsr", .operands = "r{v}, r/m{v}",
     .assist = h::lzcnt_or_bsr},
    {.map = k0F, .opcode = 0xc7, .ext = 1, .rex_w = 1, .name = "cmpxchg16b",
     .operands = "m128", .assist = h::cmpxchg8b_16b, .lockable = true},
    {.map = k0F, .opcode = 0xc7, .ext = 1, .name = "cmpxchg8b", .operands = "m64",
     .assist = h::cmpxchg8b_16b, .lockable = true},

    // ---- known by name only ----
    {.opcode = 0xf4, .name = "hlt"},
    {.opcode = 0xfa, .name = "cli"},
    {.opcode = 0xfb, .name = "sti"},
    {.opcode = 0xcf, .name = "iret"},
    {.opcode = 0x88, .name = "mov", .operands = "r/m8, r8"},
    {.opcode = 0x89, .name = "mov", .operands = "r/m{v}, r{v}"},
    {.opcode = 0x8a, .name = "mov", .operands = "r8, r/m8"},
    {.opcode = 0x8b, .name = "mov", .operands = "r{v}, r/m{v}"},
    {.opcode = 0x8c, .name = "mov", .operands = "r/m16, sreg"},
    {.opcode = 0x8e, .name = "mov", .operands = "sreg, r/m16"},
    {.opcode = 0xc6, .ext = 0, .name = "mov", .operands = "r/m8, imm8"},
    {.opcode = 0xc7, .ext = 0, .name = "mov", .operands = "r/m{v}, imm"},
    {.opcode = 0xa0, .name = "mov", .operands = "al, moffs"},
    {.opcode = 0xa1, .name = "mov", .operands = "r{v}, moffs"},
    {.opcode = 0xa2, .name = "mov", .operands = "moffs, al"},
    {.opcode = 0xa3, .name = "mov", .operands = "moffs, r{v}"},
    {.opcode = 0xe4, .name = "in", .operands = "al, imm8"},
    {.opcode = 0xe5, .name = "in", .operands = "r{v}, imm8"},
    {.opcode = 0xe6, .name = "out", .operands = "imm8, al"},
    {.opcode = 0xe7, .name = "out", .operands = "imm8, r{v}"},
    {.opcode = 0xec, .name = "in", .operands = "al, dx"},
    {.opcode = 0xed, .name = "in", .operands = "r{v}, dx"},
    {.opcode = 0xee, .name = "out", .operands = "dx, al"},
    {.opcode = 0xef, .name = "out", .operands = "dx, r{v}"},
    {.map = k0F, .opcode = 0x0b, .name = "ud2"},
    {.map = k0F, .opcode = 0x05, .name = "syscall"},
    {.map = k0F, .opcode = 0x06, .name = "clts"},
    {.map = k0F, .opcode = 0x07, .name = "sysret"},
    {.map = k0F, .opcode = 0x08, .name = "invd"},
    {.map = k0F, .opcode = 0x09, .name = "wbinvd"},
    {.map = k0F, .opcode = 0x20, .name = "mov", .operands = "r, cr"},
    {.map = k0F, .opcode = 0x21, .name = "mov", .operands = "r, dr"},
    {.map = k0F, .opcode = 0x22, .name = "mov", .operands = "cr, r"},
    {.map = k0F, .opcode = 0x23, .name = "mov", .operands = "dr, r"},
    {.map = k0F, .opcode = 0x30, .name = "wrmsr"},
    {.map = k0F, .opcode = 0x31, .name = "rdtsc"},
    {.map = k0F, .opcode = 0x32, .name = "rdmsr"},
    {.map = k0F, .opcode = 0x33, .name = "rdpmc"},
    {.map = k0F, .opcode = 0x34, .name = "sysenter"},
    {.map = k0F, .opcode = 0x35, .name = "sysexit"},
    {.map = k0F, .opcode = 0xa2, .name = "cpuid"},
    {.map = k0F, .opcode = 0xaa, .name = "rsm"},
    {.map = k0F, .opcode = 0x00, .ext = 0, .name = "sldt", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x00, .ext = 1, .name = "str", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x00, .ext = 2, .name = "lldt", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x00, .ext = 3, .name = "ltr", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x00, .ext = 4, .name = "verr", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x00, .ext = 5, .name = "verw", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x01, .ext = 0, .form = kReg, .rm = 1, .name = "vmcall"},
    {.map = k0F, .opcode = 0x01, .ext = 0, .form = kReg, .rm = 2, .name = "vmlaunch"},
    {.map = k0F, .opcode = 0x01, .ext = 0, .form = kReg, .rm = 3, .name = "vmresume"},
    {.map = k0F, .opcode = 0x01, .ext = 0, .form = kReg, .rm = 4, .name = "vmxoff"},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 0, .name = "monitor"},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 1, .name = "mwait"},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 2, .prefix = M::kF2,
     .name = "erets"},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kReg, .rm = 2, .prefix = M::kF3,
     .name = "eretu"},
    {.map = k0F, .opcode = 0x01, .ext = 2, .form = kReg, .rm = 1, .name = "xsetbv"},
    {.map = k0F, .opcode = 0x01, .ext = 2, .form = kReg, .rm = 5, .name = "xend"},
    {.map = k0F, .opcode = 0x01, .ext = 2, .form = kReg, .rm = 6, .name = "xtest"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 0, .name = "vmrun"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 1, .name = "vmmcall"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 2, .name = "vmload"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 3, .name = "vmsave"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 4, .name = "stgi"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 5, .name = "clgi"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 6, .name = "skinit"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kReg, .rm = 7, .name = "invlpga"},
    {.map = k0F, .opcode = 0x01, .ext = 5, .form = kReg, .rm = 6, .name = "rdpkru"},
    {.map = k0F, .opcode = 0x01, .ext = 5, .form = kReg, .rm = 7, .name = "wrpkru"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kReg, .rm = 0, .name = "swapgs"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kReg, .rm = 1, .name = "rdtscp"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kReg, .rm = 2, .name = "monitorx"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kReg, .rm = 3, .name = "mwaitx"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kReg, .rm = 4, .name = "clzero"},
    {.map = k0F, .opcode = 0x01, .ext = 0, .form = kMem, .name = "sgdt", .operands = "m"},
    {.map = k0F, .opcode = 0x01, .ext = 1, .form = kMem, .name = "sidt", .operands = "m"},
    {.map = k0F, .opcode = 0x01, .ext = 2, .form = kMem, .name = "lgdt", .operands = "m"},
    {.map = k0F, .opcode = 0x01, .ext = 3, .form = kMem, .name = "lidt", .operands = "m"},
    {.map = k0F, .opcode = 0x01, .ext = 4, .name = "smsw", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x01, .ext = 6, .name = "lmsw", .operands = "r/m16"},
    {.map = k0F, .opcode = 0x01, .ext = 7, .form = kMem, .name = "invlpg", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 0, .form = kMem, .prefix = M::kNone, .rex_w = 1,
     .name = "fxsave64", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 1, .form = kMem, .prefix = M::kNone, .rex_w = 1,
     .name = "fxrstor64", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 4, .form = kMem, .prefix = M::kNone, .rex_w = 1,
     .name = "xsave64", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 5, .form = kMem, .prefix = M::kNone, .rex_w = 1,
     .name = "xrstor64", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 6, .form = kMem, .prefix = M::kNone, .rex_w = 1,
     .name = "xsaveopt64", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 0, .form = kMem, .prefix = M::kNone,
     .name = "fxsave", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 1, .form = kMem, .prefix = M::kNone,
     .name = "fxrstor", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 2, .form = kMem, .prefix = M::kNone,
     .name = "ldmxcsr", .operands = "m32", .assist = h::ldmxcsr},
    {.map = k0F, .opcode = 0xae, .ext = 3, .form = kMem, .prefix = M::kNone,
     .name = "stmxcsr", .operands = "m32", .assist = h::stmxcsr},
    {.map = k0F, .opcode = 0xae, .ext = 4, .form = kMem, .prefix = M::kNone,
     .name = "xsave", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 5, .form = kMem, .prefix = M::kNone,
     .name = "xrstor", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 6, .form = kMem, .prefix = M::kNone,
     .name = "xsaveopt", .operands = "m"},
    {.map = k0F, .opcode = 0xae, .ext = 6, .form = kMem, .prefix = M::k66,
     .name = "clwb", .operands = "m8"},
    {.map = k0F, .opcode = 0xae, .ext = 7, .form = kMem, .prefix = M::kNone,
     .name = "clflush", .operands = "m8"},
    {.map = k0F, .opcode = 0xae, .ext = 7, .form = kMem, .prefix = M::k66,
     .name = "clflushopt", .operands = "m8"},
    {.map = k0F, .opcode = 0xae, .ext = 5, .form = kReg, .prefix = M::kNone, .name = "lfence"},
    {.map = k0F, .opcode = 0xae, .ext = 6, .form = kReg, .prefix = M::kNone, .name = "mfence"},
    {.map = k0F, .opcode = 0xae, .ext = 7, .form = kReg, .prefix = M::kNone, .name = "sfence"},
    {.map = k0F, .opcode = 0xae, .ext = 0, .form = kReg, .prefix = M::kF3,
     .name = "rdfsbase", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xae, .ext = 1, .form = kReg, .prefix = M::kF3,
     .name = "rdgsbase", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xae, .ext = 2, .form = kReg, .prefix = M::kF3,
     .name = "wrfsbase", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xae, .ext = 3, .form = kReg, .prefix = M::kF3,
     .name = "wrgsbase", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xc7, .ext = 3, .form = kMem, .rex_w = 1, .name = "xrstors64",
     .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 4, .form = kMem, .rex_w = 1, .name = "xsavec64",
     .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 5, .form = kMem, .rex_w = 1, .name = "xsaves64",
     .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 3, .form = kMem, .name = "xrstors", .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 4, .form = kMem, .name = "xsavec", .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 5, .form = kMem, .name = "xsaves", .operands = "m"},
    {.map = k0F, .opcode = 0xc7, .ext = 6, .form = kReg, .prefix = M::kNone,
     .name = "rdrand", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xc7, .ext = 7, .form = kReg, .prefix = M::kF3,
     .name = "rdpid", .operands = "r"},
    {.map = k0F, .opcode = 0xc7, .ext = 7, .form = kReg, .prefix = M::kNone,
     .name = "rdseed", .operands = "r{v}"},
    {.map = k0F, .opcode = 0xb0, .name = "cmpxchg", .operands = "r/m8, r8"},
    {.map = k0F, .opcode = 0xb1, .name = "cmpxchg", .operands = "r/m{v}, r{v}"},
    {.map = k0F, .opcode = 0xc0, .name = "xadd", .operands = "r/m8, r8"},
    {.map = k0F, .opcode = 0xc1, .name = "xadd", .operands = "r/m{v}, r{v}"},
    {.map = k0F, .opcode = 0x0d, .name = "prefetchw", .operands = "m8"},
    {.map = k0F, .opcode = 0x18, .name = "prefetch", .operands = "m8"},
    {.map = k0F, .opcode = 0x1f, .ext = 0, .name = "nop", .operands = "r/m{v}"},
    {.map = k0F38, .opcode = 0xf0, .prefix = M::kF2, .name = "crc32", .operands = "r32, r/m8"},
    {.map = k0F38, .opcode = 0xf1, .prefix = M::kF2, .name = "crc32",
     .operands = "r32, r/m{v}"},
    {.map = k0F38, .opcode = 0xf0, .name = "movbe", .operands = "r{v}, m{v}"},
    {.map = k0F38, .opcode = 0xf1, .name = "movbe", .operands = "m{v}, r{v}"},

    // ---- VEX ----
    {.vex = true, .map = k0F, .opcode = 0x77, .name = "vzeroupper/vzeroall"},
    {.vex = true, .map = k0F, .opcode = 0x6f, .prefix = M::k66, .name = "vmovdqa",
     .operands = "{x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x6f, .prefix = M::kF3, .name = "vmovdqu",
     .operands = "{x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x7f, .prefix = M::k66, .name = "vmovdqa",
     .operands = "{x}/m, {x}"},
    {.vex = true, .map = k0F, .opcode = 0x7f, .prefix = M::kF3, .name = "vmovdqu",
     .operands = "{x}/m, {x}"},
    {.vex = true, .map = k0F, .opcode = 0x10, .prefix = M::kNone, .name = "vmovups",
     .operands = "{x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x11, .prefix = M::kNone, .name = "vmovups",
     .operands = "{x}/m, {x}"},
    {.vex = true, .map = k0F, .opcode = 0x10, .prefix = M::k66, .name = "vmovupd",
     .operands = "{x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x11, .prefix = M::k66, .name = "vmovupd",
     .operands = "{x}/m, {x}"},
    {.vex = true, .map = k0F, .opcode = 0x28, .prefix = M::kNone, .name = "vmovaps",
     .operands = "{x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x29, .prefix = M::kNone, .name = "vmovaps",
     .operands = "{x}/m, {x}"},
    {.vex = true, .map = k0F, .opcode = 0xef, .prefix = M::k66, .name = "vpxor",
     .operands = "{x}, {x}, {x}/m"},
    {.vex = true, .map = k0F, .opcode = 0x57, .prefix = M::kNone, .name = "vxorps",
     .operands = "{x}, {x}, {x}/m"},
    {.vex = true, .map = k0F38, .opcode = 0xf2, .prefix = M::kNone, .name = "andn",
     .operands = "r{v}, r{v}, r/m{v}"},
    {.vex = true, .map = k0F38, .opcode = 0xf7, .prefix = M::kNone, .name = "bextr",
     .operands = "r{v}, r/m{v}, r{v}"},
    {.vex = true, .map = k0F38, .opcode = 0xf7, .prefix = M::k66, .name = "shlx",
     .operands = "r{v}, r/m{v}, r{v}"},
    {.vex = true, .map = k0F38, .opcode = 0xf7, .prefix = M::kF3, .name = "sarx",
     .operands = "r{v}, r/m{v}, r{v}"},
    {.vex = true, .map = k0F38, .opcode = 0xf7, .prefix = M::kF2, .name = "shrx",
     .operands = "r{v}, r/m{v}, r{v}"},
    {.vex = true, .map = k0F3A, .opcode = 0xf0, .prefix = M::kF2, .name = "rorx",
     .operands = "r{v}, r/m{v}, imm8"},
};

Mandatory actual_prefix(const DecodedInsn& d) {
  if (d.is_vex_like()) {
    static constexpr Mandatory kPp[] = {M::kNone, M::k66, M::kF3, M::kF2};
    return kPp[d.vex.pp & 3];
  }
  if (d.prefixes.last_rep == 0xf3) return M::kF3;
  if (d.prefixes.last_rep == 0xf2) return M::kF2;
  return d.prefixes.opsize ? M::k66 : M::kNone;
}

bool matches(const InsnSpec& s, const DecodedInsn& d) {
  const bool vex = d.vex.kind == VexKind::kVex2 || d.vex.kind == VexKind::kVex3;
  if (s.vex != vex || (!vex && d.is_vex_like())) return false;
  if (s.map != d.map || s.opcode != d.opcode) return false;
  if (s.ext >= 0 && (!d.has_modrm || d.ext() != s.ext)) return false;
  if (s.form == Form::kMem && (!d.has_modrm || d.mod == 3)) return false;
  if (s.form == Form::kReg && (!d.has_modrm || d.mod != 3)) return false;
  if (s.rm >= 0 && (!d.has_modrm || (d.modrm & 7) != s.rm)) return false;
  if (s.prefix != M::kAny && s.prefix != actual_prefix(d)) return false;
  const bool w = vex ? d.vex.w : d.rex_w();
  if (s.rex_w >= 0 && w != (s.rex_w == 1)) return false;
  return true;
}

}  // namespace

const InsnSpec* find_insn_spec(const DecodedInsn& insn) {
  for (const InsnSpec& s : kTable)
    if (matches(s, insn)) return &s;
  return nullptr;
}

}  // namespace vireo::arch::x86::emu
