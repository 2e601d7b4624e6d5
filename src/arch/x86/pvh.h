// The PVH boot ABI (Xen's hvm_start_info, also used by Linux under KVM) and the kernel
// command line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "arch/x86/boot_params.h"
#include "arch/x86/layout.h"
#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

inline constexpr uint32_t kHvmStartMagic = 0x336ec578;
inline constexpr uint32_t kHvmStartInfoVersion = 1;

struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;  // version 1+
  uint32_t memmap_entries;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 0x38);
static_assert(offsetof(HvmStartInfo, modlist_paddr) == 0x10);
static_assert(offsetof(HvmStartInfo, cmdline_paddr) == 0x18);
static_assert(offsetof(HvmStartInfo, rsdp_paddr) == 0x20);
static_assert(offsetof(HvmStartInfo, memmap_paddr) == 0x28);
static_assert(offsetof(HvmStartInfo, memmap_entries) == 0x30);

struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
static_assert(sizeof(HvmModlistEntry) == 32);

struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;  // same values as e820
  uint32_t reserved;
};
static_assert(sizeof(HvmMemmapEntry) == 24);

// The initrd's modlist entry sits right after the largest possible memmap.
inline constexpr uint64_t kPvhModlist =
    layout::kPvhMemmap + layout::kPvhMemmapMaxEntries * sizeof(HvmMemmapEntry);
static_assert(layout::kPvhStartInfo + sizeof(HvmStartInfo) <= layout::kPvhMemmap);
static_assert(kPvhModlist + sizeof(HvmModlistEntry) <= layout::kZeroPage);

// Writes hvm_start_info at layout::kPvhStartInfo, the e820 as its memmap at
// layout::kPvhMemmap and, when there is an initrd, one module at kPvhModlist.
Result<void> write_pvh_start_info(const memory::GuestMemory& mem, const BootInfo& info);

// Writes `cmdline` NUL-terminated at layout::kCmdline. `max` is the most bytes (including
// the NUL) the kernel accepts; the area itself holds layout::kCmdlineMax.
Result<void> write_cmdline(const memory::GuestMemory& mem, std::string_view cmdline,
                           uint64_t max);

}  // namespace vireo::arch::x86
