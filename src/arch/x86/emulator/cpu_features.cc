#include "arch/x86/emulator/cpu_features.h"

#include <cpuid.h>

namespace vireo::arch::x86::emu {

namespace {
bool bit(uint32_t v, unsigned n) { return (v >> n) & 1; }
}  // namespace

CpuFeatures CpuFeatures::from_cpuid(const CpuidFn& cpuid) {
  CpuFeatures f;
  auto l0 = cpuid(0, 0);
  auto e0 = cpuid(0x80000000, 0);
  auto l1 = l0[0] >= 1 ? cpuid(1, 0) : std::array<uint32_t, 4>{};
  auto l7 = l0[0] >= 7 ? cpuid(7, 0) : std::array<uint32_t, 4>{};
  auto ld1 = l0[0] >= 0xd ? cpuid(0xd, 1) : std::array<uint32_t, 4>{};
  auto e1 = e0[0] >= 0x80000001 ? cpuid(0x80000001, 0) : std::array<uint32_t, 4>{};
  auto e8 = e0[0] >= 0x80000008 ? cpuid(0x80000008, 0) : std::array<uint32_t, 4>{};
  f.popcnt = bit(l1[2], 23);
  f.cx16 = bit(l1[2], 13);
  f.xsave = bit(l1[2], 26);
  f.cx8 = bit(l1[3], 8);
  f.sse = bit(l1[3], 25);
  f.bmi1 = bit(l7[1], 3);
  f.smap = bit(l7[1], 20);
  f.xgetbv1 = bit(ld1[0], 2);
  f.lzcnt = bit(e1[2], 5);
  f.gbpages = bit(e1[3], 26);
  f.maxphyaddr = (e8[0] & 0xff) ? static_cast<uint8_t>(e8[0] & 0xff) : 36;
  f.mxcsr_mask = host_mxcsr_mask();
  return f;
}

uint32_t CpuFeatures::host_mxcsr_mask() {
  alignas(16) static thread_local uint8_t area[512];
  __builtin_memset(area, 0, sizeof area);
  __asm__ volatile("fxsave %0" : "=m"(area));
  uint32_t mask = 0;
  __builtin_memcpy(&mask, area + 28, sizeof mask);
  return mask ? mask : 0xffbf;
}

CpuFeatures CpuFeatures::host() {
  return from_cpuid([](uint32_t function, uint32_t index) {
    std::array<uint32_t, 4> r{};
    __cpuid_count(function, index, r[0], r[1], r[2], r[3]);
    return r;
  });
}

}  // namespace vireo::arch::x86::emu
