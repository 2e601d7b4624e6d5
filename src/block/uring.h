// Uring: one io_uring instance (liburing) whose completions make an eventfd readable, so
// a device's I/O thread can wait for them in its epoll loop beside its queue kicks.
// Used by one thread at a time.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>

#include "util/result.h"
#include "util/unique_fd.h"

struct io_uring;

namespace vireo::block {

class Uring {
 public:
  // `entries`: submissions in flight at most. Fails where the kernel has no io_uring or
  // forbids it (kernel.io_uring_disabled, a seccomp filter): use plain system calls then.
  static Result<std::unique_ptr<Uring>> create(unsigned entries);
  struct Key {  // for create() only
   private:
    friend class Uring;
    Key() = default;
  };
  explicit Uring(Key);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  int event_fd() const { return event_.get(); }

  // Queue one operation (submitted by submit()); false when the submission queue is full.
  // The iovec array and the buffers must stay valid until the completion is reaped.
  bool readv(int fd, const iovec* iov, unsigned count, uint64_t offset, uint64_t user_data);
  bool writev(int fd, const iovec* iov, unsigned count, uint64_t offset, uint64_t user_data);
  bool fdatasync(int fd, uint64_t user_data);
  Result<void> submit();

  struct Completion {
    uint64_t user_data;
    int32_t result;  // bytes transferred, or -errno
  };
  // The next completion if one is there (wait = false), or after waiting for it.
  Result<bool> next(Completion& out, bool wait);
  // Empties the eventfd (before reaping, so a completion after the reap wakes us again).
  void drain_event();

 private:
  std::unique_ptr<io_uring> ring_;
  bool initialized_ = false;
  UniqueFd event_;
};

}  // namespace vireo::block
