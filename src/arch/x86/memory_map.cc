#include "arch/x86/memory_map.h"

#include <algorithm>
#include <cassert>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

std::vector<memory::GuestMemory::RangeSpec> ram_ranges(uint64_t mem_size) {
  std::vector<memory::GuestMemory::RangeSpec> out;
  uint64_t low = std::min(mem_size, layout::kMmioHoleStart);
  out.push_back({0, low});
  if (mem_size > low) out.push_back({layout::kMmioHoleEnd, mem_size - low});
  return out;
}

std::vector<E820Entry> build_e820(uint64_t mem_size, std::span<const E820Entry> reserved) {
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
  for (const E820Entry& r : reserved)
    if (r.size != 0) out.push_back({r.addr, r.size, E820Type::kReserved});
  std::stable_sort(out.begin(), out.end(),
                   [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  for (size_t i = 1; i < out.size(); ++i)
    assert(out[i].addr >= out[i - 1].addr + out[i - 1].size && "e820 entries overlap");
  return out;
}

}  // namespace vireo::arch::x86
