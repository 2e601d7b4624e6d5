// The guest CPU state the instruction assist reads and updates: general registers,
// segment and control registers, and the processor mode derived from them.
#pragma once

#include <cstdint>

namespace vireo::arch::x86::emu {

// General registers in x86 encoding order: rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15.
enum Gpr : uint8_t {
  kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi,
  kR8, kR9, kR10, kR11, kR12, kR13, kR14, kR15,
};

struct Regs {
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  uint64_t rflags = 0x2;
};

// A segment register's hidden part, as KVM_GET_SREGS reports it: `limit` is in bytes
// (already scaled by the granularity bit), `type` is the 4-bit descriptor type.
struct Segment {
  uint64_t base = 0;
  uint32_t limit = 0xffff;
  uint16_t selector = 0;
  uint8_t type = 3;  // read/write data, accessed
  uint8_t dpl = 0;
  uint8_t db = 0;
  uint8_t l = 0;
  uint8_t present = 1;
  uint8_t unusable = 0;
};

// Segment register numbers in x86 encoding order (as in segment-override prefixes).
enum class SegReg : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs };

struct SystemRegs {
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
  Segment cs, ds, es, fs, gs, ss;
  uint64_t xcr0 = 1;
  // SSE control/status (part of the FPU state): read by STMXCSR, written by LDMXCSR.
  // The VMM fills it in (KVM_GET_FPU) only for those instructions.
  uint32_t mxcsr = 0x1f80;
};

const Segment& segment(const SystemRegs& s, SegReg seg);
const char* segment_name(SegReg seg);

// RFLAGS bits.
inline constexpr uint64_t kFlagCf = 1u << 0;
inline constexpr uint64_t kFlagPf = 1u << 2;
inline constexpr uint64_t kFlagAf = 1u << 4;
inline constexpr uint64_t kFlagZf = 1u << 6;
inline constexpr uint64_t kFlagSf = 1u << 7;
inline constexpr uint64_t kFlagTf = 1u << 8;
inline constexpr uint64_t kFlagIf = 1u << 9;
inline constexpr uint64_t kFlagDf = 1u << 10;
inline constexpr uint64_t kFlagOf = 1u << 11;
inline constexpr uint64_t kFlagIoplMask = 3u << 12;
inline constexpr unsigned kFlagIoplShift = 12;
inline constexpr uint64_t kFlagRf = 1u << 16;
inline constexpr uint64_t kFlagVm = 1u << 17;
inline constexpr uint64_t kFlagAc = 1u << 18;
inline constexpr uint64_t kArithFlags = kFlagCf | kFlagPf | kFlagAf | kFlagZf | kFlagSf | kFlagOf;

// Control register and EFER bits.
inline constexpr uint64_t kCr0Pe = 1u << 0;
inline constexpr uint64_t kCr0Mp = 1u << 1;
inline constexpr uint64_t kCr0Em = 1u << 2;
inline constexpr uint64_t kCr0Ts = 1u << 3;
inline constexpr uint64_t kCr0Wp = 1u << 16;
inline constexpr uint64_t kCr0Am = 1u << 18;
inline constexpr uint64_t kCr0Pg = 1u << 31;
inline constexpr uint64_t kCr4Vme = 1u << 0;
inline constexpr uint64_t kCr4Pse = 1u << 4;
inline constexpr uint64_t kCr4Pae = 1u << 5;
inline constexpr uint64_t kCr4Osfxsr = 1u << 9;
inline constexpr uint64_t kCr4La57 = 1u << 12;
inline constexpr uint64_t kCr4Osxsave = 1u << 18;
inline constexpr uint64_t kCr4Smep = 1u << 20;
inline constexpr uint64_t kCr4Smap = 1u << 21;
inline constexpr uint64_t kCr4Pke = 1u << 22;
inline constexpr uint64_t kEferLme = 1u << 8;
inline constexpr uint64_t kEferLma = 1u << 10;
inline constexpr uint64_t kEferNxe = 1u << 11;

// The code size the instruction decoder works in.
enum class CpuMode : uint8_t {
  k16,  // real mode, virtual-8086 mode, or a 16-bit code segment (D=0)
  k32,  // 32-bit code segment (D=1), protected or compatibility mode
  k64,  // 64-bit mode (EFER.LMA and CS.L)
};

// The execution state that decides the rules beyond code size.
enum class ExecState : uint8_t { kReal, kVirtual8086, kProtected, kCompatibility, kLong64 };

ExecState exec_state(const SystemRegs& s, uint64_t rflags);
CpuMode cpu_mode(const SystemRegs& s, uint64_t rflags);
// CPL as KVM reports it: 0 in real mode, 3 in virtual-8086 mode, else SS.DPL.
int current_cpl(const SystemRegs& s, uint64_t rflags);

}  // namespace vireo::arch::x86::emu
