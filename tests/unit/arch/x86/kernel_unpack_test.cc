#include "arch/x86/kernel_unpack.h"

#include <bzlib.h>
#include <gtest/gtest.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>

namespace vireo::arch::x86 {
namespace {

// Something ELF-looking and compressible, a few MiB so LZ4 needs several blocks.
std::vector<uint8_t> fake_vmlinux(size_t size = (9 << 20) + 123) {
  std::vector<uint8_t> v(size);
  std::mt19937 rng(7);
  for (size_t i = 0; i < size; ++i) v[i] = static_cast<uint8_t>((i % 251) ^ (rng() % 4));
  std::memcpy(v.data(), "\x7f" "ELF", 4);
  return v;
}

void append_le32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}
void append_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& in) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out(deflateBound(&zs, in.size()) + 64);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::vector<uint8_t> xz(const std::vector<uint8_t>& in, bool legacy) {
  std::vector<uint8_t> out(in.size() + (1 << 16));
  size_t pos = 0;
  if (legacy) {
    lzma_options_lzma opt;
    lzma_lzma_preset(&opt, 1);
    lzma_stream s = LZMA_STREAM_INIT;
    EXPECT_EQ(lzma_alone_encoder(&s, &opt), LZMA_OK);
    s.next_in = in.data();
    s.avail_in = in.size();
    s.next_out = out.data();
    s.avail_out = out.size();
    while (lzma_code(&s, LZMA_FINISH) == LZMA_OK) {}
    pos = s.total_out;
    lzma_end(&s);
  } else {
    EXPECT_EQ(lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, nullptr, in.data(), in.size(),
                                      out.data(), &pos, out.size()), LZMA_OK);
  }
  out.resize(pos);
  return out;
}

std::vector<uint8_t> zstd(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  out.resize(ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3));
  return out;
}

std::vector<uint8_t> bzip2(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out(in.size() + in.size() / 100 + 600);
  unsigned n = static_cast<unsigned>(out.size());
  EXPECT_EQ(BZ2_bzBuffToBuffCompress(reinterpret_cast<char*>(out.data()), &n,
                                     reinterpret_cast<char*>(const_cast<uint8_t*>(in.data())),
                                     static_cast<unsigned>(in.size()), 1, 0, 0), BZ_OK);
  out.resize(n);
  return out;
}

std::vector<uint8_t> lz4_legacy(const std::vector<uint8_t>& in) {
  std::vector<uint8_t> out;
  append_le32(out, 0x184C2102);
  const size_t kBlock = 8 << 20;
  for (size_t off = 0; off < in.size(); off += kBlock) {
    size_t n = std::min(kBlock, in.size() - off);
    std::vector<char> buf(LZ4_compressBound(static_cast<int>(n)));
    int c = LZ4_compress_default(reinterpret_cast<const char*>(in.data() + off), buf.data(),
                                 static_cast<int>(n), static_cast<int>(buf.size()));
    append_le32(out, static_cast<uint32_t>(c));
    out.insert(out.end(), buf.begin(), buf.begin() + c);
  }
  append_le32(out, static_cast<uint32_t>(in.size()));  // the kernel's appended size
  return out;
}

std::vector<uint8_t> lzop(const std::vector<uint8_t>& in) {
  EXPECT_EQ(lzo_init(), LZO_E_OK);
  std::vector<uint8_t> out = {0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a};
  out.insert(out.end(), {0x10, 0x30, 0x20, 0xa0, 0x09, 0x40, 0x01, 0x05});  // versions, method, level
  append_be32(out, 0);           // flags
  append_be32(out, 0x81a4);      // mode
  append_be32(out, 0);           // mtime low
  append_be32(out, 0);           // mtime high
  out.push_back(0);              // no name
  append_be32(out, 0);           // header checksum (not verified)
  std::vector<uint8_t> wrk(LZO1X_1_MEM_COMPRESS);
  const size_t kBlock = 256 << 10;
  for (size_t off = 0; off < in.size(); off += kBlock) {
    size_t n = std::min(kBlock, in.size() - off);
    std::vector<uint8_t> buf(n + n / 16 + 64 + 3);
    lzo_uint c = buf.size();
    lzo1x_1_compress(in.data() + off, n, buf.data(), &c, wrk.data());
    append_be32(out, static_cast<uint32_t>(n));
    if (c >= n) {
      append_be32(out, static_cast<uint32_t>(n));
      out.insert(out.end(), in.begin() + static_cast<long>(off), in.begin() + static_cast<long>(off + n));
    } else {
      append_be32(out, static_cast<uint32_t>(c));
      out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(c));
    }
  }
  append_be32(out, 0);
  return out;
}

// A bzImage-shaped file: setup sectors with the header, then the payload.
std::vector<uint8_t> fake_bzimage(const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> img(5 * 512, 0);
  img[0x1f1] = 4;  // setup_sects
  std::memcpy(img.data() + 0x202, "HdrS", 4);
  uint16_t version = 0x020f;
  std::memcpy(img.data() + 0x206, &version, 2);
  uint32_t offset = 0x100, length = static_cast<uint32_t>(payload.size());
  std::memcpy(img.data() + 0x248, &offset, 4);
  std::memcpy(img.data() + 0x24c, &length, 4);
  img.resize(5 * 512 + 0x100, 0xcc);
  img.insert(img.end(), payload.begin(), payload.end());
  return img;
}

struct Case {
  const char* name;
  Compression kind;
  std::vector<uint8_t> (*make)(const std::vector<uint8_t>&);
};

class Unpack : public ::testing::TestWithParam<Case> {};

TEST_P(Unpack, RoundTripsThroughBzImage) {
  const auto& c = GetParam();
  auto elf = fake_vmlinux();
  auto packed = c.make(elf);
  EXPECT_EQ(detect_compression(packed), c.kind);
  auto img = fake_bzimage(packed);
  auto payload = find_bzimage_payload(img);
  ASSERT_TRUE(payload.ok()) << payload.error().message();
  EXPECT_EQ(payload->compression, c.kind);
  auto out = unpack_bzimage(img);
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, elf);
}

TEST_P(Unpack, CorruptPayloadIsAnError) {
  const auto& c = GetParam();
  auto packed = c.make(fake_vmlinux(1 << 20));
  std::vector<uint8_t> bad(packed.begin(), packed.begin() + static_cast<long>(packed.size() / 2));
  for (size_t i = 32; i < bad.size(); i += 97) bad[i] ^= 0x5a;
  auto out = decompress(c.kind, bad, 1ull << 30);
  if (out.ok()) EXPECT_NE(out->size(), 1u << 20);  // never silently "succeeds" in full
}

TEST_P(Unpack, OutputLimitIsEnforced) {
  const auto& c = GetParam();
  auto packed = c.make(fake_vmlinux(4 << 20));
  EXPECT_FALSE(decompress(c.kind, packed, 1 << 20).ok());
}

INSTANTIATE_TEST_SUITE_P(
    Formats, Unpack,
    ::testing::Values(Case{"gzip", Compression::kGzip, gzip},
                      Case{"xz", Compression::kXz, [](const std::vector<uint8_t>& v) { return xz(v, false); }},
                      Case{"lzma", Compression::kLzma, [](const std::vector<uint8_t>& v) { return xz(v, true); }},
                      Case{"zstd", Compression::kZstd, zstd}, Case{"bzip2", Compression::kBzip2, bzip2},
                      Case{"lz4", Compression::kLz4, lz4_legacy}, Case{"lzo", Compression::kLzo, lzop}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(UnpackErrors, NotABzImage) {
  std::vector<uint8_t> junk(4096, 0);
  EXPECT_FALSE(find_bzimage_payload(junk).ok());
  EXPECT_FALSE(find_bzimage_payload(std::vector<uint8_t>(16, 0)).ok());
}

TEST(UnpackErrors, PayloadOutsideFile) {
  auto img = fake_bzimage(gzip(fake_vmlinux(1 << 16)));
  uint32_t huge = 0x7fffffff;
  std::memcpy(img.data() + 0x24c, &huge, 4);
  EXPECT_FALSE(find_bzimage_payload(img).ok());
}

TEST(UnpackErrors, OldProtocol) {
  auto img = fake_bzimage(gzip(fake_vmlinux(1 << 16)));
  uint16_t v = 0x0206;
  std::memcpy(img.data() + 0x206, &v, 2);
  EXPECT_FALSE(find_bzimage_payload(img).ok());
}

TEST(UnpackErrors, PayloadNotElf) {
  std::vector<uint8_t> text(1 << 16, 'a');
  auto out = unpack_bzimage(fake_bzimage(gzip(text)));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.error().message().find("ELF"), std::string::npos);
}

}  // namespace
}  // namespace vireo::arch::x86
