#include "arch/x86/kernel_unpack.h"

#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include <fmt/format.h>

#include <cstring>

namespace vireo::arch::x86 {

namespace {

constexpr uint64_t kMaxKernel = 1ull << 30;  // no real vmlinux is near 1 GiB
constexpr size_t kChunk = 1 << 20;

uint32_t le32(std::span<const uint8_t> d, size_t off) {
  uint32_t v;
  std::memcpy(&v, d.data() + off, 4);
  return v;
}
uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

Error too_big(uint64_t max) {
  return Error(fmt::format("decompressed kernel is larger than {} bytes", max));
}

Result<std::vector<uint8_t>> gunzip(std::span<const uint8_t> in, uint64_t max) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Error("zlib: inflateInit2 failed");
  std::vector<uint8_t> out;
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (out.size() >= max) { inflateEnd(&zs); return too_big(max); }
    size_t old = out.size();
    out.resize(old + kChunk);
    zs.next_out = out.data() + old;
    zs.avail_out = kChunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(old + kChunk - zs.avail_out);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      std::string msg = zs.msg ? zs.msg : "corrupt data";
      inflateEnd(&zs);
      return Error("gzip: " + msg);
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) { inflateEnd(&zs); return Error("gzip: truncated stream"); }
  }
  inflateEnd(&zs);
  return out;
}

Result<std::vector<uint8_t>> bunzip2(std::span<const uint8_t> in, uint64_t max) {
  bz_stream bs{};
  if (BZ2_bzDecompressInit(&bs, 0, 0) != BZ_OK) return Error("bzip2: init failed");
  std::vector<uint8_t> out;
  bs.next_in = reinterpret_cast<char*>(const_cast<uint8_t*>(in.data()));
  bs.avail_in = static_cast<unsigned>(in.size());
  int rc = BZ_OK;
  while (rc != BZ_STREAM_END) {
    if (out.size() >= max) { BZ2_bzDecompressEnd(&bs); return too_big(max); }
    size_t old = out.size();
    out.resize(old + kChunk);
    bs.next_out = reinterpret_cast<char*>(out.data() + old);
    bs.avail_out = kChunk;
    rc = BZ2_bzDecompress(&bs);
    out.resize(old + kChunk - bs.avail_out);
    if (rc != BZ_OK && rc != BZ_STREAM_END) { BZ2_bzDecompressEnd(&bs); return Error(fmt::format("bzip2: error {}", rc)); }
    if (rc == BZ_OK && bs.avail_in == 0 && bs.avail_out != 0) { BZ2_bzDecompressEnd(&bs); return Error("bzip2: truncated stream"); }
  }
  BZ2_bzDecompressEnd(&bs);
  return out;
}

Result<std::vector<uint8_t>> unxz(std::span<const uint8_t> in, uint64_t max, bool legacy_lzma) {
  lzma_stream ls = LZMA_STREAM_INIT;
  lzma_ret init = legacy_lzma ? lzma_alone_decoder(&ls, UINT64_MAX)
                              : lzma_stream_decoder(&ls, UINT64_MAX, 0);
  if (init != LZMA_OK) return Error("xz: decoder init failed");
  std::vector<uint8_t> out;
  ls.next_in = in.data();
  ls.avail_in = in.size();
  lzma_ret rc = LZMA_OK;
  while (rc != LZMA_STREAM_END) {
    if (out.size() >= max) { lzma_end(&ls); return too_big(max); }
    size_t old = out.size();
    out.resize(old + kChunk);
    ls.next_out = out.data() + old;
    ls.avail_out = kChunk;
    rc = lzma_code(&ls, ls.avail_in == 0 ? LZMA_FINISH : LZMA_RUN);
    out.resize(old + kChunk - ls.avail_out);
    if (rc != LZMA_OK && rc != LZMA_STREAM_END) {
      lzma_end(&ls);
      return Error(fmt::format("{}: corrupt or truncated data (error {})", legacy_lzma ? "lzma" : "xz", static_cast<int>(rc)));
    }
  }
  lzma_end(&ls);
  return out;
}

Result<std::vector<uint8_t>> unzstd(std::span<const uint8_t> in, uint64_t max) {
  ZSTD_DStream* ds = ZSTD_createDStream();
  if (!ds) return Error("zstd: out of memory");
  ZSTD_initDStream(ds);
  std::vector<uint8_t> out;
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  size_t rc = 1;
  while (rc != 0) {
    if (out.size() >= max) { ZSTD_freeDStream(ds); return too_big(max); }
    size_t old = out.size();
    out.resize(old + kChunk);
    ZSTD_outBuffer ob{out.data() + old, kChunk, 0};
    rc = ZSTD_decompressStream(ds, &ob, &ib);
    out.resize(old + ob.pos);
    if (ZSTD_isError(rc)) { ZSTD_freeDStream(ds); return Error(std::string("zstd: ") + ZSTD_getErrorName(rc)); }
    if (rc != 0 && ib.pos == ib.size && ob.pos < kChunk) { ZSTD_freeDStream(ds); return Error("zstd: truncated stream"); }
  }
  ZSTD_freeDStream(ds);
  return out;
}

// The kernel's LZ4 payload uses the legacy frame: magic 0x184C2102, then blocks of
// (le32 compressed size, data), each decompressing to at most 8 MiB.
Result<std::vector<uint8_t>> unlz4_legacy(std::span<const uint8_t> in, uint64_t max) {
  constexpr size_t kBlock = 8 << 20;
  std::vector<uint8_t> out;
  size_t pos = 4;
  while (pos + 4 <= in.size()) {
    uint32_t csize = le32(in, pos);
    if (csize == 0x184C2102) { pos += 4; continue; }  // concatenated frames
    pos += 4;
    if (csize > in.size() - pos) {
      // Trailing bytes (the kernel appends the uncompressed size): stop at a short tail.
      if (in.size() - pos + 4 <= 4) break;
      return Error("lz4: truncated block");
    }
    if (out.size() + kBlock > max + kBlock) return too_big(max);
    size_t old = out.size();
    out.resize(old + kBlock);
    int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + pos),
                                reinterpret_cast<char*>(out.data() + old), static_cast<int>(csize),
                                static_cast<int>(kBlock));
    if (n < 0) return Error("lz4: corrupt block");
    out.resize(old + static_cast<size_t>(n));
    pos += csize;
    if (out.size() > max) return too_big(max);
  }
  return out;
}

// lzop container (as produced by the kernel build) with LZO1X blocks.
Result<std::vector<uint8_t>> unlzo(std::span<const uint8_t> in, uint64_t max) {
  static const uint8_t kMagic[9] = {0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a};
  if (lzo_init() != LZO_E_OK) return Error("lzo: init failed");
  auto need = [&](size_t pos, size_t n) { return pos + n <= in.size(); };
  const uint8_t* d = in.data();
  if (!need(0, 9) || std::memcmp(d, kMagic, 9) != 0) return Error("lzo: bad magic");
  size_t pos = 9;
  if (!need(pos, 4)) return Error("lzo: truncated header");
  uint16_t version = be16(d + pos);
  pos += 4;  // version, library version
  if (version >= 0x0940) pos += 2;  // version needed to extract
  if (!need(pos, 1)) return Error("lzo: truncated header");
  pos += 1;  // method
  if (version >= 0x0940) pos += 1;  // level
  if (!need(pos, 4)) return Error("lzo: truncated header");
  uint32_t flags = be32(d + pos);
  pos += 4;
  constexpr uint32_t kAdler32D = 0x1, kAdler32C = 0x2, kExtra = 0x40, kCrc32D = 0x100,
                     kCrc32C = 0x200, kFilter = 0x800;
  if (flags & kFilter) pos += 4;
  pos += 4 + 4;                     // mode, mtime low
  if (version >= 0x0940) pos += 4;  // mtime high
  if (!need(pos, 1)) return Error("lzo: truncated header");
  pos += 1 + d[pos];  // file name
  pos += 4;           // header checksum
  if (flags & kExtra) {
    if (!need(pos, 4)) return Error("lzo: truncated header");
    pos += 4 + be32(d + pos) + 4;
  }
  std::vector<uint8_t> out;
  for (;;) {
    if (!need(pos, 4)) return Error("lzo: truncated block");
    uint32_t dlen = be32(d + pos);
    pos += 4;
    if (dlen == 0) break;
    if (!need(pos, 4)) return Error("lzo: truncated block");
    uint32_t clen = be32(d + pos);
    pos += 4;
    if (dlen > (64u << 20) || clen > dlen) return Error("lzo: bad block sizes");
    if (flags & (kAdler32D | kCrc32D)) pos += 4 * (((flags & kAdler32D) != 0) + ((flags & kCrc32D) != 0));
    if (clen < dlen && (flags & (kAdler32C | kCrc32C))) pos += 4 * (((flags & kAdler32C) != 0) + ((flags & kCrc32C) != 0));
    if (!need(pos, clen)) return Error("lzo: truncated block");
    if (out.size() + dlen > max) return too_big(max);
    size_t old = out.size();
    out.resize(old + dlen);
    if (clen == dlen) {
      std::memcpy(out.data() + old, d + pos, dlen);
    } else {
      lzo_uint n = dlen;
      if (lzo1x_decompress_safe(d + pos, clen, out.data() + old, &n, nullptr) != LZO_E_OK || n != dlen)
        return Error("lzo: corrupt block");
    }
    pos += clen;
  }
  return out;
}

}  // namespace

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kBzip2: return "bzip2";
    case Compression::kLzma: return "lzma";
    case Compression::kXz: return "xz";
    case Compression::kLzo: return "lzo";
    case Compression::kLz4: return "lz4";
    case Compression::kZstd: return "zstd";
  }
  return "?";
}

Compression detect_compression(std::span<const uint8_t> d) {
  auto starts = [&](std::initializer_list<uint8_t> m) {
    return d.size() >= m.size() && std::equal(m.begin(), m.end(), d.begin());
  };
  if (starts({0x1f, 0x8b})) return Compression::kGzip;
  if (starts({'B', 'Z', 'h'})) return Compression::kBzip2;
  if (starts({0xfd, '7', 'z', 'X', 'Z', 0x00})) return Compression::kXz;
  if (starts({0x5d, 0x00, 0x00})) return Compression::kLzma;
  if (starts({0x89, 'L', 'Z', 'O'})) return Compression::kLzo;
  if (starts({0x02, 0x21, 0x4c, 0x18})) return Compression::kLz4;
  if (starts({0x28, 0xb5, 0x2f, 0xfd})) return Compression::kZstd;
  if (starts({0x7f, 'E', 'L', 'F'})) return Compression::kNone;
  return Compression::kNone;
}

Result<BzImagePayload> find_bzimage_payload(std::span<const uint8_t> img) {
  constexpr size_t kHdrS = 0x202, kVersion = 0x206, kSetupSects = 0x1f1;
  constexpr size_t kPayloadOffset = 0x248, kPayloadLength = 0x24c;
  if (img.size() < 0x250 || std::memcmp(img.data() + kHdrS, "HdrS", 4) != 0)
    return Error("not a bzImage (no HdrS signature)");
  uint16_t version;
  std::memcpy(&version, img.data() + kVersion, 2);
  if (version < 0x0208)
    return Error(fmt::format("boot protocol {}.{:02} has no payload fields (need 2.08+)",
                             version >> 8, version & 0xff));
  uint64_t setup_sects = img[kSetupSects] ? img[kSetupSects] : 4;
  uint64_t pm_start = (setup_sects + 1) * 512;
  uint64_t off = pm_start + le32(img, kPayloadOffset);
  uint64_t len = le32(img, kPayloadLength);
  if (pm_start > img.size() || off > img.size() || len > img.size() - off || len < 4)
    return Error("bzImage payload lies outside the file");
  auto data = img.subspan(off, len);
  Compression c = detect_compression(data);
  if (c == Compression::kNone && !(data[0] == 0x7f && data[1] == 'E'))
    return Error("bzImage payload uses an unknown compression");
  return BzImagePayload{c, data};
}

Result<std::vector<uint8_t>> decompress(Compression c, std::span<const uint8_t> data,
                                        uint64_t max_output) {
  switch (c) {
    case Compression::kNone: return std::vector<uint8_t>(data.begin(), data.end());
    case Compression::kGzip: return gunzip(data, max_output);
    case Compression::kBzip2: return bunzip2(data, max_output);
    case Compression::kLzma: return unxz(data, max_output, true);
    case Compression::kXz: return unxz(data, max_output, false);
    case Compression::kLzo: return unlzo(data, max_output);
    case Compression::kLz4: return unlz4_legacy(data, max_output);
    case Compression::kZstd: return unzstd(data, max_output);
  }
  return Error("unknown compression");
}

Result<std::vector<uint8_t>> unpack_bzimage(std::span<const uint8_t> bzimage) {
  VIREO_ASSIGN_OR_RETURN(auto payload, find_bzimage_payload(bzimage));
  auto out = decompress(payload.compression, payload.data, kMaxKernel);
  if (!out.ok())
    return out.error().context(fmt::format("unpacking the {} payload", compression_name(payload.compression)));
  if (out->size() < 64 || std::memcmp(out->data(), "\x7f" "ELF", 4) != 0)
    return Error(fmt::format("the {} payload did not unpack to an ELF image",
                             compression_name(payload.compression)));
  return out;
}

}  // namespace vireo::arch::x86
