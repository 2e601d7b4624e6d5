#include "arch/x86/emulator/assist.h"

#include <algorithm>

#include <fmt/format.h>

#include "arch/x86/emulator/assist_context.h"
#include "arch/x86/emulator/describe.h"
#include "arch/x86/emulator/insn_table.h"

namespace vireo::arch::x86::emu {

namespace {
const char* mode_name(CpuMode m) {
  switch (m) {
    case CpuMode::k16: return "16-bit";
    case CpuMode::k32: return "32-bit";
    case CpuMode::k64: return "64-bit";
  }
  return "?";
}
}  // namespace

AssistResult assist(const DecodedInsn& insn, Regs& regs, SystemRegs& sregs,
                    GuestPhysMemory& mem, int cpl, const CpuFeatures& features) {
  const InsnSpec* spec = find_insn_spec(insn);
  if (!spec || !spec->assist) {
    const char* name = spec ? spec->name : "unknown instruction";
    return Unsupported{fmt::format("{} ({}) is not assisted [{}]", name, opcode_notation(insn),
                                   hex_bytes(insn.insn_bytes()))};
  }
  const CpuMode mode = cpu_mode(sregs, regs.rflags);
  if (insn.mode != mode)
    return Unsupported{fmt::format("{}: decoded as {} code but the vCPU is in {} mode",
                                   describe(insn), mode_name(insn.mode), mode_name(mode))};
  if (insn.prefixes.lock && !spec->lockable) return make_ud();
  AssistContext ctx(insn, regs, sregs, mem, cpl, features);
  return spec->assist(ctx);
}

AssistResult assist_bytes(std::span<const uint8_t> bytes, Regs& regs, SystemRegs& sregs,
                          GuestPhysMemory& mem, const CpuFeatures& features) {
  const CpuMode mode = cpu_mode(sregs, regs.rflags);
  DecodeResult d = decode(bytes, mode);
  switch (d.status) {
    case DecodeStatus::kOk:
      return assist(d.insn, regs, sregs, mem, current_cpl(sregs, regs.rflags), features);
    case DecodeStatus::kInvalid: return make_ud();
    case DecodeStatus::kTooLong: return make_gp0(sregs);
    default:
      return Unsupported{fmt::format("cannot decode {} instruction [{}]: {}", mode_name(mode),
                                     hex_bytes(bytes.first(std::min<size_t>(bytes.size(), 15))),
                                     d.reason ? d.reason : to_string(d.status))};
  }
}

const char* to_string(SoftwareKind k) {
  switch (k) {
    case SoftwareKind::kSoftException: return "soft exception";
    case SoftwareKind::kSoftInterrupt: return "soft interrupt";
    case SoftwareKind::kPrivilegedSoftException: return "privileged soft exception";
  }
  return "?";
}

std::string to_string(const AssistResult& r) {
  if (auto* c = std::get_if<Completed>(&r))
    return c->single_step_trap ? "completed (single-step #DB trap due)" : "completed";
  if (auto* e = std::get_if<InjectException>(&r)) return "inject " + to_string(*e);
  if (auto* s = std::get_if<InjectSoftware>(&r))
    return fmt::format("inject {} {:#x} (length {})", to_string(s->kind), s->vector, s->insn_len);
  return "unsupported: " + std::get<Unsupported>(r).reason;
}

}  // namespace vireo::arch::x86::emu
