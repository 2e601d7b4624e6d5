#include "memory/memory_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "util/unique_fd.h"

namespace vireo::memory {

namespace {

constexpr uint64_t kPage = 4096;

bool all_zero(const uint8_t* p) {
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t acc = 0;
  for (size_t i = 0; i < kPage / 8; ++i) acc |= w[i];
  return acc == 0;
}

Result<void> write_all(int fd, const uint8_t* data, uint64_t len, uint64_t offset) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::from_errno(fmt::format("writing guest memory at file offset {:#x}", offset));
    data += n;
    len -= static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<MemoryFileStats> write_memory_file(const GuestMemory& mem, int fd) {
  MemoryFileStats stats;
  stats.size = mem.total_size();
  // Truncated to nothing first: the holes of an old file would keep its bytes.
  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(stats.size)) != 0)
    return Error::from_errno("sizing the guest memory file");
  for (const Region& r : mem.regions()) {
    // Runs of pages that are not all zeros, one write each.
    uint64_t run = 0, run_len = 0;
    for (uint64_t off = 0; off < r.size; off += kPage) {
      if (!all_zero(r.host + off)) {
        if (run_len == 0) run = off;
        run_len += kPage;
        continue;
      }
      if (run_len) {
        VIREO_TRY(write_all(fd, r.host + run, run_len, r.fd_offset + run));
        stats.data_bytes += run_len;
        run_len = 0;
      }
    }
    if (run_len) {
      VIREO_TRY(write_all(fd, r.host + run, run_len, r.fd_offset + run));
      stats.data_bytes += run_len;
    }
  }
  return stats;
}

Result<MemoryFileStats> write_memory_file(const GuestMemory& mem, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return Error::from_errno(fmt::format("cannot create the memory file '{}'", path));
  auto r = write_memory_file(mem, fd.get());
  if (!r.ok()) return r.error().context(fmt::format("memory file '{}'", path));
  if (::fsync(fd.get()) != 0) return Error::from_errno(fmt::format("fsync('{}')", path));
  return r;
}

}  // namespace vireo::memory
