#include "arch/x86/kernel_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "arch/x86/layout.h"
#include "support/real_kernels.h"
#include "util/file.h"

namespace vireo::arch::x86 {
namespace {

using memory::GuestMemory;

constexpr uint64_t kMiB = 1 << 20;

template <class T>
void put(std::vector<uint8_t>& buf, size_t off, T v) {
  if (buf.size() < off + sizeof(T)) buf.resize(off + sizeof(T));
  std::memcpy(buf.data() + off, &v, sizeof(T));
}

// One PT_LOAD at 1 MiB (code filled with 0xcc) and, optionally, a PT_NOTE with the PVH
// entry note.
std::vector<uint8_t> tiny_elf(uint64_t entry, std::optional<uint32_t> pvh) {
  const uint16_t phnum = pvh ? 2 : 1;
  std::vector<uint8_t> img(64 + 56 * phnum, 0);
  const char ident[] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  std::memcpy(img.data(), ident, sizeof(ident));
  put<uint16_t>(img, 16, 2);
  put<uint16_t>(img, 18, 62);
  put<uint32_t>(img, 20, 1);
  put<uint64_t>(img, 24, entry);
  put<uint64_t>(img, 32, 64);
  put<uint16_t>(img, 52, 64);
  put<uint16_t>(img, 54, 56);
  put<uint16_t>(img, 56, phnum);
  const uint64_t code = img.size();
  img.resize(code + 0x1000, 0xcc);
  put<uint32_t>(img, 64, 1);
  put<uint64_t>(img, 64 + 8, code);
  put<uint64_t>(img, 64 + 24, 0x100000);
  put<uint64_t>(img, 64 + 32, 0x1000);
  put<uint64_t>(img, 64 + 40, 0x3000);
  if (pvh) {
    const uint64_t n = img.size();
    img.resize(n + 20, 0);
    put<uint32_t>(img, n, 4);
    put<uint32_t>(img, n + 4, 4);
    put<uint32_t>(img, n + 8, 18);
    std::memcpy(img.data() + n + 12, "Xen", 4);  // with its NUL
    put<uint32_t>(img, n + 16, *pvh);
    put<uint32_t>(img, 120, 4);
    put<uint64_t>(img, 120 + 8, n);
    put<uint64_t>(img, 120 + 32, 20);
    put<uint64_t>(img, 120 + 40, 20);
  }
  return img;
}

std::vector<uint8_t> tiny_bzimage(uint16_t version = 0x020f) {
  std::vector<uint8_t> img(5 * 512 + 0x1000, 0x90);
  img[0x1f1] = 4;
  put<uint16_t>(img, 0x1fe, 0xaa55);
  img[0x200] = 0xeb;
  img[0x201] = 0x6a;
  put<uint32_t>(img, 0x202, 0x53726448);
  put<uint16_t>(img, 0x206, version);
  put<uint32_t>(img, 0x22c, 0x7fffffff);
  put<uint32_t>(img, 0x230, 0x200000);
  img[0x234] = 1;
  put<uint16_t>(img, 0x236, 0x3);
  put<uint32_t>(img, 0x238, 255);
  put<uint64_t>(img, 0x258, 0x1000000);
  put<uint32_t>(img, 0x260, 0x400000);
  put<uint32_t>(img, 0x1f4, 0x100);  // syssize
  return img;
}

GuestMemory make_mem(uint64_t size = 32 * kMiB) {
  auto m = GuestMemory::create({{0, size}});
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

TEST(KernelLoader, ElfWithPvhNoteBootsPvh) {
  auto mem = make_mem();
  auto r = load_kernel(mem, tiny_elf(0x100000, 0x100800));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->protocol, BootProtocol::kPvh);
  EXPECT_EQ(r->entry, 0x100800u);
  EXPECT_EQ(r->image_start, 0x100000u);
  EXPECT_EQ(r->image_end, 0x103000u);
  EXPECT_FALSE(r->setup_header.has_value());
  EXPECT_EQ(r->format, "ELF (PVH)");
  EXPECT_EQ(mem.read_obj<uint8_t>(0x100000).value(), 0xcc);
  EXPECT_EQ(cmdline_capacity(*r), layout::kCmdlineMax);
}

TEST(KernelLoader, ElfWithoutNoteBootsLinux64) {
  auto mem = make_mem();
  auto r = load_kernel(mem, tiny_elf(0x100200, std::nullopt));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->protocol, BootProtocol::kLinux64);
  EXPECT_EQ(r->entry, 0x100200u);
  EXPECT_EQ(r->format, "ELF (64-bit entry)");
  EXPECT_FALSE(r->setup_header.has_value());
}

TEST(KernelLoader, ElfEntryOutsideImageIsRejected) {
  auto mem = make_mem();
  // A vmlinux-style virtual e_entry is not usable without paging set up for it.
  auto r = load_kernel(mem, tiny_elf(0xffffffff81000000ull, std::nullopt));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().rfind("not a kernel: ELF entry point", 0), 0u)
      << r.error().message();
  // ...but is irrelevant when the PVH entry is used.
  EXPECT_TRUE(load_kernel(mem, tiny_elf(0xffffffff81000000ull, 0x100000)).ok());
}

TEST(KernelLoader, BzImageBootsLinux64) {
  auto mem = make_mem();
  auto r = load_kernel(mem, tiny_bzimage());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->protocol, BootProtocol::kLinux64);
  EXPECT_EQ(r->entry, 0x1000200u);
  EXPECT_EQ(r->image_start, 0x1000000u);
  EXPECT_EQ(r->image_end, 0x1400000u);
  ASSERT_TRUE(r->setup_header.has_value());
  EXPECT_EQ(r->setup_header->initrd_addr_max, 0x7fffffffu);
  EXPECT_EQ(r->format, "bzImage (protocol 2.15)");
  EXPECT_EQ(cmdline_capacity(*r), 256u);
  EXPECT_EQ(mem.read_obj<uint8_t>(0x1000000).value(), 0x90);

  auto old = load_kernel(mem, tiny_bzimage(0x020c));
  ASSERT_TRUE(old.ok()) << old.error().message();
  EXPECT_EQ(old->format, "bzImage (protocol 2.12)");
}

TEST(KernelLoader, UnknownFormatIsRejected) {
  auto mem = make_mem();
  const std::string expected = "not a kernel: neither an ELF image nor a bzImage (no HdrS signature)";
  for (size_t n : {0, 3, 100, 0x1000}) {
    auto r = load_kernel(mem, std::vector<uint8_t>(n, 0x41));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(), expected);
  }
  // A malformed image of a recognised format says what is wrong with it.
  auto bad = tiny_bzimage(0x0206);
  auto r = load_kernel(mem, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("2.06"), std::string::npos);
}

TEST(KernelLoader, LoadsRealKernels) {
  auto paths = test::real_kernels(/*bzimage_only=*/false);
  VIREO_REQUIRE_REAL_KERNELS(paths);
  for (const auto& path : paths) {
    SCOPED_TRACE(path);
    auto img = read_file(path, "kernel");
    if (!img.ok()) {
      GTEST_LOG_(INFO) << img.error().message();  // e.g. /boot/vmlinuz-* for root only
      continue;
    }
    auto mem = GuestMemory::create({{0, 512 * kMiB}});
    ASSERT_TRUE(mem.ok());
    auto r = load_kernel(*mem, *img);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_GE(r->image_start, kMiB);
    EXPECT_GT(r->image_end, r->image_start);
    EXPECT_GE(r->entry, r->protocol == BootProtocol::kPvh ? kMiB : r->image_start);
    EXPECT_LT(r->entry, r->image_end);
    GTEST_LOG_(INFO) << r->format << " entry " << std::hex << r->entry;
  }
}

// read_file (util/file.h) is what feeds load_kernel.
TEST(ReadFile, ReadsWholeFile) {
  char path[] = "/tmp/vireo-read-file-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<uint8_t> data(200000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
  auto r = read_file(path, "kernel");
  ::unlink(path);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, data);
}

TEST(ReadFile, ReadsEmptyFile) {
  char path[] = "/tmp/vireo-read-file-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto r = read_file(path, "initrd");
  ::unlink(path);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ReadFile, ErrorsNameTheFile) {
  auto r = read_file("/nonexistent/vmlinux", "kernel");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(),
            "cannot read kernel '/nonexistent/vmlinux': No such file or directory");
  EXPECT_EQ(r.error().os_errno(), ENOENT);
  auto d = read_file("/tmp", "initrd");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().message(), "cannot read initrd '/tmp': Is a directory");
  auto c = read_file("/dev/null", "kernel");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message(), "cannot read kernel '/dev/null': not a regular file");
}

}  // namespace
}  // namespace vireo::arch::x86
