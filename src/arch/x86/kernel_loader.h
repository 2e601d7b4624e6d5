// Loading a guest kernel: an ELF (vmlinux or PVH guest) or a bzImage, detected by content.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "arch/x86/bzimage_loader.h"
#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

enum class BootProtocol {
  kPvh,      // 32-bit protected mode, paging off, EBX = hvm_start_info (layout::kPvhStartInfo)
  kLinux64,  // 64-bit long mode, identity paging, RSI = boot_params (layout::kZeroPage)
};

struct LoadedKernel {
  BootProtocol protocol = BootProtocol::kLinux64;
  uint64_t entry = 0;        // PVH: 32-bit entry; Linux64: 64-bit entry
  uint64_t image_start = 0;  // guest range occupied by the kernel, [image_start, image_end)
  uint64_t image_end = 0;    // bzImage: includes init_size
  std::optional<SetupHeader> setup_header;  // bzImage only
  std::string format;  // "ELF (PVH)", "ELF (64-bit entry)", "bzImage (protocol 2.15)"
};

// Detects the format (ELF magic, else "HdrS" at 0x202) and loads the kernel into `mem`.
// An ELF with a Xen PHYS32_ENTRY note boots with PVH, anything else with the Linux
// 64-bit entry. Malformed images fail with "not a kernel: ...".
Result<LoadedKernel> load_kernel(const memory::GuestMemory& mem, std::span<const uint8_t> image);

// Most command line bytes (including the NUL) this kernel accepts in our cmdline area:
// min(layout::kCmdlineMax, setup_header.cmdline_size + 1) for a bzImage.
uint64_t cmdline_capacity(const LoadedKernel& kernel);

}  // namespace vireo::arch::x86
