#include "arch/x86/emulator/decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace vireo::arch::x86::emu {
namespace {

using Bytes = std::vector<uint8_t>;

DecodedInsn decode_ok(const Bytes& b, CpuMode mode = CpuMode::k64) {
  auto r = decode(b, mode);
  EXPECT_TRUE(r.ok()) << to_string(r.status) << ": " << (r.reason ? r.reason : "");
  return r.insn;
}

// ---- lengths over a table of encodings (checked against the SDM opcode maps) ----

struct LengthCase {
  CpuMode mode;
  Bytes bytes;
  int length;
  const char* what;
};

class DecoderLength : public ::testing::TestWithParam<LengthCase> {};

TEST_P(DecoderLength, MatchesEncoding) {
  const auto& c = GetParam();
  Bytes padded = c.bytes;
  // Trailing bytes must not be consumed.
  for (int i = 0; i < 4; ++i) padded.push_back(0x90);
  auto r = decode(padded, c.mode);
  ASSERT_TRUE(r.ok()) << c.what << ": " << to_string(r.status);
  EXPECT_EQ(r.insn.length, c.length) << c.what;
  EXPECT_EQ(r.insn.length, c.bytes.size()) << c.what;
}

constexpr auto k64 = CpuMode::k64;
constexpr auto k32 = CpuMode::k32;
constexpr auto k16 = CpuMode::k16;

INSTANTIATE_TEST_SUITE_P(
    Table, DecoderLength,
    ::testing::Values(
        LengthCase{k64, {0x90}, 1, "nop"},
        LengthCase{k64, {0xcc}, 1, "int3"},
        LengthCase{k64, {0xcd, 0x80}, 2, "int 0x80"},
        LengthCase{k64, {0xf1}, 1, "int1"},
        LengthCase{k64, {0x9b}, 1, "fwait"},
        LengthCase{k64, {0x0f, 0x01, 0xca}, 3, "clac"},
        LengthCase{k64, {0x0f, 0x01, 0xcb}, 3, "stac"},
        LengthCase{k64, {0x0f, 0x01, 0xd0}, 3, "xgetbv"},
        LengthCase{k64, {0xf3, 0x48, 0x0f, 0xb8, 0xc1}, 5, "popcnt rax, rcx"},
        LengthCase{k64, {0x66, 0xf3, 0x0f, 0xbd, 0x04, 0x24}, 6, "lzcnt ax, [rsp]"},
        LengthCase{k64, {0xf0, 0x48, 0x0f, 0xc7, 0x0e}, 5, "lock cmpxchg16b [rsi]"},
        LengthCase{k64, {0x0f, 0xc7, 0x4c, 0x24, 0x08}, 5, "cmpxchg8b [rsp+8]"},
        LengthCase{k64, {0x48, 0x0f, 0xae, 0x2f}, 4, "xrstor64 [rdi]"},
        LengthCase{k64, {0x0f, 0xae, 0xac, 0x24, 0x00, 0x01, 0x00, 0x00}, 8, "xrstor [rsp+256]"},
        LengthCase{k64, {0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, 10, "mov rax, imm64"},
        LengthCase{k64, {0xb8, 1, 2, 3, 4}, 5, "mov eax, imm32"},
        LengthCase{k64, {0x66, 0xb8, 1, 2}, 4, "mov ax, imm16"},
        LengthCase{k64, {0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff}, 7, "mov rax, simm32"},
        LengthCase{k64, {0x66, 0xc7, 0x00, 0x34, 0x12}, 5, "mov word [rax], imm16"},
        LengthCase{k64, {0xc7, 0x44, 0x24, 0x10, 1, 0, 0, 0}, 8, "mov dword [rsp+16], 1"},
        LengthCase{k64, {0xc7, 0x05, 0, 0, 0, 0, 1, 0, 0, 0}, 10, "mov dword [rip], 1"},
        LengthCase{k64, {0x48, 0x81, 0x84, 0x88, 0x00, 0x01, 0, 0, 0x10, 0, 0, 0}, 12, "add [rax+rcx*4+256], imm32"},
        LengthCase{k64, {0x83, 0x7d, 0xfc, 0x00}, 4, "cmp dword [rbp-4], 0"},
        LengthCase{k64, {0xf6, 0xc0, 0x01}, 3, "test al, 1"},
        LengthCase{k64, {0xf6, 0xd0}, 2, "not al"},
        LengthCase{k64, {0xf7, 0xc0, 1, 0, 0, 0}, 6, "test eax, 1"},
        LengthCase{k64, {0x66, 0xf7, 0xc0, 1, 0}, 5, "test ax, 1"},
        LengthCase{k64, {0xf7, 0xd8}, 2, "neg eax"},
        LengthCase{k64, {0xc8, 0x10, 0x00, 0x01}, 4, "enter 16, 1"},
        LengthCase{k64, {0xc2, 0x08, 0x00}, 3, "ret 8"},
        LengthCase{k64, {0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8}, 10, "mov rax, moffs64"},
        LengthCase{k64, {0x67, 0xa1, 1, 2, 3, 4}, 6, "mov eax, moffs32 (67)"},
        LengthCase{k64, {0xe8, 0, 0, 0, 0}, 5, "call rel32"},
        LengthCase{k64, {0x66, 0xe8, 0, 0, 0, 0}, 6, "call rel32 with 66 (Intel)"},
        LengthCase{k64, {0xeb, 0xfe}, 2, "jmp rel8"},
        LengthCase{k64, {0x0f, 0x84, 0, 0, 0, 0}, 6, "je rel32"},
        LengthCase{k64, {0x0f, 0x20, 0xc0}, 3, "mov rax, cr0"},
        LengthCase{k64, {0x0f, 0x22, 0x05}, 3, "mov cr0, rbp: ModRM.mod is ignored"},
        LengthCase{k64, {0x0f, 0x38, 0xf0, 0x06}, 4, "movbe eax, [rsi]"},
        LengthCase{k64, {0x66, 0x0f, 0x38, 0x00, 0x04, 0x24}, 6, "pshufb xmm0, [rsp]"},
        LengthCase{k64, {0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08}, 6, "palignr xmm0, xmm1, 8"},
        LengthCase{k64, {0x66, 0x0f, 0x70, 0xc1, 0x1b}, 5, "pshufd xmm0, xmm1, 0x1b"},
        LengthCase{k64, {0x0f, 0x0f, 0xc1, 0xb4}, 4, "3DNow! pfmul"},
        LengthCase{k64, {0x66, 0x0f, 0x78, 0xc0, 0x04, 0x08}, 6, "extrq xmm0, 4, 8"},
        LengthCase{k64, {0x0f, 0xba, 0xe0, 0x05}, 4, "bt eax, 5"},
        LengthCase{k64, {0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0}, 9, "mov rax, fs:0x28"},
        LengthCase{k64, {0x66, 0x66, 0x2e, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0}, 11, "nopw cs:[rax+rax]"},
        LengthCase{k64, {0xc5, 0xfe, 0x6f, 0x06}, 4, "vmovdqu ymm0, [rsi] (VEX2)"},
        LengthCase{k64, {0xc5, 0x7e, 0x7f, 0x44, 0x24, 0x20}, 6, "vmovdqu [rsp+32], ymm8"},
        LengthCase{k64, {0xc4, 0xe2, 0x7d, 0x18, 0x06}, 5, "vbroadcastss ymm0, [rsi] (VEX3)"},
        LengthCase{k64, {0xc4, 0xe3, 0x7d, 0x18, 0xc1, 0x01}, 6, "vinsertf128 (VEX3 + imm8)"},
        LengthCase{k64, {0xc5, 0xf8, 0x77}, 3, "vzeroupper"},
        LengthCase{k64, {0xc4, 0xe2, 0xf8, 0xf2, 0xc1}, 5, "andn rax, rax, rcx"},
        LengthCase{k64, {0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06}, 6, "vmovups zmm0, [rsi] (EVEX)"},
        LengthCase{k64, {0x62, 0xf1, 0x7c, 0x48, 0x10, 0x46, 0x01}, 7, "vmovups zmm0, [rsi+64] (EVEX disp8*N)"},
        LengthCase{k64, {0x62, 0xf3, 0x7d, 0x48, 0x0f, 0xc1, 0x04}, 7, "EVEX map 3 + imm8"},
        LengthCase{k64, {0x8f, 0xe9, 0x78, 0xe1, 0xc1}, 5, "XOP map 9"},
        LengthCase{k64, {0x8f, 0x00}, 2, "pop [rax] (not XOP)"},
        LengthCase{k32, {0x06}, 1, "push es"},
        LengthCase{k32, {0xce}, 1, "into"},
        LengthCase{k32, {0xd4, 0x0a}, 2, "aam"},
        LengthCase{k32, {0x40}, 1, "inc eax (no REX in 32-bit mode)"},
        LengthCase{k32, {0x8b, 0x05, 1, 2, 3, 4}, 6, "mov eax, [disp32] (no RIP-relative)"},
        LengthCase{k32, {0x66, 0xe8, 0, 0}, 4, "call rel16"},
        LengthCase{k32, {0x9a, 1, 2, 3, 4, 5, 6}, 7, "call far ptr16:32"},
        LengthCase{k32, {0x66, 0x9a, 1, 2, 3, 4}, 6, "call far ptr16:16"},
        LengthCase{k32, {0xa1, 1, 2, 3, 4}, 5, "mov eax, moffs32"},
        LengthCase{k32, {0x67, 0xa1, 1, 2}, 4, "mov eax, moffs16"},
        LengthCase{k32, {0x67, 0x8b, 0x06, 0x34, 0x12}, 5, "mov eax, [0x1234] (16-bit addressing)"},
        LengthCase{k32, {0xc5, 0xf8, 0x77}, 3, "vzeroupper in 32-bit mode"},
        LengthCase{k32, {0xc5, 0x06}, 2, "lds eax, [esi] (not VEX)"},
        LengthCase{k32, {0xc4, 0x06}, 2, "les eax, [esi] (not VEX)"},
        LengthCase{k32, {0x62, 0x06}, 2, "bound eax, [esi] (not EVEX)"},
        LengthCase{k32, {0x0f, 0xc7, 0x0e}, 3, "cmpxchg8b [esi]"},
        LengthCase{k16, {0x8b, 0x00}, 2, "mov ax, [bx+si]"},
        LengthCase{k16, {0x8b, 0x46, 0xfe}, 3, "mov ax, [bp-2]"},
        LengthCase{k16, {0x8b, 0x06, 0x34, 0x12}, 4, "mov ax, [0x1234]"},
        LengthCase{k16, {0x8b, 0x87, 0x00, 0x10}, 4, "mov ax, [bx+0x1000]"},
        LengthCase{k16, {0x67, 0x8b, 0x04, 0x24}, 4, "mov ax, [esp] (32-bit addressing)"},
        LengthCase{k16, {0x67, 0x8b, 0x05, 1, 2, 3, 4}, 7, "mov ax, [disp32]"},
        LengthCase{k16, {0xb8, 1, 2}, 3, "mov ax, imm16"},
        LengthCase{k16, {0x66, 0xb8, 1, 2, 3, 4}, 6, "mov eax, imm32"},
        LengthCase{k16, {0xe8, 0, 0}, 3, "call rel16"},
        LengthCase{k16, {0xea, 0, 0, 0, 0}, 5, "jmp far ptr16:16"},
        LengthCase{k16, {0xf3, 0x0f, 0xb8, 0xc1}, 4, "popcnt ax, cx"}));

// ---- fields ----

TEST(Decoder, PopcntRegisterFields) {
  auto d = decode_ok({0xf3, 0x48, 0x0f, 0xb8, 0xc1});
  EXPECT_EQ(d.map, OpcodeMap::k0F);
  EXPECT_EQ(d.opcode, 0xb8);
  EXPECT_TRUE(d.prefixes.rep);
  EXPECT_EQ(d.prefixes.last_rep, 0xf3);
  EXPECT_EQ(d.prefixes.rex, 0x48);
  EXPECT_EQ(d.prefixes.count, 2);
  EXPECT_TRUE(d.has_modrm);
  EXPECT_EQ(d.mod, 3);
  EXPECT_EQ(d.reg, kRax);
  EXPECT_EQ(d.rm, kRcx);
  EXPECT_FALSE(d.has_mem);
  EXPECT_EQ(d.operand_size, 8);
  EXPECT_EQ(d.address_size, 8);
  EXPECT_EQ(d.mode, CpuMode::k64);
  EXPECT_EQ((std::vector<uint8_t>(d.insn_bytes().begin(), d.insn_bytes().end())),
            (Bytes{0xf3, 0x48, 0x0f, 0xb8, 0xc1}));
}

TEST(Decoder, RexExtendsRegAndRm) {
  auto d = decode_ok({0xf3, 0x4d, 0x0f, 0xb8, 0xc1});  // popcnt r8, r9
  EXPECT_EQ(d.reg, kR8);
  EXPECT_EQ(d.rm, kR9);
  EXPECT_EQ(d.ext(), 0);
}

TEST(Decoder, SibBaseIndexScaleDisp8) {
  auto d = decode_ok({0x8b, 0x44, 0x8d, 0xf0});  // mov eax, [rbp+rcx*4-16]
  ASSERT_TRUE(d.has_mem);
  EXPECT_TRUE(d.has_sib);
  EXPECT_EQ(d.mem.base, kRbp);
  EXPECT_EQ(d.mem.index, kRcx);
  EXPECT_EQ(d.mem.scale, 4);
  EXPECT_EQ(d.mem.disp, -16);
  EXPECT_EQ(d.disp_size, 1);
  EXPECT_EQ(d.mem.segment, SegReg::kSs);  // rbp base: stack segment
}

TEST(Decoder, SibR12BaseAndRexXIndex) {
  auto d = decode_ok({0xf3, 0x4d, 0x0f, 0xb8, 0x04, 0x24});  // popcnt r8, [r12]
  EXPECT_EQ(d.mem.base, kR12);
  EXPECT_EQ(d.mem.index, -1);
  EXPECT_EQ(d.mem.segment, SegReg::kDs);  // r12 is not rsp
  auto x = decode_ok({0x42, 0x8b, 0x04, 0x08});  // mov eax, [rax+r9]
  EXPECT_EQ(x.mem.base, kRax);
  EXPECT_EQ(x.mem.index, kR9);
  auto r12 = decode_ok({0x4a, 0x8b, 0x04, 0x20});  // mov rax, [rax+r12]: index 100 + REX.X
  EXPECT_EQ(r12.mem.index, kR12);
  auto none = decode_ok({0x8b, 0x04, 0x20});  // index 100 without REX.X: no index
  EXPECT_EQ(none.mem.index, -1);
}

TEST(Decoder, SibWithoutBase) {
  auto d = decode_ok({0x8b, 0x04, 0x25, 0x78, 0x56, 0x34, 0x12});  // mov eax, [0x12345678]
  EXPECT_EQ(d.mem.base, -1);
  EXPECT_EQ(d.mem.index, -1);
  EXPECT_EQ(d.mem.disp, 0x12345678);
  EXPECT_FALSE(d.mem.rip_relative);
  // SIB base 101 with mod 00 has no base even with REX.B (r13 would need a displacement).
  auto b = decode_ok({0x41, 0x8b, 0x04, 0x25, 0, 0x10, 0, 0});
  EXPECT_EQ(b.mem.base, -1);
  EXPECT_EQ(b.mem.disp, 0x1000);
  // With mod 01, base 101 + REX.B is r13.
  auto r13 = decode_ok({0x41, 0x8b, 0x44, 0x25, 0x08});
  EXPECT_EQ(r13.mem.base, kR13);
  EXPECT_EQ(r13.mem.disp, 8);
}

TEST(Decoder, RipRelative) {
  auto d = decode_ok({0xf3, 0x0f, 0xb8, 0x05, 0xf0, 0xff, 0xff, 0xff});  // popcnt eax,[rip-16]
  EXPECT_TRUE(d.mem.rip_relative);
  EXPECT_EQ(d.mem.base, -1);
  EXPECT_EQ(d.mem.disp, -16);
  Regs regs;
  regs.rip = 0x1000;
  EXPECT_EQ(effective_address(d, regs), 0x1000u + 8 - 16);
  // REX.B does not turn RIP-relative into r13.
  auto b = decode_ok({0x41, 0x8b, 0x05, 0, 0, 0, 0});
  EXPECT_TRUE(b.mem.rip_relative);
  // 67: EIP-relative, truncated to 32 bits.
  auto e = decode_ok({0x67, 0x8b, 0x05, 0x10, 0, 0, 0});
  EXPECT_TRUE(e.mem.rip_relative);
  EXPECT_EQ(e.address_size, 4);
  regs.rip = 0x1'ffff'fff0;
  EXPECT_EQ(effective_address(e, regs), (0x1'ffff'fff0ull + 7 + 0x10) & 0xffffffff);
}

TEST(Decoder, EffectiveAddressBaseIndexScale) {
  auto d = decode_ok({0x48, 0x8b, 0x84, 0xc8, 0x00, 0x01, 0x00, 0x00});  // [rax+rcx*8+256]
  Regs regs;
  regs.gpr[kRax] = 0x1000;
  regs.gpr[kRcx] = 3;
  EXPECT_EQ(effective_address(d, regs), 0x1000u + 24 + 256);
}

TEST(Decoder, SegmentOverrides) {
  auto fs = decode_ok({0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0});
  EXPECT_EQ(fs.mem.segment, SegReg::kFs);
  ASSERT_TRUE(fs.prefixes.segment.has_value());
  EXPECT_EQ(*fs.prefixes.segment, SegReg::kFs);
  // CS/DS/ES/SS overrides are ignored in 64-bit mode but count in 32-bit mode.
  auto cs64 = decode_ok({0x2e, 0x8b, 0x00});
  EXPECT_EQ(cs64.mem.segment, SegReg::kDs);
  auto cs32 = decode_ok({0x2e, 0x8b, 0x00}, CpuMode::k32);
  EXPECT_EQ(cs32.mem.segment, SegReg::kCs);
  auto es32 = decode_ok({0x26, 0x8b, 0x04, 0x24}, CpuMode::k32);  // es:[esp]
  EXPECT_EQ(es32.mem.segment, SegReg::kEs);
  auto ss32 = decode_ok({0x8b, 0x04, 0x24}, CpuMode::k32);  // [esp]: SS by default
  EXPECT_EQ(ss32.mem.segment, SegReg::kSs);
}

TEST(Decoder, OperandSizePrefixes) {
  EXPECT_EQ(decode_ok({0x66, 0x89, 0xc8}).operand_size, 2);
  EXPECT_EQ(decode_ok({0x66, 0x48, 0x89, 0xc8}).operand_size, 8);  // REX.W beats 66
  auto late = decode_ok({0x48, 0x66, 0x89, 0xc8});  // REX before a legacy prefix is ignored
  EXPECT_EQ(late.prefixes.rex, 0);
  EXPECT_EQ(late.operand_size, 2);
  EXPECT_EQ(decode_ok({0x89, 0xc8}, CpuMode::k16).operand_size, 2);
  EXPECT_EQ(decode_ok({0x66, 0x89, 0xc8}, CpuMode::k16).operand_size, 4);
  EXPECT_EQ(decode_ok({0x66, 0x89, 0xc8}, CpuMode::k32).operand_size, 2);
  // Stack and branch instructions default to / are fixed at 64 bits.
  EXPECT_EQ(decode_ok({0x50}).operand_size, 8);
  EXPECT_EQ(decode_ok({0x66, 0x50}).operand_size, 2);
  EXPECT_EQ(decode_ok({0xff, 0x30}).operand_size, 8);        // push [rax]
  EXPECT_EQ(decode_ok({0xff, 0xd0}).operand_size, 8);        // call rax
  EXPECT_EQ(decode_ok({0x66, 0xff, 0xd0}).operand_size, 8);  // call rax, 66 ignored
  EXPECT_EQ(decode_ok({0xff, 0xc0}).operand_size, 4);        // inc eax
}

TEST(Decoder, AddressSizes) {
  EXPECT_EQ(decode_ok({0x8b, 0x00}).address_size, 8);
  EXPECT_EQ(decode_ok({0x67, 0x8b, 0x00}).address_size, 4);
  EXPECT_EQ(decode_ok({0x8b, 0x00}, CpuMode::k32).address_size, 4);
  EXPECT_EQ(decode_ok({0x67, 0x8b, 0x00}, CpuMode::k32).address_size, 2);
  EXPECT_EQ(decode_ok({0x8b, 0x00}, CpuMode::k16).address_size, 2);
  EXPECT_EQ(decode_ok({0x67, 0x8b, 0x00}, CpuMode::k16).address_size, 4);
}

TEST(Decoder, SixteenBitAddressingForms) {
  struct Form {
    uint8_t modrm;
    int8_t base, index;
    SegReg seg;
  };
  const Form forms[] = {
      {0x00, kRbx, kRsi, SegReg::kDs}, {0x01, kRbx, kRdi, SegReg::kDs},
      {0x02, kRbp, kRsi, SegReg::kSs}, {0x03, kRbp, kRdi, SegReg::kSs},
      {0x04, kRsi, -1, SegReg::kDs},   {0x05, kRdi, -1, SegReg::kDs},
      {0x46, kRbp, -1, SegReg::kSs},   {0x07, kRbx, -1, SegReg::kDs},
  };
  for (const auto& f : forms) {
    Bytes b{0x8b, f.modrm};
    if ((f.modrm >> 6) == 1) b.push_back(0x10);
    auto d = decode_ok(b, CpuMode::k16);
    EXPECT_EQ(d.mem.base, f.base) << int(f.modrm);
    EXPECT_EQ(d.mem.index, f.index) << int(f.modrm);
    EXPECT_EQ(d.mem.segment, f.seg) << int(f.modrm);
  }
  auto direct = decode_ok({0x8b, 0x06, 0x34, 0x12}, CpuMode::k16);
  EXPECT_EQ(direct.mem.base, -1);
  EXPECT_EQ(direct.mem.disp, 0x1234);
  EXPECT_EQ(direct.mem.segment, SegReg::kDs);
  // [bx+si+disp16] wraps at 64 KiB.
  auto wrap = decode_ok({0x8b, 0x80, 0x00, 0x80}, CpuMode::k16);
  Regs regs;
  regs.gpr[kRbx] = 0x9000;
  regs.gpr[kRsi] = 0x1000;
  EXPECT_EQ(wrap.mem.disp, -0x8000);
  EXPECT_EQ(effective_address(wrap, regs), (0x9000u + 0x1000 - 0x8000) & 0xffff);
  regs.gpr[kRbx] = 0xf000;
  EXPECT_EQ(effective_address(wrap, regs), (0xf000u + 0x1000 - 0x8000) & 0xffff);
}

TEST(Decoder, Immediates) {
  auto mov64 = decode_ok({0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11});
  EXPECT_EQ(mov64.imm_size, 8);
  EXPECT_EQ(mov64.imm, 0x1122334455667788ull);
  auto simm = decode_ok({0x48, 0xc7, 0xc0, 0xfe, 0xff, 0xff, 0xff});
  EXPECT_EQ(simm.imm_size, 4);
  EXPECT_EQ(simm.imm, 0xfffffffeull);
  EXPECT_EQ(simm.imm_signed(), -2);
  auto intn = decode_ok({0xcd, 0x80});
  EXPECT_EQ(intn.imm, 0x80u);
  EXPECT_EQ(intn.imm_size, 1);
  auto enter = decode_ok({0xc8, 0x10, 0x00, 0x01});
  EXPECT_EQ(enter.imm, 0x10u);
  EXPECT_EQ(enter.imm2, 1u);
  EXPECT_EQ(enter.imm2_size, 1);
  auto far = decode_ok({0xea, 0x78, 0x56, 0x34, 0x12, 0x08, 0x00}, CpuMode::k32);
  EXPECT_EQ(far.imm, 0x12345678u);
  EXPECT_EQ(far.imm2, 0x8u);
  auto moffs = decode_ok({0x48, 0xa1, 1, 0, 0, 0, 0, 0, 0, 0x80});
  EXPECT_TRUE(moffs.has_mem);
  EXPECT_EQ(static_cast<uint64_t>(moffs.mem.disp), 0x8000000000000001ull);
  EXPECT_EQ(moffs.imm_size, 0);
}

TEST(Decoder, MovCrIgnoresMod) {
  auto d = decode_ok({0x0f, 0x22, 0x05});
  EXPECT_EQ(d.length, 3);
  EXPECT_EQ(d.mod, 3);
  EXPECT_FALSE(d.has_mem);
  EXPECT_EQ(d.reg, 0);
  EXPECT_EQ(d.rm, kRbp);
}

TEST(Decoder, GroupOpcodeExtension) {
  auto d = decode_ok({0x4c, 0x0f, 0xc7, 0x0e});  // REX.WR: /1 stays /1
  EXPECT_EQ(d.ext(), 1);
  EXPECT_EQ(d.reg, 9);
  auto clac = decode_ok({0x0f, 0x01, 0xca});
  EXPECT_EQ(clac.mod, 3);
  EXPECT_EQ(clac.ext(), 1);
  EXPECT_EQ(clac.rm, 2);
}

TEST(Decoder, ThreeByteMaps) {
  auto d = decode_ok({0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08});
  EXPECT_EQ(d.map, OpcodeMap::k0F3A);
  EXPECT_EQ(d.opcode, 0x0f);
  EXPECT_EQ(d.imm, 8u);
  auto m = decode_ok({0x0f, 0x38, 0xf1, 0x06});
  EXPECT_EQ(m.map, OpcodeMap::k0F38);
  EXPECT_EQ(m.opcode, 0xf1);
}

TEST(Decoder, Vex2Fields) {
  auto d = decode_ok({0xc5, 0xfe, 0x6f, 0x06});  // vmovdqu ymm0, [rsi]
  EXPECT_EQ(d.vex.kind, VexKind::kVex2);
  EXPECT_TRUE(d.is_vex_like());
  EXPECT_EQ(d.map, OpcodeMap::k0F);
  EXPECT_EQ(d.opcode, 0x6f);
  EXPECT_EQ(d.vex.l, 1);
  EXPECT_EQ(d.vex.pp, 2);  // F3
  EXPECT_EQ(d.vex.vvvv, 0);
  EXPECT_EQ(d.mem.base, kRsi);
  auto r = decode_ok({0xc5, 0x7e, 0x7f, 0x44, 0x24, 0x20});  // VEX.R: ymm8
  EXPECT_EQ(r.reg, 8);
}

TEST(Decoder, Vex3Fields) {
  auto d = decode_ok({0xc4, 0x62, 0xf0, 0xf2, 0x04, 0x24});  // andn r8, rcx, [rsp] (W1)
  EXPECT_EQ(d.vex.kind, VexKind::kVex3);
  EXPECT_EQ(d.map, OpcodeMap::k0F38);
  EXPECT_TRUE(d.vex.w);
  EXPECT_EQ(d.vex.vvvv, kRcx);
  EXPECT_EQ(d.reg, kR8);
  EXPECT_EQ(d.operand_size, 8);
  EXPECT_EQ(d.mem.base, kRsp);
}

TEST(Decoder, EvexFields) {
  auto d = decode_ok({0x62, 0xf1, 0x7c, 0x48, 0x10, 0x06});
  EXPECT_EQ(d.vex.kind, VexKind::kEvex);
  EXPECT_EQ(d.vex.l, 2);
  EXPECT_EQ(d.map, OpcodeMap::k0F);
  EXPECT_EQ(d.opcode, 0x10);
}

TEST(Decoder, VexAfterLegacyPrefixIsInvalid) {
  for (uint8_t p : {0x66, 0xf2, 0xf3, 0xf0, 0x48}) {
    auto r = decode(Bytes{p, 0xc5, 0xf8, 0x77}, CpuMode::k64);
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << int(p);
  }
  // Segment and address-size prefixes are allowed.
  EXPECT_TRUE(decode(Bytes{0x67, 0xc5, 0xfe, 0x6f, 0x06}, CpuMode::k64).ok());
  EXPECT_EQ(decode(Bytes{0xc4, 0xe0, 0x7d, 0x18, 0x06}, CpuMode::k64).status,
            DecodeStatus::kInvalid);  // VEX map 0 is reserved
}

TEST(Decoder, InvalidIn64BitMode) {
  for (Bytes b : {Bytes{0x06}, Bytes{0x07}, Bytes{0x1e}, Bytes{0x27}, Bytes{0x37}, Bytes{0x60},
                  Bytes{0xce}, Bytes{0xd4, 0x0a}, Bytes{0xd6}, Bytes{0x9a, 0, 0, 0, 0, 0, 0},
                  Bytes{0x82, 0xc0, 0x01}}) {
    auto r = decode(b, CpuMode::k64);
    EXPECT_EQ(r.status, DecodeStatus::kInvalid) << int(b[0]);
    EXPECT_TRUE(decode(b, CpuMode::k32).ok()) << int(b[0]);
  }
}

TEST(Decoder, UnknownOpcodes) {
  for (Bytes b : {Bytes{0x0f, 0x04}, Bytes{0x0f, 0x0a}, Bytes{0x0f, 0x0c}, Bytes{0x0f, 0x36},
                  Bytes{0x0f, 0x39}, Bytes{0x0f, 0x7a}, Bytes{0x0f, 0xa6}, Bytes{0xff, 0xff}}) {
    auto r = decode(b, CpuMode::k64);
    EXPECT_EQ(r.status, DecodeStatus::kUnknownOpcode) << int(b[1]);
    EXPECT_NE(r.reason, nullptr);
  }
}

TEST(Decoder, TruncatedInput) {
  const Bytes full{0xf3, 0x48, 0x0f, 0xb8, 0x84, 0x24, 0x00, 0x01, 0x00, 0x00};
  ASSERT_TRUE(decode(full, CpuMode::k64).ok());
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = decode(std::span<const uint8_t>(full.data(), n), CpuMode::k64);
    EXPECT_EQ(r.status, DecodeStatus::kTruncated) << n;
    EXPECT_LE(r.insn.length, n);
  }
  EXPECT_EQ(decode(Bytes{0x48, 0xb8, 1, 2, 3}, CpuMode::k64).status, DecodeStatus::kTruncated);
  EXPECT_EQ(decode(Bytes{0xc4, 0xe2}, CpuMode::k64).status, DecodeStatus::kTruncated);
  EXPECT_EQ(decode(Bytes{0xc5}, CpuMode::k32).status, DecodeStatus::kTruncated);
  EXPECT_EQ(decode(Bytes{0x66, 0x66}, CpuMode::k64).status, DecodeStatus::kTruncated);
}

TEST(Decoder, FifteenByteLimit) {
  Bytes ok(14, 0x66);
  ok.push_back(0x90);  // 15 bytes: the longest legal instruction
  auto r = decode(ok, CpuMode::k64);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.insn.length, 15);

  Bytes too_long(15, 0x66);
  too_long.push_back(0x90);
  EXPECT_EQ(decode(too_long, CpuMode::k64).status, DecodeStatus::kTooLong);
  // Exactly the 15 bytes KVM reports, all prefixes: too long, not truncated.
  EXPECT_EQ(decode(Bytes(15, 0x66), CpuMode::k64).status, DecodeStatus::kTooLong);
  // Long because of displacement + immediate after 4 prefixes.
  Bytes big{0x66, 0x67, 0x2e, 0x3e, 0x48, 0xc7, 0x84, 0x24, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(decode(big, CpuMode::k64).status, DecodeStatus::kTooLong);
}

TEST(Decoder, NeverReadsPastInputOnRandomBytes) {
  std::mt19937_64 rng(12345);
  for (CpuMode mode : {CpuMode::k16, CpuMode::k32, CpuMode::k64}) {
    for (int i = 0; i < 20000; ++i) {
      size_t n = rng() % 17;
      // Heap copy of exactly n bytes so that a sanitizer sees any over-read.
      std::vector<uint8_t> b(n);
      for (auto& x : b) {
        uint64_t r = rng();
        x = (r % 4 == 0) ? std::array<uint8_t, 8>{0x0f, 0x66, 0xf3, 0xc4, 0xc5, 0x62, 0x48, 0x67}[r >> 8 & 7]
                         : static_cast<uint8_t>(r >> 16);
      }
      auto r = decode(b, mode);
      EXPECT_LE(r.insn.length, n);
      EXPECT_LE(r.insn.length, kMaxInsnLength);
      if (r.ok()) {
        EXPECT_GT(r.insn.length, 0);
        // A proper prefix of a decoded instruction is always truncated.
        auto t = decode(std::span<const uint8_t>(b.data(), r.insn.length - 1), mode);
        EXPECT_EQ(t.status, DecodeStatus::kTruncated);
      }
    }
  }
}

}  // namespace
}  // namespace vireo::arch::x86::emu
