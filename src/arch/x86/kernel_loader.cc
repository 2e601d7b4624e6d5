#include "arch/x86/kernel_loader.h"

#include <algorithm>

#include <fmt/format.h>

#include "arch/x86/elf_loader.h"
#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

Result<LoadedKernel> load_kernel(const memory::GuestMemory& mem,
                                 std::span<const uint8_t> image) {
  LoadedKernel out;
  if (is_elf(image)) {
    VIREO_ASSIGN_OR_RETURN(ElfKernel elf, load_elf(mem, image));
    out.image_start = elf.image_start;
    out.image_end = elf.image_end;
    if (elf.pvh_entry) {
      out.protocol = BootProtocol::kPvh;
      out.entry = *elf.pvh_entry;
      out.format = "ELF (PVH)";
    } else {
      if (elf.entry < elf.image_start || elf.entry >= elf.image_end)
        return Error(fmt::format(
            "not a kernel: ELF entry point {:#x} is outside the loaded image {:#x}..{:#x} "
            "(and there is no PVH entry note)",
            elf.entry, elf.image_start, elf.image_end));
      out.protocol = BootProtocol::kLinux64;
      out.entry = elf.entry;
      out.format = "ELF (64-bit entry)";
    }
    return out;
  }
  if (is_bzimage(image)) {
    VIREO_ASSIGN_OR_RETURN(BzImage bz, load_bzimage(mem, image));
    out.protocol = BootProtocol::kLinux64;
    out.entry = bz.entry;
    out.image_start = bz.load_addr;
    out.image_end = bz.image_end;
    out.setup_header = bz.header;
    out.format =
        fmt::format("bzImage (protocol {}.{:02})", bz.protocol >> 8, bz.protocol & 0xff);
    return out;
  }
  return Error("not a kernel: neither an ELF image nor a bzImage (no HdrS signature)");
}

uint64_t cmdline_capacity(const LoadedKernel& kernel) {
  if (!kernel.setup_header) return layout::kCmdlineMax;
  return std::min<uint64_t>(layout::kCmdlineMax, uint64_t{kernel.setup_header->cmdline_size} + 1);
}

}  // namespace vireo::arch::x86
