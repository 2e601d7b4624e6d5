#include "arch/x86/emulator/cpu_state.h"

namespace vireo::arch::x86::emu {

const Segment& segment(const SystemRegs& s, SegReg seg) {
  switch (seg) {
    case SegReg::kEs: return s.es;
    case SegReg::kCs: return s.cs;
    case SegReg::kSs: return s.ss;
    case SegReg::kDs: return s.ds;
    case SegReg::kFs: return s.fs;
    case SegReg::kGs: return s.gs;
  }
  return s.ds;
}

const char* segment_name(SegReg seg) {
  static constexpr const char* kNames[] = {"es", "cs", "ss", "ds", "fs", "gs"};
  auto i = static_cast<unsigned>(seg);
  return i < 6 ? kNames[i] : "?";
}

ExecState exec_state(const SystemRegs& s, uint64_t rflags) {
  if (!(s.cr0 & kCr0Pe)) return ExecState::kReal;
  if (s.efer & kEferLma) return s.cs.l ? ExecState::kLong64 : ExecState::kCompatibility;
  if (rflags & kFlagVm) return ExecState::kVirtual8086;
  return ExecState::kProtected;
}

CpuMode cpu_mode(const SystemRegs& s, uint64_t rflags) {
  switch (exec_state(s, rflags)) {
    case ExecState::kReal:
    case ExecState::kVirtual8086: return CpuMode::k16;
    case ExecState::kLong64: return CpuMode::k64;
    default: return s.cs.db ? CpuMode::k32 : CpuMode::k16;
  }
}

int current_cpl(const SystemRegs& s, uint64_t rflags) {
  switch (exec_state(s, rflags)) {
    case ExecState::kReal: return 0;
    case ExecState::kVirtual8086: return 3;
    default: return s.ss.dpl & 3;
  }
}

}  // namespace vireo::arch::x86::emu
