// Assist handlers (assist-internal): each performs one instruction (or one family).
#pragma once

#include "arch/x86/emulator/assist_context.h"

namespace vireo::arch::x86::emu::handlers {

// assist_interrupts.cc
AssistResult int3(AssistContext& c);
AssistResult int_n(AssistContext& c);
AssistResult into(AssistContext& c);
AssistResult int1(AssistContext& c);
// assist_system.cc
AssistResult fwait(AssistContext& c);
AssistResult clac(AssistContext& c);
AssistResult stac(AssistContext& c);
AssistResult xgetbv(AssistContext& c);
AssistResult ldmxcsr(AssistContext& c);
AssistResult stmxcsr(AssistContext& c);
// assist_bitcount.cc
AssistResult popcnt(AssistContext& c);
AssistResult tzcnt_or_bsf(AssistContext& c);  // F3 0F BC, 0F BC
AssistResult lzcnt_or_bsr(AssistContext& c);  // F3 0F BD, 0F BD
// assist_cmpxchg.cc
AssistResult cmpxchg8b_16b(AssistContext& c);

}  // namespace vireo::arch::x86::emu::handlers
