// The boot GDT vireo gives a vCPU and the segment registers that match it.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>

namespace vireo::arch::x86 {

// Selectors: the Linux 64-bit boot protocol requires __BOOT_CS = 0x10, __BOOT_DS = 0x18.
inline constexpr uint16_t kSelCode32 = 0x08;
inline constexpr uint16_t kSelCode64 = 0x10;
inline constexpr uint16_t kSelData = 0x18;
inline constexpr uint16_t kSelTss = 0x20;

// Packs a descriptor: base, 20-bit limit, flags = (G DB L AVL) << 12 | (P DPL S TYPE).
constexpr uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t(base) & 0xff000000u) << 32) | ((uint64_t(flags) & 0xf0ff) << 40) |
         ((uint64_t(limit) & 0x000f0000u) << 32) | ((uint64_t(base) & 0x00ffffffu) << 16) |
         (uint64_t(limit) & 0x0000ffffu);
}

// null, code32, code64, data, tss
std::array<uint64_t, 5> boot_gdt();

// Unpacks a descriptor into the form KVM_SET_SREGS takes.
kvm_segment segment_from_gdt(uint64_t entry, uint16_t selector);

}  // namespace vireo::arch::x86
