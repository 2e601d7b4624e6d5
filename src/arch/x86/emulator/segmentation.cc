#include "arch/x86/emulator/segmentation.h"

namespace vireo::arch::x86::emu {

bool is_canonical(uint64_t la, bool la57) {
  unsigned bits = la57 ? 57 : 48;
  auto top = static_cast<int64_t>(la) >> (bits - 1);
  return top == 0 || top == -1;
}

Outcome<uint64_t> linear_address(const SystemRegs& s, uint64_t rflags, SegReg seg,
                                 uint64_t offset, uint32_t size, AccessType type) {
  const Exception fault = make_fault0(seg == SegReg::kSs ? kVectorSs : kVectorGp, s);
  const uint64_t last = size ? size - 1 : 0;
  const ExecState state = exec_state(s, rflags);

  if (state == ExecState::kLong64) {
    uint64_t base = (seg == SegReg::kFs || seg == SegReg::kGs) ? segment(s, seg).base : 0;
    uint64_t la = base + offset;
    bool la57 = s.cr4 & kCr4La57;
    if (!is_canonical(la, la57) || !is_canonical(la + last, la57)) return fault;
    return la;
  }

  const Segment& sg = segment(s, seg);
  const bool checked_types = state == ExecState::kProtected || state == ExecState::kCompatibility;
  if (checked_types) {
    if (sg.unusable || !sg.present) return fault;
    bool code = sg.type & 8;
    bool bit1 = sg.type & 2;  // code: readable; data: writable
    if (type == AccessType::kWrite && (code || !bit1)) return fault;
    if (type == AccessType::kRead && code && !bit1) return fault;
  }
  bool expand_down = !(sg.type & 8) && (sg.type & 4);
  if (expand_down) {
    uint64_t upper = sg.db ? 0xffffffffull : 0xffffull;
    if (offset <= sg.limit || offset + last > upper) return fault;
  } else if (offset + last > sg.limit) {
    return fault;
  }
  return (sg.base + offset) & 0xffffffffull;
}

}  // namespace vireo::arch::x86::emu
