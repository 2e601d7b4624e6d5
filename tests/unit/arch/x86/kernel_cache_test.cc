#include "arch/x86/kernel_cache.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace vireo::arch::x86 {
namespace {

std::vector<uint8_t> bzimage_with_gzip_elf(uint8_t fill) {
  std::vector<uint8_t> elf(1 << 16, fill);
  std::memcpy(elf.data(), "\x7f" "ELF", 4);
  std::vector<uint8_t> gz(compressBound(elf.size()) + 64);
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = elf.data();
  zs.avail_in = static_cast<uInt>(elf.size());
  zs.next_out = gz.data();
  zs.avail_out = static_cast<uInt>(gz.size());
  deflate(&zs, Z_FINISH);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  std::vector<uint8_t> img(5 * 512, 0);
  img[0x1f1] = 4;
  std::memcpy(img.data() + 0x202, "HdrS", 4);
  uint16_t version = 0x020f;
  std::memcpy(img.data() + 0x206, &version, 2);
  uint32_t offset = 0, length = static_cast<uint32_t>(gz.size());
  std::memcpy(img.data() + 0x248, &offset, 4);
  std::memcpy(img.data() + 0x24c, &length, 4);
  img.insert(img.end(), gz.begin(), gz.end());
  return img;
}

TEST(KernelCache, MissThenHit) {
  std::string dir = ::testing::TempDir() + "/vireo-cache-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto img = bzimage_with_gzip_elf(0x11);
  auto a = unpack_bzimage_cached(img, dir);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_FALSE(a->cache_hit);
  ASSERT_FALSE(a->cache_path.empty());
  EXPECT_TRUE(std::filesystem::exists(a->cache_path));
  auto b = unpack_bzimage_cached(img, dir);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b->cache_hit);
  EXPECT_EQ(a->vmlinux, b->vmlinux);
  // A different image gets its own entry.
  auto c = unpack_bzimage_cached(bzimage_with_gzip_elf(0x22), dir);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->cache_hit);
  EXPECT_NE(c->cache_path, a->cache_path);
  // A damaged entry is ignored and rewritten.
  std::ofstream(a->cache_path, std::ios::trunc) << "garbage";
  auto d = unpack_bzimage_cached(img, dir);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->cache_hit);
  EXPECT_EQ(d->vmlinux, a->vmlinux);
  std::filesystem::remove_all(dir);
}

TEST(KernelCache, UnwritableCacheStillUnpacks) {
  auto img = bzimage_with_gzip_elf(0x33);
  auto r = unpack_bzimage_cached(img, "/proc/vireo-no-such-dir");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->cache_hit);
  EXPECT_TRUE(r->cache_path.empty());
  auto none = unpack_bzimage_cached(img, "");
  ASSERT_TRUE(none.ok());
}

TEST(KernelCache, HashIsStableAndDistinct) {
  std::vector<uint8_t> a = {1, 2, 3}, b = {1, 2, 4};
  EXPECT_EQ(content_hash(a), content_hash(a));
  EXPECT_NE(content_hash(a), content_hash(b));
  EXPECT_EQ(content_hash(a).size(), 32u);
}

}  // namespace
}  // namespace vireo::arch::x86
