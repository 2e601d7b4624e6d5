// Small RAII wrappers: epoll, eventfd, timerfd, signalfd.
#pragma once

#include <sys/epoll.h>

#include <csignal>
#include <cstdint>
#include <initializer_list>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo {

class Epoll {
 public:
  static Result<Epoll> create();
  Result<void> add(int fd, uint32_t events, uint64_t token);
  Result<void> modify(int fd, uint32_t events, uint64_t token);
  Result<void> remove(int fd);
  // Waits up to timeout_ms (-1: forever); returns the number of events (0 on EINTR).
  Result<int> wait(epoll_event* events, int max, int timeout_ms);

 private:
  UniqueFd fd_;
};

class EventFd {
 public:
  static Result<EventFd> create();
  int fd() const { return fd_.get(); }
  // Adds 1 (async-signal-safe); false when the write failed (the counter would
  // overflow: nobody has read it for 2^64 - 2 signals).
  bool signal() const;
  uint64_t drain() const;

 private:
  UniqueFd fd_;
};

// A one-shot CLOCK_MONOTONIC timer whose fd becomes readable when it fires.
class TimerFd {
 public:
  static Result<TimerFd> create();
  int fd() const { return fd_.get(); }
  // Fires once after `ns` nanoseconds (at least 1); replaces an armed time.
  Result<void> arm(uint64_t ns) const;
  // Reads the expiry count (0 if it has not fired).
  uint64_t drain() const;

 private:
  UniqueFd fd_;
};

// Blocks `signals` in the calling thread (do this before starting other threads, so
// they inherit the mask) and returns a signalfd that reports them.
Result<UniqueFd> block_signals_to_fd(std::initializer_list<int> signals);

}  // namespace vireo
