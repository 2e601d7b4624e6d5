#include "vmm/console_stream.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <utility>

namespace vireo::vmm {

ConsoleStream::ConsoleStream(int fd, Direction dir) {
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) return;
  const bool in = dir == Direction::kIn;
  if (S_ISSOCK(st.st_mode)) {
    fd_ = fd;
    socket_ = true;
    pollable_ = true;
    return;
  }
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
    fd_ = fd;  // never blocks; epoll refuses regular files
    return;
  }
  if (S_ISCHR(st.st_mode) && !::isatty(fd)) {
    fd_ = fd;  // /dev/null, /dev/zero, ...: pollable and never blocking
    pollable_ = true;
    return;
  }
  // A terminal, pipe or FIFO: a description of our own.
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const int flags = (in ? O_RDONLY : O_WRONLY) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  own_.reset(::open(path.c_str(), flags));
  pollable_ = true;
  if (own_) {
    fd_ = own_.get();
    return;
  }
  // No /proc (or the pipe has no reader left): fall back to the shared description.
  fd_ = fd;
  const int old = ::fcntl(fd, F_GETFL);
  if (old >= 0 && !(old & O_NONBLOCK) && ::fcntl(fd, F_SETFL, old | O_NONBLOCK) == 0)
    restore_flags_ = old;
}

ConsoleStream::~ConsoleStream() { release_flags(); }

void ConsoleStream::release_flags() {
  if (restore_flags_ >= 0) ::fcntl(fd_, F_SETFL, restore_flags_);
  restore_flags_ = -1;
}

ConsoleStream::ConsoleStream(ConsoleStream&& o) noexcept
    : own_(std::move(o.own_)),
      fd_(std::exchange(o.fd_, -1)),
      socket_(o.socket_),
      pollable_(std::exchange(o.pollable_, false)),
      restore_flags_(std::exchange(o.restore_flags_, -1)) {}

ConsoleStream& ConsoleStream::operator=(ConsoleStream&& o) noexcept {
  if (this != &o) {
    release_flags();
    own_ = std::move(o.own_);
    fd_ = std::exchange(o.fd_, -1);
    socket_ = o.socket_;
    pollable_ = std::exchange(o.pollable_, false);
    restore_flags_ = std::exchange(o.restore_flags_, -1);
  }
  return *this;
}

ssize_t ConsoleStream::read(std::span<uint8_t> buf) const {
  for (;;) {
    ssize_t n = socket_ ? ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT)
                        : ::read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

ssize_t ConsoleStream::write(std::span<const uint8_t> buf) const {
  for (;;) {
    ssize_t n = socket_ ? ::send(fd_, buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                        : ::write(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

}  // namespace vireo::vmm
