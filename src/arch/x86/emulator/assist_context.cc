#include "arch/x86/emulator/assist_context.h"

#include <fmt/format.h>

#include "arch/x86/emulator/describe.h"

namespace vireo::arch::x86::emu {

void AssistContext::advance_rip() {
  uint64_t next = regs.rip + insn.length;
  switch (cpu_mode(sregs, regs.rflags)) {
    case CpuMode::k16: next &= 0xffff; break;
    case CpuMode::k32: next &= 0xffffffff; break;
    case CpuMode::k64: break;
  }
  regs.rip = next;
  regs.rflags &= ~kFlagRf;
}

AssistResult AssistContext::complete() {
  advance_rip();
  return Completed{(start_rflags_ & kFlagTf) != 0};
}

AssistResult AssistContext::software(uint8_t vector, SoftwareKind kind) {
  advance_rip();
  return InjectSoftware{vector, insn.length, kind};
}

AssistResult AssistContext::unsupported(const std::string& why) const {
  return Unsupported{fmt::format("{}: {}", describe(insn), why)};
}

AssistResult AssistContext::from_failure(const Failure& f) const {
  if (auto* e = std::get_if<Exception>(&f.what)) return *e;
  return unsupported(std::get<Error>(f.what).message());
}

uint64_t AssistContext::reg(unsigned n, unsigned size) const {
  return regs.gpr[n & 15] & size_mask(size);
}

void AssistContext::set_reg(unsigned n, unsigned size, uint64_t value) {
  uint64_t& r = regs.gpr[n & 15];
  if (size == 2)
    r = (r & ~0xffffull) | (value & 0xffff);
  else if (size == 1)
    r = (r & ~0xffull) | (value & 0xff);
  else
    r = value & size_mask(size);
}

Outcome<uint64_t> AssistContext::read_rm(unsigned size) {
  if (insn.mod == 3) return reg(insn.rm, size);
  uint64_t v = 0;
  VIREO_EMU_TRY(mem.read(insn.mem.segment, ea(),
                         std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), size)));
  return v;
}

}  // namespace vireo::arch::x86::emu
