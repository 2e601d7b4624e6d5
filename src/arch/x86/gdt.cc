#include "arch/x86/gdt.h"

namespace vireo::arch::x86 {

std::array<uint64_t, 5> boot_gdt() {
  return {
      0,
      gdt_entry(0xc09b, 0, 0xfffff),  // code32: G, D, P, S, execute/read, accessed
      gdt_entry(0xa09b, 0, 0xfffff),  // code64: G, L, P, S, execute/read, accessed
      gdt_entry(0xc093, 0, 0xfffff),  // data: G, B, P, S, read/write, accessed
      gdt_entry(0x808b, 0, 0xfffff),  // TSS: busy 32/64-bit TSS
  };
}

kvm_segment segment_from_gdt(uint64_t e, uint16_t selector) {
  kvm_segment s{};
  s.base = ((e >> 16) & 0xffffff) | (((e >> 56) & 0xff) << 24);
  uint32_t limit = static_cast<uint32_t>((e & 0xffff) | (((e >> 48) & 0xf) << 16));
  s.g = (e >> 55) & 1;
  s.limit = s.g ? (limit << 12) | 0xfff : limit;
  s.selector = selector;
  s.type = (e >> 40) & 0xf;
  s.present = (e >> 47) & 1;
  s.dpl = (e >> 45) & 3;
  s.db = (e >> 54) & 1;
  s.s = (e >> 44) & 1;
  s.l = (e >> 53) & 1;
  s.avl = (e >> 52) & 1;
  s.unusable = s.present ? 0 : 1;
  return s;
}

}  // namespace vireo::arch::x86
