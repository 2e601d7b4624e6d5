// A cache of bzImages unpacked on the host, keyed by a hash of the bzImage's bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/result.h"

namespace vireo::arch::x86 {

// $VIREO_CACHE_DIR, else $XDG_CACHE_HOME/vireo, else $HOME/.cache/vireo.
std::string default_cache_dir();

struct UnpackedKernel {
  std::vector<uint8_t> vmlinux;
  bool cache_hit = false;
  std::string cache_path;  // empty when the cache could not be used
};

// Returns the vmlinux inside `bzimage`, from `<cache_dir>/kernels/` when it was unpacked
// before. A cache that cannot be read or written is skipped, never an error.
Result<UnpackedKernel> unpack_bzimage_cached(std::span<const uint8_t> bzimage,
                                             const std::string& cache_dir);

// 128-bit content hash as 32 hex digits.
std::string content_hash(std::span<const uint8_t> data);

}  // namespace vireo::arch::x86
