// ConsoleStream: non-blocking reads or writes on one of the process's standard streams
// without touching the stream's shared open file description.
//
// O_NONBLOCK is a flag of the open file description, which a terminal or pipe shares with
// every process using it: setting it on stdin or stdout would hand the shell (or the
// program at the other end of a pipe) EAGAIN errors, during the run and after a crash.
// So a terminal, pipe or FIFO is reopened through /proc/self/fd with a description of its
// own; a socket is used with MSG_DONTWAIT; regular files and other character devices
// (/dev/null) never block and are used as they are. Only where /proc cannot be used (a
// jail without it) is O_NONBLOCK set on the shared description, and cleared again by
// the destructor.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

#include "util/unique_fd.h"

namespace vireo::vmm {

class ConsoleStream {
 public:
  enum class Direction { kIn, kOut };

  ConsoleStream() = default;
  ConsoleStream(int fd, Direction dir);
  ~ConsoleStream();
  ConsoleStream(ConsoleStream&& o) noexcept;
  ConsoleStream& operator=(ConsoleStream&& o) noexcept;

  // The descriptor to watch with epoll, or -1 when the stream is missing or cannot be
  // polled (a regular file: reads and writes complete at once).
  int poll_fd() const { return pollable_ ? fd_ : -1; }
  bool valid() const { return fd_ >= 0; }

  // Like read(2)/write(2) but never blocking: bytes moved, 0 at end of input, or -1 with
  // errno (EAGAIN when it would block; EPIPE when the reader went away).
  ssize_t read(std::span<uint8_t> buf) const;
  ssize_t write(std::span<const uint8_t> buf) const;

 private:
  void release_flags();

  UniqueFd own_;           // our own description, when reopened
  int fd_ = -1;            // the descriptor in use (own_ or the original)
  bool socket_ = false;
  bool pollable_ = false;
  int restore_flags_ = -1; // set O_NONBLOCK on the shared description: its flags before
};

}  // namespace vireo::vmm
