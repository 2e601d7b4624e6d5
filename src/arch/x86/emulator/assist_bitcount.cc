// POPCNT, LZCNT/BSR, TZCNT/BSF: register or memory source, 16/32/64-bit operands.
#include <bit>

#include "arch/x86/emulator/assist_handlers.h"

namespace vireo::arch::x86::emu::handlers {

namespace {

// The source operand, or the fault/error as the result.
struct Source {
  uint64_t value = 0;
  unsigned size = 0;
  std::optional<AssistResult> stop;
};

Source read_source(AssistContext& c) {
  Source s;
  s.size = c.insn.operand_size;
  auto v = c.read_rm(s.size);
  if (!v.ok()) s.stop = c.from_failure(v.failure());
  else s.value = v.value() & size_mask(s.size);
  return s;
}

bool f3(const AssistContext& c) { return c.insn.prefixes.last_rep == 0xf3; }

// BSF/BSR: ZF = (source == 0), destination unchanged then. CF, OF, SF, AF, PF are
// undefined and left unchanged.
AssistResult bit_scan(AssistContext& c, bool reverse) {
  Source s = read_source(c);
  if (s.stop) return *s.stop;
  c.set_flag(kFlagZf, s.value == 0);
  if (s.value != 0) {
    unsigned index = reverse ? 63 - std::countl_zero(s.value) : std::countr_zero(s.value);
    c.set_reg(c.insn.reg, s.size, index);
  }
  return c.complete();
}

// LZCNT/TZCNT: CF = (source == 0), ZF = (result == 0). OF, SF, AF, PF are undefined and
// left unchanged.
AssistResult bit_count(AssistContext& c, bool leading) {
  Source s = read_source(c);
  if (s.stop) return *s.stop;
  const unsigned bits = 8 * s.size;
  unsigned count;
  if (s.value == 0) count = bits;
  else if (leading) count = std::countl_zero(s.value) - (64 - bits);
  else count = std::countr_zero(s.value);
  c.set_flag(kFlagCf, s.value == 0);
  c.set_flag(kFlagZf, count == 0);
  c.set_reg(c.insn.reg, s.size, count);
  return c.complete();
}

}  // namespace

// F3 0F B8: count of set bits; ZF = (source == 0), OF SF AF CF PF cleared.
AssistResult popcnt(AssistContext& c) {
  if (!c.features.popcnt) return AssistContext::ud();
  Source s = read_source(c);
  if (s.stop) return *s.stop;
  c.regs.rflags &= ~kArithFlags;
  c.set_flag(kFlagZf, s.value == 0);
  c.set_reg(c.insn.reg, s.size, static_cast<uint64_t>(std::popcount(s.value)));
  return c.complete();
}

// F3 0F BC is TZCNT with BMI1; without it the F3 prefix is ignored: BSF.
AssistResult tzcnt_or_bsf(AssistContext& c) {
  if (f3(c) && c.features.bmi1) return bit_count(c, false);
  return bit_scan(c, false);
}

// F3 0F BD is LZCNT with LZCNT/ABM; without it the F3 prefix is ignored: BSR.
AssistResult lzcnt_or_bsr(AssistContext& c) {
  if (f3(c) && c.features.lzcnt) return bit_count(c, true);
  return bit_scan(c, true);
}

}  // namespace vireo::arch::x86::emu::handlers
