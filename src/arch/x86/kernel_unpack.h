// Unpacking a bzImage on the host: find the compressed payload through the boot
// protocol header and decompress it to the kernel's vmlinux ELF, so the kernel can be
// entered directly instead of running its own decompressor inside the guest.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace vireo::arch::x86 {

enum class Compression { kNone, kGzip, kBzip2, kLzma, kXz, kLzo, kLz4, kZstd };

std::string_view compression_name(Compression c);

// Identifies a compressed stream by its magic bytes.
Compression detect_compression(std::span<const uint8_t> data);

struct BzImagePayload {
  Compression compression;
  std::span<const uint8_t> data;  // the compressed payload inside the bzImage
};

// Locates the payload (setup header fields payload_offset/payload_length, protocol 2.08+).
Result<BzImagePayload> find_bzimage_payload(std::span<const uint8_t> bzimage);

// Decompresses `data`; fails if the output would exceed `max_output` bytes.
Result<std::vector<uint8_t>> decompress(Compression c, std::span<const uint8_t> data,
                                        uint64_t max_output);

// find_bzimage_payload + decompress + check the result is an ELF.
Result<std::vector<uint8_t>> unpack_bzimage(std::span<const uint8_t> bzimage);

}  // namespace vireo::arch::x86
