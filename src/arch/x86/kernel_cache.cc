#include "arch/x86/kernel_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "arch/x86/kernel_unpack.h"
#include "util/unique_fd.h"

namespace vireo::arch::x86 {

namespace {

// Bump when the unpacked format or the unpacker changes meaning.
constexpr const char* kCacheVersion = "v1";

bool read_whole(const std::string& path, std::vector<uint8_t>& out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool write_atomically(const std::string& path, std::span<const uint8_t> data) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return false;
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n <= 0) {
      ::unlink(tmp.c_str());
      return false;
    }
    done += static_cast<size_t>(n);
  }
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

}  // namespace

std::string default_cache_dir() {
  if (const char* d = std::getenv("VIREO_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/vireo";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/vireo";
  return "/var/cache/vireo";
}

std::string content_hash(std::span<const uint8_t> data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

Result<UnpackedKernel> unpack_bzimage_cached(std::span<const uint8_t> bzimage,
                                             const std::string& cache_dir) {
  UnpackedKernel out;
  std::string dir = cache_dir.empty() ? "" : cache_dir + "/kernels";
  std::string path;
  if (!dir.empty()) {
    path = fmt::format("{}/{}-{}.vmlinux", dir, content_hash(bzimage), kCacheVersion);
    if (read_whole(path, out.vmlinux) && out.vmlinux.size() >= 4 &&
        std::memcmp(out.vmlinux.data(), "\x7f" "ELF", 4) == 0) {
      out.cache_hit = true;
      out.cache_path = path;
      return out;
    }
  }
  VIREO_ASSIGN_OR_RETURN(out.vmlinux, unpack_bzimage(bzimage));
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!ec && write_atomically(path, out.vmlinux)) out.cache_path = path;
  }
  return out;
}

}  // namespace vireo::arch::x86
