// The guest CPU features that change what an assisted instruction does.
#pragma once

#include <array>
#include <cstdint>
#include <functional>

namespace vireo::arch::x86::emu {

struct CpuFeatures {
  bool sse = true;      // CPUID.01H:EDX[25]; without it LDMXCSR/STMXCSR are #UD
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
  uint32_t mxcsr_mask = 0xffff;  // MXCSR bits LDMXCSR accepts (FXSAVE's MXCSR_MASK)

  // CPUID leaf query: (function, index) -> {eax, ebx, ecx, edx}; zeros if absent.
  using CpuidFn = std::function<std::array<uint32_t, 4>(uint32_t function, uint32_t index)>;
  // Features as a CPUID table describes them (e.g. the vCPU's KVM_SET_CPUID2 table).
  static CpuFeatures from_cpuid(const CpuidFn& cpuid);
  // Features of the CPU this process runs on. On hosts whose guests see the host's raw
  // CPUID at CPL 0 (nested KVM without VT-x), this is what the guest kernel sees.
  static CpuFeatures host();
  // MXCSR_MASK of the CPU this process runs on (from FXSAVE; 0xffbf if it reports 0).
  // KVM guests run SSE on the real CPU, so this is their mask as well.
  static uint32_t host_mxcsr_mask();
};

}  // namespace vireo::arch::x86::emu
