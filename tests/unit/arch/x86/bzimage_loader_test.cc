#include "arch/x86/bzimage_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/real_kernels.h"
#include "util/file.h"

namespace vireo::arch::x86 {
namespace {

using memory::GuestMemory;

constexpr uint64_t kMiB = 1 << 20;

template <class T>
void put(std::vector<uint8_t>& buf, size_t off, T v) {
  std::memcpy(buf.data() + off, &v, sizeof(T));
}

// A synthetic bzImage: boot sector + setup sectors (with the setup header) + kernel.
struct BzBuilder {
  uint8_t setup_sects = 27;
  uint16_t version = 0x020f;
  uint16_t xloadflags = kXlfKernel64 | kXlfCanBeLoadedAbove4G;
  uint8_t relocatable = 1;
  uint32_t kernel_alignment = 0x200000;
  uint64_t pref_address = 0x1000000;
  uint32_t init_size = 0x800000;
  uint32_t cmdline_size = 2047;
  uint32_t initrd_addr_max = 0x7fffffff;
  uint8_t header_len = 0x6a;  // byte at 0x201: header ends at 0x26c (protocol 2.15)
  size_t kernel_bytes = 0x4000;
  uint32_t kernel_info_offset = 0x1234;

  uint64_t kernel_offset() const { return (uint64_t{setup_sects ? setup_sects : 4u} + 1) * 512; }

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> img(kernel_offset() + kernel_bytes);
    for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<uint8_t>(i * 13 + 5);
    img[0] = 'M';
    img[1] = 'Z';
    img[0x1f1] = setup_sects;
    put<uint32_t>(img, 0x1f4, static_cast<uint32_t>(kernel_bytes / 16));  // syssize
    put<uint16_t>(img, 0x1fe, 0xaa55);
    img[0x200] = 0xeb;  // jmp short over the header
    img[0x201] = header_len;
    put<uint32_t>(img, 0x202, 0x53726448);
    put<uint16_t>(img, 0x206, version);
    img[0x210] = 0;     // type_of_loader
    img[0x211] = 0x01;  // loadflags: LOADED_HIGH
    put<uint16_t>(img, 0x224, 0);
    put<uint32_t>(img, 0x228, 0);
    put<uint32_t>(img, 0x22c, initrd_addr_max);
    put<uint32_t>(img, 0x230, kernel_alignment);
    img[0x234] = relocatable;
    img[0x235] = 21;
    put<uint16_t>(img, 0x236, xloadflags);
    put<uint32_t>(img, 0x238, cmdline_size);
    put<uint32_t>(img, 0x23c, 0);
    put<uint64_t>(img, 0x240, 0);
    put<uint32_t>(img, 0x248, 0x3a8);    // payload_offset
    put<uint32_t>(img, 0x24c, 0x1000);   // payload_length
    put<uint64_t>(img, 0x250, 0);
    put<uint64_t>(img, 0x258, pref_address);
    put<uint32_t>(img, 0x260, init_size);
    put<uint32_t>(img, 0x264, 0x190);
    put<uint32_t>(img, 0x268, kernel_info_offset);
    return img;
  }
};

GuestMemory make_mem(uint64_t size) {
  auto m = GuestMemory::create({{0, size}});
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

void expect_not_a_kernel(const Result<BzImage>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind("not a kernel: ", 0), 0u) << r.error().message();
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
}

TEST(BzImageLoader, SetupHeaderLayout) {
  EXPECT_EQ(sizeof(SetupHeader), 0x7bu);
  EXPECT_EQ(offsetof(SetupHeader, header), 0x202u - 0x1f1u);
  EXPECT_EQ(offsetof(SetupHeader, pref_address), 0x258u - 0x1f1u);
}

TEST(BzImageLoader, ParsesGoodHeader) {
  BzBuilder b;
  auto img = b.build();
  EXPECT_TRUE(is_bzimage(img));
  auto r = parse_bzimage(img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->protocol, 0x020f);
  EXPECT_EQ(r->kernel_offset, 28u * 512);
  EXPECT_EQ(r->kernel_size, 0x4000u);
  EXPECT_EQ(r->load_addr, 0x1000000u);
  EXPECT_EQ(r->entry, 0x1000200u);
  EXPECT_EQ(r->image_end, 0x1000000u + 0x800000u);
  // The header is the file's bytes 0x1f1..0x26c.
  EXPECT_EQ(std::memcmp(&r->header, img.data() + 0x1f1, sizeof(SetupHeader)), 0);
  EXPECT_EQ(r->header.kernel_info_offset, 0x1234u);
  EXPECT_EQ(r->header.cmdline_size, 2047u);
  EXPECT_EQ(r->header.initrd_addr_max, 0x7fffffffu);
}

TEST(BzImageLoader, LoadsProtectedModeKernel) {
  BzBuilder b;
  auto img = b.build();
  auto mem = make_mem(32 * kMiB);
  auto r = load_bzimage(mem, img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::vector<uint8_t> got(b.kernel_bytes);
  ASSERT_TRUE(mem.read(0x1000000, got).ok());
  EXPECT_EQ(0, std::memcmp(got.data(), img.data() + b.kernel_offset(), got.size()));
  // Nothing of the setup code lands in guest memory.
  std::vector<uint8_t> low(0x1000);
  ASSERT_TRUE(mem.read(0x100000, low).ok());
  EXPECT_EQ(low, std::vector<uint8_t>(0x1000, 0));
}

TEST(BzImageLoader, InitSizeMustFitInRam) {
  BzBuilder b;
  b.init_size = 0x1800000;  // 16 MiB + 24 MiB > 32 MiB
  auto mem = make_mem(32 * kMiB);
  auto r = load_bzimage(mem, b.build());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("init_size"), std::string::npos) << r.error().message();
}

TEST(BzImageLoader, OldProtocolIsRejected) {
  BzBuilder b;
  b.version = 0x0206;
  expect_not_a_kernel(parse_bzimage(b.build()), "boot protocol 2.06 is too old");
  b.version = 0x020b;
  expect_not_a_kernel(parse_bzimage(b.build()), "boot protocol 2.11 is too old");
  b.version = 0x020c;
  b.header_len = 0x66;  // 2.12 headers end at 0x268
  EXPECT_TRUE(parse_bzimage(b.build()).ok());
}

TEST(BzImageLoader, No64BitEntryIsRejected) {
  BzBuilder b;
  b.xloadflags = 0;
  expect_not_a_kernel(parse_bzimage(b.build()), "XLF_KERNEL_64");
}

TEST(BzImageLoader, ZeroSetupSectsMeansFour) {
  BzBuilder b;
  b.setup_sects = 0;
  auto img = b.build();
  auto r = parse_bzimage(img);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->kernel_offset, 5u * 512);
  EXPECT_EQ(r->kernel_size, img.size() - 5 * 512);
}

TEST(BzImageLoader, BytesPastTheDeclaredHeaderEndAreNotCopied) {
  BzBuilder b;
  b.version = 0x020c;
  b.header_len = 0x66;  // ends at 0x268: kernel_info_offset is not part of this header
  auto r = parse_bzimage(b.build());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->header.kernel_info_offset, 0u);
  EXPECT_EQ(r->header.handover_offset, 0x190u);

  b.header_len = 0x50;  // ends at 0x252, before init_size
  expect_not_a_kernel(parse_bzimage(b.build()), "before init_size");
}

TEST(BzImageLoader, TruncatedImagesAreRejected) {
  BzBuilder b;
  auto img = b.build();
  EXPECT_FALSE(is_bzimage(std::span(img).first(0x204)));
  expect_not_a_kernel(parse_bzimage(std::span(img).first(0x204)), "HdrS");
  expect_not_a_kernel(parse_bzimage(std::span(img).first(0x240)), "truncated inside its setup");
  expect_not_a_kernel(parse_bzimage(std::span(img).first(b.kernel_offset())), "truncated");
  expect_not_a_kernel(parse_bzimage(std::span(img).first(b.kernel_offset() + 0x100)),
                      "truncated");
  // syssize says the kernel is longer than what the file holds.
  expect_not_a_kernel(parse_bzimage(std::span(img).first(img.size() - 64)), "syssize");
}

TEST(BzImageLoader, BadBootFlagIsRejected) {
  auto img = BzBuilder{}.build();
  put<uint16_t>(img, 0x1fe, 0x1234);
  expect_not_a_kernel(parse_bzimage(img), "boot_flag");
}

TEST(BzImageLoader, LoadAddressChoice) {
  {  // No preferred address: 1 MiB, aligned up for a relocatable kernel.
    BzBuilder b;
    b.pref_address = 0;
    auto r = parse_bzimage(b.build());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->load_addr, 0x200000u);
    EXPECT_EQ(r->entry, 0x200200u);
  }
  {  // Not relocatable: exactly 1 MiB.
    BzBuilder b;
    b.pref_address = 0;
    b.relocatable = 0;
    auto r = parse_bzimage(b.build());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->load_addr, 0x100000u);
  }
  {  // An odd preferred address is aligned up.
    BzBuilder b;
    b.pref_address = 0x1234567;
    auto r = parse_bzimage(b.build());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->load_addr, 0x1400000u);
  }
  {  // init_size smaller than the file: the file size counts.
    BzBuilder b;
    b.init_size = 0x100;
    auto r = parse_bzimage(b.build());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->image_end, r->load_addr + b.kernel_bytes);
  }
  {
    BzBuilder b;
    b.kernel_alignment = 0x300000;
    expect_not_a_kernel(parse_bzimage(b.build()), "power of two");
  }
  {
    BzBuilder b;
    b.pref_address = ~uint64_t{0} - 0x1000;
    expect_not_a_kernel(parse_bzimage(b.build()), "out of range");
    b.relocatable = 0;
    expect_not_a_kernel(parse_bzimage(b.build()), "out of range");
  }
}

TEST(BzImageLoader, CorruptedImagesNeverCrash) {
  BzBuilder b;
  b.setup_sects = 3;
  b.kernel_bytes = 0x400;
  const auto img = b.build();
  auto mem = make_mem(32 * kMiB);
  for (size_t n = 0; n < img.size(); ++n) (void)load_bzimage(mem, std::span(img).first(n));
  std::mt19937 rng(99);
  for (int iter = 0; iter < 3000; ++iter) {
    auto bad = img;
    for (int f = 0; f < 3; ++f) bad[0x1f1 + rng() % 0x7b] = static_cast<uint8_t>(rng());
    (void)load_bzimage(mem, bad);
  }
}

TEST(BzImageLoader, ParsesRealKernel) {
  auto paths = test::real_kernels(/*bzimage_only=*/true);
  VIREO_REQUIRE_REAL_KERNELS(paths);
  auto mem = make_mem(512 * kMiB);
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    auto img = read_file(path, "kernel");
    if (!img.ok()) {
      // e.g. /boot/vmlinuz-* readable by root only
      GTEST_LOG_(INFO) << img.error().message();
      continue;
    }
    ASSERT_TRUE(is_bzimage(*img));
    auto r = load_bzimage(mem, *img);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_GE(r->protocol, 0x020c);
    EXPECT_EQ(r->header.boot_flag, 0xaa55);
    EXPECT_GE(r->load_addr, kMiB);
    EXPECT_EQ(r->entry, r->load_addr + 0x200);
    EXPECT_GE(r->image_end, r->load_addr + r->kernel_size);
    EXPECT_NE(r->header.init_size, 0u);
    EXPECT_TRUE(r->header.xloadflags & kXlfKernel64);
  }
}

}  // namespace
}  // namespace vireo::arch::x86
