#include "arch/x86/boot_params.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {
namespace {

using memory::GuestMemory;

constexpr uint64_t kMiB = 1 << 20;

GuestMemory make_mem(std::vector<GuestMemory::RangeSpec> ranges = {{0, 64 * kMiB}}) {
  auto m = GuestMemory::create(ranges);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

template <class T>
T at(const std::vector<uint8_t>& page, size_t off) {
  T v;
  std::memcpy(&v, page.data() + off, sizeof(T));
  return v;
}

std::vector<uint8_t> zero_page(const GuestMemory& mem) {
  std::vector<uint8_t> page(4096);
  EXPECT_TRUE(mem.read(layout::kZeroPage, page).ok());
  return page;
}

// A setup header as a bzImage would carry it.
SetupHeader bz_header() {
  SetupHeader h{};
  h.setup_sects = 27;
  h.syssize = 0x12345;
  h.boot_flag = 0xaa55;
  h.jump = 0x6aeb;
  h.header = 0x53726448;
  h.version = 0x020f;
  h.loadflags = kLoadedHigh;
  h.code32_start = 0x100000;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.relocatable_kernel = 1;
  h.min_alignment = 21;
  h.xloadflags = kXlfKernel64;
  h.cmdline_size = 2047;
  h.payload_offset = 0x3a8;
  h.payload_length = 0x2fa000;
  h.pref_address = 0x1000000;
  h.init_size = 0x2000000;
  h.handover_offset = 0x190;
  h.kernel_info_offset = 0x2f4000;
  return h;
}

LoadedKernel bz_kernel() {
  LoadedKernel k;
  k.protocol = BootProtocol::kLinux64;
  k.entry = 0x1000200;
  k.image_start = 0x1000000;
  k.image_end = 0x3000000;
  k.setup_header = bz_header();
  k.format = "bzImage (protocol 2.15)";
  return k;
}

BootInfo sample_info() {
  BootInfo info;
  info.cmdline_gpa = layout::kCmdline;
  info.cmdline_size = 20;
  info.initrd_gpa = 0x3c00000;
  info.initrd_size = 0x123456;
  info.rsdp_gpa = 0xe0000;
  info.e820 = build_e820(64 * kMiB);
  return info;
}

TEST(BootParams, LayoutMatchesTheZeroPageAbi) {
  EXPECT_EQ(sizeof(BootParams), 4096u);
  EXPECT_EQ(offsetof(BootParams, hdr), 0x1f1u);
  EXPECT_EQ(offsetof(BootParams, hdr) + offsetof(SetupHeader, cmd_line_ptr), 0x228u);
  EXPECT_EQ(offsetof(BootParams, hdr) + offsetof(SetupHeader, ramdisk_image), 0x218u);
  EXPECT_EQ(offsetof(BootParams, e820_table), 0x2d0u);
}

TEST(BootParams, BzImageHeaderIsCopiedAndLoaderFieldsSet) {
  auto mem = make_mem();
  auto k = bz_kernel();
  auto info = sample_info();
  ASSERT_TRUE(write_linux_boot_params(mem, k, info).ok());
  auto p = zero_page(mem);

  // The kernel's own header, except the fields a loader writes.
  SetupHeader expect = bz_header();
  expect.type_of_loader = 0xff;
  expect.loadflags = kLoadedHigh | kCanUseHeap;
  expect.heap_end_ptr = 0xfe00;
  expect.cmd_line_ptr = layout::kCmdline;
  expect.ramdisk_image = 0x3c00000;
  expect.ramdisk_size = 0x123456;
  EXPECT_EQ(std::memcmp(p.data() + 0x1f1, &expect, sizeof(expect)), 0);

  // Byte for byte at the documented offsets.
  EXPECT_EQ(p[0x1f1], 27);                              // setup_sects
  EXPECT_EQ(at<uint16_t>(p, 0x1fe), 0xaa55);            // boot_flag
  EXPECT_EQ(at<uint32_t>(p, 0x202), 0x53726448u);       // "HdrS"
  EXPECT_EQ(at<uint16_t>(p, 0x206), 0x020f);            // version
  EXPECT_EQ(p[0x210], 0xff);                            // type_of_loader
  EXPECT_EQ(p[0x211], 0x81);                            // LOADED_HIGH | CAN_USE_HEAP
  EXPECT_EQ(at<uint32_t>(p, 0x218), 0x3c00000u);        // ramdisk_image
  EXPECT_EQ(at<uint32_t>(p, 0x21c), 0x123456u);         // ramdisk_size
  EXPECT_EQ(at<uint16_t>(p, 0x224), 0xfe00);            // heap_end_ptr
  EXPECT_EQ(at<uint32_t>(p, 0x228), 0x20000u);          // cmd_line_ptr
  EXPECT_EQ(at<uint32_t>(p, 0x22c), 0x7fffffffu);       // initrd_addr_max (kernel's)
  EXPECT_EQ(at<uint32_t>(p, 0x230), 0x200000u);         // kernel_alignment (kernel's)
  EXPECT_EQ(at<uint32_t>(p, 0x238), 2047u);             // cmdline_size (kernel's)
  EXPECT_EQ(at<uint64_t>(p, 0x258), 0x1000000u);        // pref_address
  EXPECT_EQ(at<uint32_t>(p, 0x260), 0x2000000u);        // init_size
  EXPECT_EQ(at<uint64_t>(p, 0x070), 0xe0000u);          // acpi_rsdp_addr
  EXPECT_EQ(at<uint32_t>(p, 0x0c0), 0u);                // ext_ramdisk_image
  EXPECT_EQ(at<uint32_t>(p, 0x0c4), 0u);                // ext_ramdisk_size
  EXPECT_EQ(at<uint32_t>(p, 0x0c8), 0u);                // ext_cmd_line_ptr
  EXPECT_EQ(p[0x1ef], 0);                               // sentinel stays clear

  // e820: count at 0x1e8, 20-byte entries from 0x2d0.
  ASSERT_EQ(p[0x1e8], info.e820.size());
  for (size_t i = 0; i < info.e820.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(at<uint64_t>(p, 0x2d0 + 20 * i), info.e820[i].addr);
    EXPECT_EQ(at<uint64_t>(p, 0x2d0 + 20 * i + 8), info.e820[i].size);
    EXPECT_EQ(at<uint32_t>(p, 0x2d0 + 20 * i + 16), static_cast<uint32_t>(info.e820[i].type));
  }
  EXPECT_EQ(at<uint64_t>(p, 0x2d0 + 20 * info.e820.size()), 0u);

  // Everything outside the fields we set is zero.
  for (size_t i = 0; i < 0x1e8; ++i) {
    if (i >= 0x70 && i < 0x78) continue;  // acpi_rsdp_addr
    ASSERT_EQ(p[i], 0) << std::hex << i;
  }
  for (size_t i = 0x26c; i < 0x2d0; ++i) ASSERT_EQ(p[i], 0) << std::hex << i;
  for (size_t i = 0x2d0 + 20 * info.e820.size(); i < 4096; ++i) ASSERT_EQ(p[i], 0) << i;
}

TEST(BootParams, VmlinuxGetsMinimalHeader) {
  auto mem = make_mem();
  LoadedKernel k;
  k.protocol = BootProtocol::kLinux64;
  k.entry = 0x1000000;
  k.image_start = 0x1000000;
  k.image_end = 0x2000000;
  BootInfo info;
  info.cmdline_gpa = layout::kCmdline;
  info.cmdline_size = 1;
  info.e820 = build_e820(64 * kMiB);
  ASSERT_TRUE(write_linux_boot_params(mem, k, info).ok());
  auto p = zero_page(mem);
  EXPECT_EQ(at<uint16_t>(p, 0x1fe), 0xaa55);
  EXPECT_EQ(at<uint32_t>(p, 0x202), 0x53726448u);
  EXPECT_EQ(at<uint16_t>(p, 0x206), 0x020f);
  EXPECT_EQ(p[0x210], 0xff);
  EXPECT_EQ(p[0x211] & 0x81, 0x81);
  EXPECT_EQ(at<uint32_t>(p, 0x228), 0x20000u);
  EXPECT_EQ(at<uint32_t>(p, 0x230), 0x1000000u);
  EXPECT_EQ(at<uint32_t>(p, 0x238), layout::kCmdlineMax - 1);
  EXPECT_EQ(at<uint32_t>(p, 0x218), 0u);  // no initrd
  EXPECT_EQ(at<uint32_t>(p, 0x21c), 0u);
  EXPECT_EQ(at<uint64_t>(p, 0x070), 0u);  // no RSDP given
  EXPECT_EQ(p[0x1e8], info.e820.size());
}

TEST(BootParams, HighAddressesUseExtFields) {
  LoadedKernel k;  // vmlinux
  BootInfo info;
  info.cmdline_gpa = 0x123456789ull;
  info.cmdline_size = 10;
  info.initrd_gpa = 0x200000000ull + 0x1000;
  info.initrd_size = 0x100000010ull;
  auto bp = build_linux_boot_params(k, info);
  ASSERT_TRUE(bp.ok()) << bp.error().message();
  EXPECT_EQ(bp->hdr.cmd_line_ptr, 0x23456789u);
  EXPECT_EQ(bp->ext_cmd_line_ptr, 1u);
  EXPECT_EQ(bp->hdr.ramdisk_image, 0x1000u);
  EXPECT_EQ(bp->ext_ramdisk_image, 2u);
  EXPECT_EQ(bp->hdr.ramdisk_size, 0x10u);
  EXPECT_EQ(bp->ext_ramdisk_size, 1u);
}

TEST(BootParams, CommandLineLongerThanKernelAcceptsIsRejected) {
  auto k = bz_kernel();
  auto info = sample_info();
  info.cmdline_size = 2048;  // 2047 characters + NUL: exactly the limit
  EXPECT_TRUE(build_linux_boot_params(k, info).ok());
  info.cmdline_size = 2049;
  auto r = build_linux_boot_params(k, info);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "command line of 2048 bytes is longer than the kernel accepts (2047 bytes)");
}

TEST(BootParams, InitrdAboveKernelLimitIsRejected) {
  auto k = bz_kernel();
  auto info = sample_info();
  info.initrd_gpa = 0x7ff00000;
  info.initrd_size = 0x100000;  // last byte 0x7fffffff: allowed
  EXPECT_TRUE(build_linux_boot_params(k, info).ok());
  info.initrd_size = 0x100001;
  EXPECT_FALSE(build_linux_boot_params(k, info).ok());
  k.setup_header->xloadflags |= kXlfCanBeLoadedAbove4G;
  EXPECT_TRUE(build_linux_boot_params(k, info).ok());
}

TEST(BootParams, TooManyE820EntriesIsAnError) {
  LoadedKernel k;
  BootInfo info;
  info.e820.assign(129, E820Entry{0, 4096, E820Type::kRam});
  EXPECT_FALSE(build_linux_boot_params(k, info).ok());
  info.e820.resize(128);
  auto bp = build_linux_boot_params(k, info);
  ASSERT_TRUE(bp.ok());
  EXPECT_EQ(bp->e820_entries, 128);
}

TEST(BootParams, ZeroPageOutsideMemoryIsAnError) {
  auto mem = make_mem({{0x100000, 16 * kMiB}});
  EXPECT_FALSE(write_linux_boot_params(mem, bz_kernel(), sample_info()).ok());
}

// --- initrd placement -------------------------------------------------------------------

TEST(PlaceInitrd, HighestPageAlignedAddressBelowRamTop) {
  auto mem = make_mem();
  const uint64_t size = kMiB + 123;
  auto r = place_initrd(mem, size, 0x7fffffff, 0x3000000);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r % 4096, 0u);
  EXPECT_LE(*r + size, 64 * kMiB);
  EXPECT_EQ(*r, (64 * kMiB - size) & ~uint64_t{4095});
  EXPECT_GE(*r, 0x3000000u);
}

TEST(PlaceInitrd, HonoursInitrdAddrMax) {
  auto mem = make_mem();
  auto r = place_initrd(mem, 0x10000, 0x1ffffff, 0x1000000);  // highest byte 32 MiB - 1
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, 0x2000000u - 0x10000);
  // Unaligned limit: the end still stays at or below it.
  auto u = place_initrd(mem, 0x10000, 0x1fff7ff, 0x1000000);
  ASSERT_TRUE(u.ok());
  EXPECT_LE(*u + 0x10000 - 1, 0x1fff7ffu);
  EXPECT_EQ(*u % 4096, 0u);
}

TEST(PlaceInitrd, ZeroLimitMeansProtocolDefault) {
  auto mem = make_mem({{0, 1024 * kMiB}});
  auto r = place_initrd(mem, 0x1000, 0, 0x2000000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r + 0x1000, 0x38000000u);
}

TEST(PlaceInitrd, StaysBelowTheMmioHoleAnd4G) {
  // RAM below 3 GiB is 64 MiB here; RAM above 4 GiB must not be used.
  auto mem = make_mem({{0, 64 * kMiB}, {0x100000000ull, 64 * kMiB}});
  auto r = place_initrd(mem, 0x100000, 0xffffffff, 0x2000000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 64 * kMiB - 0x100000);
  auto big = place_initrd(mem, 0x100000, ~uint64_t{0}, 0x2000000);
  ASSERT_TRUE(big.ok());
  EXPECT_LT(*big, layout::kMmioHoleStart);
}

TEST(PlaceInitrd, DoesNotOverlapTheKernel) {
  auto mem = make_mem();
  // The kernel ends 64 KiB below the top of RAM: a 64 KiB initrd just fits.
  auto fits = place_initrd(mem, 0x10000, 0x7fffffff, 64 * kMiB - 0x10000);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(*fits, 64 * kMiB - 0x10000);
  auto r = place_initrd(mem, 0x10001, 0x7fffffff, 64 * kMiB - 0x10000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "initrd of 65537 bytes does not fit in guest memory");
}

TEST(PlaceInitrd, TooLargeIsAnError) {
  auto mem = make_mem();
  auto r = place_initrd(mem, 64 * kMiB, 0x7fffffff, 0x200000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "initrd of 67108864 bytes does not fit in guest memory");
  EXPECT_FALSE(place_initrd(mem, ~uint64_t{0}, 0x7fffffff, 0x200000).ok());
  EXPECT_FALSE(place_initrd(mem, 0, 0x7fffffff, 0x200000).ok());  // empty
}

TEST(PlaceInitrd, NeverBelowOneMegabyte) {
  auto mem = make_mem({{0, 2 * kMiB}});
  auto r = place_initrd(mem, kMiB, 0x7fffffff, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kMiB);
  EXPECT_FALSE(place_initrd(mem, kMiB + 1, 0x7fffffff, 0).ok());
}

}  // namespace
}  // namespace vireo::arch::x86
