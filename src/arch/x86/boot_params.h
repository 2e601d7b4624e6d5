// The Linux x86 "zero page" (struct boot_params) for the 64-bit boot protocol, the boot
// information shared with the PVH path, and initrd placement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "arch/x86/bzimage_loader.h"
#include "arch/x86/kernel_loader.h"
#include "arch/x86/memory_map.h"
#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// What the VMM placed in guest memory for the kernel; gpa 0 / size 0 mean "none".
struct BootInfo {
  uint64_t cmdline_gpa = 0;
  uint64_t cmdline_size = 0;  // including the NUL
  uint64_t initrd_gpa = 0;
  uint64_t initrd_size = 0;
  uint64_t rsdp_gpa = 0;
  std::vector<E820Entry> e820;
};

struct __attribute__((packed)) BootE820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};
static_assert(sizeof(BootE820Entry) == 20);

inline constexpr size_t kZeroPageE820Max = 128;

// struct boot_params (Documentation/arch/x86/zero-page.rst). Sub-structures we never fill
// (screen_info, EDID, EFI, EDD...) are kept as opaque bytes of the right size.
struct __attribute__((packed)) BootParams {
  uint8_t screen_info[0x40];         // 0x000
  uint8_t apm_bios_info[0x14];       // 0x040
  uint8_t pad2[4];                   // 0x054
  uint64_t tboot_addr;               // 0x058
  uint8_t ist_info[0x10];            // 0x060
  uint64_t acpi_rsdp_addr;           // 0x070
  uint8_t pad3[8];                   // 0x078
  uint8_t hd0_info[16];              // 0x080
  uint8_t hd1_info[16];              // 0x090
  uint8_t sys_desc_table[16];        // 0x0a0
  uint8_t olpc_ofw_header[16];       // 0x0b0
  uint32_t ext_ramdisk_image;        // 0x0c0
  uint32_t ext_ramdisk_size;         // 0x0c4
  uint32_t ext_cmd_line_ptr;         // 0x0c8
  uint8_t pad4[112];                 // 0x0cc
  uint32_t cc_blob_address;          // 0x13c
  uint8_t edid_info[0x80];           // 0x140
  uint8_t efi_info[0x20];            // 0x1c0
  uint32_t alt_mem_k;                // 0x1e0
  uint32_t scratch;                  // 0x1e4
  uint8_t e820_entries;              // 0x1e8
  uint8_t eddbuf_entries;            // 0x1e9
  uint8_t edd_mbr_sig_buf_entries;   // 0x1ea
  uint8_t kbd_status;                // 0x1eb
  uint8_t secure_boot;               // 0x1ec
  uint8_t pad5[2];                   // 0x1ed
  uint8_t sentinel;                  // 0x1ef
  uint8_t pad6[1];                   // 0x1f0
  SetupHeader hdr;                   // 0x1f1
  uint8_t pad7[0x290 - 0x1f1 - sizeof(SetupHeader)];
  uint32_t edd_mbr_sig_buffer[16];   // 0x290
  BootE820Entry e820_table[kZeroPageE820Max];  // 0x2d0
  uint8_t pad8[48];                  // 0xcd0
  uint8_t eddbuf[0x1ec];             // 0xd00
  uint8_t pad9[276];                 // 0xeec
};
static_assert(sizeof(BootParams) == 4096);
static_assert(offsetof(BootParams, acpi_rsdp_addr) == 0x070);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_ramdisk_size) == 0x0c4);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, cc_blob_address) == 0x13c);
static_assert(offsetof(BootParams, alt_mem_k) == 0x1e0);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, edd_mbr_sig_buffer) == 0x290);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);
static_assert(offsetof(BootParams, eddbuf) == 0xd00);

// Values vireo puts in the setup header.
inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;  // "no assigned loader ID"
inline constexpr uint16_t kHeapEndPtr = 0xfe00;          // conventional setup heap end
// Minimal header for a plain vmlinux (no setup header of its own).
inline constexpr uint16_t kVmlinuxHeaderVersion = 0x020f;
inline constexpr uint32_t kVmlinuxKernelAlignment = 0x1000000;

// Default initrd_addr_max for kernels that do not state one (protocol < 2.03).
inline constexpr uint64_t kDefaultInitrdAddrMax = 0x37ffffff;

// Builds the zero page for `kernel` (its own setup header for a bzImage, a minimal one
// for a vmlinux): command line, initrd, RSDP, e820 and loader fields.
Result<BootParams> build_linux_boot_params(const LoadedKernel& kernel, const BootInfo& info);

// build_linux_boot_params, written at layout::kZeroPage.
Result<void> write_linux_boot_params(const memory::GuestMemory& mem, const LoadedKernel& kernel,
                                     const BootInfo& info);

// Picks where the initrd goes: the highest 4 KiB-aligned address such that the whole
// initrd lies below min(top of RAM under the 3 GiB MMIO hole, initrd_addr_max + 1) and at
// or above `kernel_end` (and 1 MiB). `initrd_addr_max` is the highest byte address the
// initrd may occupy (boot protocol semantics); 0 means kDefaultInitrdAddrMax.
// Fails with "initrd of N bytes does not fit in guest memory".
Result<uint64_t> place_initrd(const memory::GuestMemory& mem, uint64_t size,
                              uint64_t initrd_addr_max, uint64_t kernel_end);

}  // namespace vireo::arch::x86
