// Loading an ELF64 x86-64 executable (a vmlinux, or a PVH test guest) into guest memory.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// Xen ELF note type carrying the 32-bit PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY).
inline constexpr uint32_t kXenElfNotePhys32Entry = 18;

struct ElfKernel {
  uint64_t entry = 0;                 // e_entry (vmlinux: physical address of startup_64)
  std::optional<uint64_t> pvh_entry;  // from a "Xen" note of type 18, always < 4 GiB
  uint64_t image_start = 0;           // lowest guest address loaded
  uint64_t image_end = 0;             // one past the highest guest address loaded (memsz)
};

// True if `image` starts with the ELF magic (whatever its class or machine).
bool is_elf(std::span<const uint8_t> image);

// Validates the ELF header (ELF64, little endian, EM_X86_64, ET_EXEC) and copies every
// PT_LOAD segment to guest memory at p_paddr, zero-filling p_memsz beyond p_filesz.
// Segments must lie in guest RAM at or above 1 MiB. The PVH entry is looked up in
// PT_NOTE segments, then in SHT_NOTE sections. A malformed file fails with an Error
// starting "not a kernel: "; nothing outside `image` is ever read.
Result<ElfKernel> load_elf(const memory::GuestMemory& mem, std::span<const uint8_t> image);

}  // namespace vireo::arch::x86
