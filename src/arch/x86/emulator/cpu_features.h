// The guest CPU features that change what an assisted instruction does.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

namespace vireo::arch::x86::emu {

struct CpuFeatures {
  bool popcnt = true;   // CPUID.01H:ECX[23]; without it F3 0F B8 is #UD
  bool lzcnt = true;    // CPUID.80000001H:ECX[5] (ABM); without it F3 0F BD is BSR
  bool bmi1 = true;     // CPUID.07H.0:EBX[3]; without it F3 0F BC is BSF
  bool smap = true;     // CPUID.07H.0:EBX[20]; without it CLAC/STAC are #UD
  bool cx8 = true;      // CPUID.01H:EDX[8]; without it CMPXCHG8B is #UD
  bool cx16 = true;     // CPUID.01H:ECX[13]; without it CMPXCHG16B is #UD
  bool xsave = true;    // CPUID.01H:ECX[26]; without it XGETBV is #UD
  bool xgetbv1 = false; // CPUID.0DH.1:EAX[2]; XGETBV with ECX=1 (XINUSE)
  bool gbpages = true;  // CPUID.80000001H:EDX[26]; 1-GiB pages (else PDPTE.PS is reserved)
  uint8_t maxphyaddr = 48;  // CPUID.80000008H:EAX[7:0]

  // CPUID leaf query: (function, index) -> {eax, ebx, ecx, edx}; zeros if absent.
  using CpuidFn = std::function<std::array<uint32_t, 4>(uint32_t function, uint32_t index)>;
  // Features as a CPUID table describes them (e.g. the vCPU's KVM_SET_CPUID2 table).
  static CpuFeatures from_cpuid(const CpuidFn& cpuid);
  // Features of the CPU this process runs on. On hosts whose guests see the host's raw
  // CPUID at CPL 0 (nested KVM without VT-x), this is what the guest kernel sees.
  static CpuFeatures host();
};

}  // namespace vireo::arch::x86::emu
