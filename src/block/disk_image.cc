#include "block/disk_image.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace vireo::block {

namespace {

bool aligned(uint64_t v) { return v % DiskImage::kDirectAlign == 0; }

}  // namespace

Result<DiskImage> DiskImage::open(const std::string& path, const DiskOptions& options) {
  DiskImage d;
  d.path_ = path;
  d.options_ = options;
  const int access = options.readonly ? O_RDONLY : O_RDWR;
  // O_NONBLOCK: a FIFO named as a disk must not block the VMM's thread in open(2) (it is
  // refused below); for files and block devices the flag changes nothing and is cleared.
  d.fd_.reset(::open(path.c_str(), access | O_CLOEXEC | O_NONBLOCK | (options.direct ? O_DIRECT : 0)));
  if (!d.fd_) {
    const int err = errno;
    if (err == EINVAL && options.direct)
      return Error(fmt::format("cannot open '{}' with O_DIRECT (direct=on): the file system "
                               "does not support it", path), err);
    if (err == EISDIR) return Error(fmt::format("'{}' is a directory, not a disk image", path), err);
    return Error::from_errno(fmt::format("cannot open '{}'{}", path,
                                         options.readonly ? "" : " for writing"), err);
  }
  {  // (what is not a file or a block device is refused by read_size below)
    const int fl = ::fcntl(d.fd_.get(), F_GETFL);
    if (fl >= 0) (void)::fcntl(d.fd_.get(), F_SETFL, fl & ~O_NONBLOCK);
  }
  // Shared for readers, exclusive for a writer: a second vireo writing the same image
  // would corrupt it (QEMU refuses the same way).
  if (::flock(d.fd_.get(), (options.readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK)
      return Error(fmt::format("'{}' is in use by another process (it holds a lock on it)", path),
                   err);
    return Error::from_errno(fmt::format("cannot lock '{}'", path), err);
  }
  VIREO_TRY(d.read_size());
  if (options.direct) {
    d.cached_fd_.reset(::open(path.c_str(), access | O_CLOEXEC));
    if (!d.cached_fd_) return Error::from_errno(fmt::format("cannot open '{}'", path));
  }
  return d;
}

Result<void> DiskImage::read_size() {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return Error::from_errno(fmt::format("stat '{}'", path_));
  if (S_ISBLK(st.st_mode)) {
    block_device_ = true;
    if (::ioctl(fd_.get(), BLKGETSIZE64, &size_) != 0)
      return Error::from_errno(fmt::format("BLKGETSIZE64 on '{}'", path_));
  } else if (S_ISREG(st.st_mode)) {
    size_ = static_cast<uint64_t>(st.st_size);
  } else {
    return Error(fmt::format("'{}' is neither a regular file nor a block device", path_));
  }
  if (size_ % 512 != 0)
    return Error(fmt::format("'{}' is {} bytes, not a whole number of 512-byte sectors", path_,
                             size_));
  return {};
}

int DiskImage::fd_for(std::span<const iovec> iov, uint64_t offset) const {
  if (!options_.direct) return fd_.get();
  uint64_t len = 0;
  bool ok = aligned(offset);
  for (const auto& v : iov) {
    ok = ok && aligned(reinterpret_cast<uintptr_t>(v.iov_base)) && aligned(v.iov_len);
    len += v.iov_len;
  }
  return ok && aligned(len) ? fd_.get() : cached_fd_.get();
}

Result<void> DiskImage::transfer(bool write, std::span<const iovec> iov, uint64_t offset) const {
  uint64_t total = 0;
  for (const auto& v : iov) total += v.iov_len;
  if (offset > size_ || total > size_ - offset)
    return Error(fmt::format("{}: {} bytes at {} is past the end of the disk ({} bytes)", path_,
                             total, offset, size_));
  if (write && options_.readonly) return Error(fmt::format("{}: the disk is read-only", path_), EROFS);
  const int fd = fd_for(iov, offset);
  // The iovec array is copied once so short transfers can advance it; requests are a few
  // dozen segments at most.
  std::vector<iovec> rest(iov.begin(), iov.end());
  size_t first = 0;
  while (total > 0) {
    const int n = static_cast<int>(std::min<size_t>(rest.size() - first, IOV_MAX));
    const ssize_t done = write ? ::pwritev(fd, rest.data() + first, n, static_cast<off_t>(offset))
                               : ::preadv(fd, rest.data() + first, n, static_cast<off_t>(offset));
    if (done < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(fmt::format("{} {} bytes at {} of '{}'", write ? "pwritev" : "preadv",
                                           total, offset, path_));
    }
    if (done == 0) return Error(fmt::format("'{}' ended at {} (was it truncated?)", path_, offset), EIO);
    offset += static_cast<uint64_t>(done);
    total -= static_cast<uint64_t>(done);
    size_t left = static_cast<size_t>(done);
    while (left > 0 && left >= rest[first].iov_len) left -= rest[first++].iov_len;
    if (left > 0) {
      rest[first].iov_base = static_cast<uint8_t*>(rest[first].iov_base) + left;
      rest[first].iov_len -= left;
    }
  }
  return {};
}

Result<void> DiskImage::read(std::span<const iovec> iov, uint64_t offset) const {
  return transfer(false, iov, offset);
}

Result<void> DiskImage::write(std::span<const iovec> iov, uint64_t offset) const {
  return transfer(true, iov, offset);
}

Result<void> DiskImage::flush() const {
  if (options_.readonly) return {};
  while (::fdatasync(fd_.get()) != 0) {
    if (errno != EINTR) return Error::from_errno(fmt::format("fdatasync '{}'", path_));
  }
  return {};
}

Result<void> DiskImage::discard(uint64_t offset, uint64_t len) const {
  if (options_.readonly) return Error(fmt::format("{}: the disk is read-only", path_), EROFS);
  if (offset > size_ || len > size_ - offset)
    return Error(fmt::format("{}: discard past the end of the disk", path_));
  if (len == 0) return {};
  int r;
  if (block_device_) {
    uint64_t range[2] = {offset, len};
    r = ::ioctl(fd_.get(), BLKDISCARD, range);
  } else {
    r = ::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(offset), static_cast<off_t>(len));
  }
  // Discard is a hint: a file system or device that cannot free space has done its part.
  if (r != 0 && errno != EOPNOTSUPP && errno != ENOTTY)
    return Error::from_errno(fmt::format("discard {} bytes at {} of '{}'", len, offset, path_));
  return {};
}

Result<void> DiskImage::write_zeroes(uint64_t offset, uint64_t len, bool unmap) const {
  if (options_.readonly) return Error(fmt::format("{}: the disk is read-only", path_), EROFS);
  if (offset > size_ || len > size_ - offset)
    return Error(fmt::format("{}: write-zeroes past the end of the disk", path_));
  if (len == 0) return {};
  int r;
  if (block_device_) {
    uint64_t range[2] = {offset, len};
    r = ::ioctl(fd_.get(), BLKZEROOUT, range);
  } else {
    const int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                           : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    r = ::fallocate(fd_.get(), mode, static_cast<off_t>(offset), static_cast<off_t>(len));
  }
  if (r == 0) return {};
  if (errno != EOPNOTSUPP && errno != ENOTTY)
    return Error::from_errno(fmt::format("write-zeroes {} bytes at {} of '{}'", len, offset, path_));
  // No way to zero in place: write zeroes, 1 MiB at a time.
  static const std::vector<uint8_t> zeroes(1 << 20);
  while (len > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, zeroes.size()));
    iovec v{const_cast<uint8_t*>(zeroes.data()), n};
    VIREO_TRY(transfer(true, {&v, 1}, offset));
    offset += n;
    len -= n;
  }
  return {};
}

}  // namespace vireo::block
