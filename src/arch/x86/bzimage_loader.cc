#include "arch/x86/bzimage_loader.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

namespace {

Error malformed(std::string_view why) { return Error(fmt::format("not a kernel: {}", why)); }

constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kHeaderEnd = kSetupHeaderOffset + sizeof(SetupHeader);
static_assert(kHeaderEnd == 0x26c);
// init_size ends here; a 2.12+ header must reach at least that far.
constexpr uint64_t kInitSizeEnd = kSetupHeaderOffset + offsetof(SetupHeader, init_size) + 4;

std::string protocol_string(uint16_t v) { return fmt::format("{}.{:02}", v >> 8, v & 0xff); }

}  // namespace

bool is_bzimage(std::span<const uint8_t> image) {
  if (image.size() < 0x206) return false;
  uint32_t magic;
  std::memcpy(&magic, image.data() + 0x202, sizeof(magic));
  return magic == kHdrSMagic;
}

Result<BzImage> parse_bzimage(std::span<const uint8_t> image) {
  if (!is_bzimage(image)) return malformed("no bzImage HdrS signature at offset 0x202");
  // The header's own length: the 2-byte jump at 0x200 skips over it.
  const uint64_t declared_end = 0x202 + uint64_t{image[0x201]};
  const uint64_t hdr_end = std::min(declared_end, kHeaderEnd);
  if (image.size() < hdr_end)
    return malformed(fmt::format("bzImage truncated inside its setup header ({} bytes)",
                                 image.size()));

  BzImage out;
  std::memcpy(&out.header, image.data() + kSetupHeaderOffset, hdr_end - kSetupHeaderOffset);
  const SetupHeader& h = out.header;
  out.protocol = h.version;
  if (h.boot_flag != kBootFlagMagic)
    return malformed(fmt::format("bzImage boot_flag is {:#06x}, not 0xaa55", uint16_t{h.boot_flag}));
  if (h.version < kMinBootProtocol)
    return malformed(fmt::format(
        "bzImage boot protocol {} is too old (2.12 or newer is needed for the 64-bit entry)",
        protocol_string(h.version)));
  if (hdr_end < kInitSizeEnd)
    return malformed(fmt::format("bzImage setup header ends at {:#x}, before init_size",
                                 hdr_end));
  if (!(h.xloadflags & kXlfKernel64))
    return malformed("bzImage has no 64-bit entry point (XLF_KERNEL_64 not set)");

  const uint64_t setup_sects = h.setup_sects == 0 ? 4 : h.setup_sects;
  out.kernel_offset = (setup_sects + 1) * kSectorSize;
  if (image.size() <= out.kernel_offset + kBzImage64BitEntryOffset)
    return malformed(fmt::format(
        "bzImage truncated: {} bytes, but the protected-mode kernel starts at {:#x}",
        image.size(), out.kernel_offset));
  out.kernel_size = image.size() - out.kernel_offset;
  if (uint64_t{h.syssize} * 16 > out.kernel_size)
    return malformed(fmt::format(
        "bzImage truncated: syssize says {:#x} bytes of kernel, the file has {:#x}",
        uint64_t{h.syssize} * 16, out.kernel_size));

  uint64_t load = h.pref_address >= layout::kHighMemStart ? h.pref_address
                                                          : layout::kHighMemStart;
  if (h.relocatable_kernel) {
    const uint64_t align = h.kernel_alignment;
    if (align == 0 || (align & (align - 1)) != 0)
      return malformed(fmt::format("bzImage kernel_alignment {:#x} is not a power of two",
                                   align));
    if (load > UINT64_MAX - align) return malformed("bzImage pref_address is out of range");
    load = (load + align - 1) & ~(align - 1);
  }
  const uint64_t span = std::max<uint64_t>(out.kernel_size, h.init_size);
  if (load > UINT64_MAX - span) return malformed("bzImage pref_address is out of range");
  out.load_addr = load;
  out.entry = load + kBzImage64BitEntryOffset;
  out.image_end = load + span;
  return out;
}

Result<BzImage> load_bzimage(const memory::GuestMemory& mem, std::span<const uint8_t> image) {
  VIREO_ASSIGN_OR_RETURN(BzImage bz, parse_bzimage(image));
  if (!mem.contains(bz.load_addr, bz.image_end - bz.load_addr))
    return Error(fmt::format(
        "kernel needs guest RAM at {:#x}..{:#x} (load address + init_size); "
        "is guest memory too small?",
        bz.load_addr, bz.image_end));
  // The rest of init_size is the kernel's own scratch space (it clears its bss itself).
  VIREO_TRY(mem.write(bz.load_addr, image.subspan(bz.kernel_offset, bz.kernel_size)));
  return bz;
}

}  // namespace vireo::arch::x86
