#include "arch/x86/memory_map.h"

#include <algorithm>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

std::vector<memory::GuestMemory::RangeSpec> ram_ranges(uint64_t mem_size) {
  std::vector<memory::GuestMemory::RangeSpec> out;
  uint64_t low = std::min(mem_size, layout::kMmioHoleStart);
  out.push_back({0, low});
  if (mem_size > low) out.push_back({layout::kMmioHoleEnd, mem_size - low});
  return out;
}

std::vector<E820Entry> build_e820(uint64_t mem_size) {
  std::vector<E820Entry> out;
  uint64_t low = std::min(mem_size, layout::kMmioHoleStart);
  out.push_back({0, layout::kEbdaStart, E820Type::kRam});
  out.push_back({layout::kEbdaStart, layout::kLowRamEnd - layout::kEbdaStart,
                 E820Type::kReserved});
  out.push_back({layout::kAcpiStart, layout::kHighMemStart - layout::kAcpiStart,
                 E820Type::kReserved});
  if (low > layout::kHighMemStart)
    out.push_back({layout::kHighMemStart, low - layout::kHighMemStart, E820Type::kRam});
  if (mem_size > low) out.push_back({layout::kMmioHoleEnd, mem_size - low, E820Type::kRam});
  return out;
}

}  // namespace vireo::arch::x86
