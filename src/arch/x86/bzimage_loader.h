// Linux x86 boot protocol: parsing a bzImage's setup header and loading its protected-mode
// kernel for the 64-bit entry point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// struct setup_header of the boot protocol (Documentation/arch/x86/boot.rst), as found at
// offset 0x1f1 of a bzImage and of the zero page. Field names follow the kernel's.
struct __attribute__((packed)) SetupHeader {
  uint8_t setup_sects;
  uint16_t root_flags;
  uint32_t syssize;
  uint16_t ram_size;
  uint16_t vid_mode;
  uint16_t root_dev;
  uint16_t boot_flag;
  uint16_t jump;
  uint32_t header;
  uint16_t version;
  uint32_t realmode_swtch;
  uint16_t start_sys_seg;
  uint16_t kernel_version;
  uint8_t type_of_loader;
  uint8_t loadflags;
  uint16_t setup_move_size;
  uint32_t code32_start;
  uint32_t ramdisk_image;
  uint32_t ramdisk_size;
  uint32_t bootsect_kludge;
  uint16_t heap_end_ptr;
  uint8_t ext_loader_ver;
  uint8_t ext_loader_type;
  uint32_t cmd_line_ptr;
  uint32_t initrd_addr_max;
  uint32_t kernel_alignment;
  uint8_t relocatable_kernel;
  uint8_t min_alignment;
  uint16_t xloadflags;
  uint32_t cmdline_size;
  uint32_t hardware_subarch;
  uint64_t hardware_subarch_data;
  uint32_t payload_offset;
  uint32_t payload_length;
  uint64_t setup_data;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t handover_offset;
  uint32_t kernel_info_offset;
};

// Offset of the setup header in a bzImage and in struct boot_params.
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;

// Offsets are relative to the setup header; kSetupHeaderOffset + X is the documented one.
#define VIREO_HDR_AT(field, abs) \
  static_assert(offsetof(SetupHeader, field) == (abs) - kSetupHeaderOffset, #field)
VIREO_HDR_AT(setup_sects, 0x1f1);
VIREO_HDR_AT(syssize, 0x1f4);
VIREO_HDR_AT(boot_flag, 0x1fe);
VIREO_HDR_AT(jump, 0x200);
VIREO_HDR_AT(header, 0x202);
VIREO_HDR_AT(version, 0x206);
VIREO_HDR_AT(type_of_loader, 0x210);
VIREO_HDR_AT(loadflags, 0x211);
VIREO_HDR_AT(code32_start, 0x214);
VIREO_HDR_AT(ramdisk_image, 0x218);
VIREO_HDR_AT(ramdisk_size, 0x21c);
VIREO_HDR_AT(heap_end_ptr, 0x224);
VIREO_HDR_AT(cmd_line_ptr, 0x228);
VIREO_HDR_AT(initrd_addr_max, 0x22c);
VIREO_HDR_AT(kernel_alignment, 0x230);
VIREO_HDR_AT(relocatable_kernel, 0x234);
VIREO_HDR_AT(xloadflags, 0x236);
VIREO_HDR_AT(cmdline_size, 0x238);
VIREO_HDR_AT(hardware_subarch, 0x23c);
VIREO_HDR_AT(payload_offset, 0x248);
VIREO_HDR_AT(payload_length, 0x24c);
VIREO_HDR_AT(setup_data, 0x250);
VIREO_HDR_AT(pref_address, 0x258);
VIREO_HDR_AT(init_size, 0x260);
VIREO_HDR_AT(handover_offset, 0x264);
VIREO_HDR_AT(kernel_info_offset, 0x268);
#undef VIREO_HDR_AT
static_assert(sizeof(SetupHeader) == 0x26c - kSetupHeaderOffset);

inline constexpr uint16_t kBootFlagMagic = 0xaa55;
inline constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS" little endian
inline constexpr uint16_t kMinBootProtocol = 0x020c;  // 2.12: xloadflags, 64-bit entry

// loadflags
inline constexpr uint8_t kLoadedHigh = 1 << 0;
inline constexpr uint8_t kCanUseHeap = 1 << 7;
// xloadflags
inline constexpr uint16_t kXlfKernel64 = 1 << 0;
inline constexpr uint16_t kXlfCanBeLoadedAbove4G = 1 << 1;

// The 64-bit entry point is this far into the protected-mode kernel.
inline constexpr uint64_t kBzImage64BitEntryOffset = 0x200;

struct BzImage {
  // The image's setup header: bytes past its declared end (0x202 + byte at 0x201) are zero.
  SetupHeader header{};
  uint16_t protocol = 0;           // header.version, e.g. 0x020f
  uint64_t kernel_offset = 0;      // (setup_sects + 1) * 512: protected-mode kernel in file
  uint64_t kernel_size = 0;        // bytes from kernel_offset to the end of the file
  uint64_t load_addr = 0;          // where the protected-mode kernel goes in guest memory
  uint64_t entry = 0;              // load_addr + 0x200
  uint64_t image_end = 0;          // load_addr + max(kernel_size, init_size)
};

// True if `image` carries the "HdrS" boot protocol signature at 0x202.
bool is_bzimage(std::span<const uint8_t> image);

// Parses and validates the setup header and picks the load address (pref_address when it
// is at or above 1 MiB, else 1 MiB, aligned up to kernel_alignment for relocatable
// kernels). Requires protocol >= 2.12 and XLF_KERNEL_64. Does not touch guest memory.
Result<BzImage> parse_bzimage(std::span<const uint8_t> image);

// parse_bzimage, then checks [load_addr, image_end) is guest RAM and copies the
// protected-mode kernel there.
Result<BzImage> load_bzimage(const memory::GuestMemory& mem, std::span<const uint8_t> image);

}  // namespace vireo::arch::x86
