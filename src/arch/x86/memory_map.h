// Guest RAM ranges and the e820 map for a given memory size.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "memory/guest_memory.h"

namespace vireo::arch::x86 {

enum class E820Type : uint32_t { kRam = 1, kReserved = 2, kAcpi = 3, kNvs = 4 };

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  E820Type type;
};

// RAM ranges for `mem_size` bytes of guest RAM: [0, min(size, 3 GiB)) and, if larger,
// the remainder above 4 GiB (the 32-bit MMIO hole stays unbacked).
std::vector<memory::GuestMemory::RangeSpec> ram_ranges(uint64_t mem_size);

// The e820 map a guest sees: conventional memory below the EBDA, reserved EBDA and
// BIOS/ACPI area, RAM from 1 MiB, and RAM above 4 GiB; sorted by address. `reserved`
// adds ranges the guest must leave alone, such as PCI ECAM (Linux uses MMCONFIG only if
// it is reserved here): each is listed as kReserved whatever its type says. They must lie
// outside RAM and each other (asserted).
std::vector<E820Entry> build_e820(uint64_t mem_size,
                                  std::span<const E820Entry> reserved = {});

}  // namespace vireo::arch::x86
