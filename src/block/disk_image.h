// DiskImage: the host side of a virtual disk, a raw image file or a block device, opened
// once and locked against a second user (an flock, as QEMU takes: exclusive for a
// writable disk, shared for a read-only one, so two VMs may share a read-only image but
// never write one another's).
//
// All I/O is positional (preadv/pwritev) and so safe from several threads. With `direct`
// the image is opened with O_DIRECT (no host page cache); requests whose offset, length
// or buffers are not aligned for it go through a second, cached descriptor of the same
// file (the kernel keeps the two coherent: a direct write drops cached pages).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::block {

struct DiskOptions {
  bool readonly = false;
  bool direct = false;  // O_DIRECT
};

class DiskImage {
 public:
  // Alignment O_DIRECT gets from us: offsets, lengths and buffer addresses. 4 KiB holds
  // for every file system and block device we know of (512-byte devices included).
  static constexpr uint64_t kDirectAlign = 4096;

  // Opens and locks `path`. Errors name the file and say why: missing, not readable or
  // writable, a directory, in use by another process (locked), or of a size that is not
  // a multiple of 512 bytes.
  static Result<DiskImage> open(const std::string& path, const DiskOptions& options);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  // Reads the size again (the file or device may have grown or shrunk since it was
  // opened), with open()'s checks; the size is unchanged if they fail.
  Result<void> refresh_size() {
    const uint64_t before = size_;
    auto r = read_size();
    if (!r.ok()) size_ = before;
    return r;
  }
  bool readonly() const { return options_.readonly; }
  bool is_block_device() const { return block_device_; }

  // The descriptor a request of these buffers at `offset` goes through: with `direct`,
  // the O_DIRECT one if everything is aligned for it, else the cached one. For callers
  // that do the I/O themselves (an io_uring). fd() is the locked one (flushes).
  int fd_for(std::span<const iovec> iov, uint64_t offset) const;
  int fd() const { return fd_.get(); }

  // Reads or writes the whole of `iov` at `offset` (retrying short transfers), or fails
  // with the errno of the system call. The range must lie inside size().
  Result<void> read(std::span<const iovec> iov, uint64_t offset) const;
  Result<void> write(std::span<const iovec> iov, uint64_t offset) const;
  // fdatasync: what was written reaches stable storage.
  Result<void> flush() const;
  // Gives [offset, offset+len) back to the host (punches a hole; reads then return
  // zeroes). On a block device, BLKDISCARD.
  Result<void> discard(uint64_t offset, uint64_t len) const;
  // Makes [offset, offset+len) read as zeroes; with `unmap` the space may be freed.
  Result<void> write_zeroes(uint64_t offset, uint64_t len, bool unmap) const;

 private:
  DiskImage() = default;
  Result<void> read_size();
  Result<void> transfer(bool write, std::span<const iovec> iov, uint64_t offset) const;

  std::string path_;
  DiskOptions options_;
  UniqueFd fd_;         // locked; O_DIRECT when options_.direct
  UniqueFd cached_fd_;  // only with O_DIRECT: for unaligned requests
  uint64_t size_ = 0;
  bool block_device_ = false;
};

}  // namespace vireo::block
