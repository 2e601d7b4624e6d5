// RateLimiter: token buckets for a device's bandwidth (bytes per second) and operations
// (requests per second), each with a one-time burst spent before the refilling part, as
// users of Firecracker know them. A device asks before it serves a request; when a bucket
// is short it puts the request back, waits wait_ns() (a timerfd on its I/O thread) and
// asks again.
#pragma once

#include <cstdint>
#include <optional>

#include "util/epoll.h"
#include "util/result.h"

namespace vireo::virtio {

// The limits of one device; 0 means unlimited.
struct RateLimit {
  uint64_t bytes_per_second = 0;
  uint64_t bytes_burst = 0;  // one-time, on top of the first second's worth
  uint64_t ops_per_second = 0;
  uint64_t ops_burst = 0;
  bool limited() const { return bytes_per_second || ops_per_second; }
  bool operator==(const RateLimit&) const = default;
};

// `rate` tokens per second into a bucket holding one second's worth (full at the start),
// plus a one-time burst used first. A request larger than the bucket goes when the bucket
// is full and leaves it in debt, so the average rate holds for any request size.
class TokenBucket {
 public:
  TokenBucket() = default;  // unlimited
  TokenBucket(uint64_t rate, uint64_t one_time_burst, uint64_t now_ns);

  bool unlimited() const { return rate_ == 0; }
  // Takes n tokens if they are there; false (nothing taken) if not.
  bool consume(uint64_t n, uint64_t now_ns);
  // Nanoseconds until consume(n) can succeed (0: now).
  uint64_t wait_ns(uint64_t n, uint64_t now_ns);
  // Tokens there now, burst included (negative: in debt).
  double available(uint64_t now_ns);

 private:
  void refill(uint64_t now_ns);

  uint64_t rate_ = 0;
  double capacity_ = 0;
  double tokens_ = 0;
  double burst_ = 0;
  uint64_t last_ns_ = 0;
};

class RateLimiter {
 public:
  RateLimiter() = default;
  RateLimiter(const RateLimit& limit, uint64_t now_ns);

  bool limited() const { return !bytes_.unlimited() || !ops_.unlimited(); }
  // Takes one operation of `bytes` from both buckets, or nothing.
  bool consume(uint64_t bytes, uint64_t now_ns);
  uint64_t wait_ns(uint64_t bytes, uint64_t now_ns);

 private:
  TokenBucket bytes_, ops_;
};

// A device queue's rate limit on its I/O thread: the limiter and the timerfd that wakes
// the thread when a refused request may go. Default: unlimited.
class Throttle {
 public:
  Throttle() = default;
  // With a limit, makes the timer (watch fd() on the I/O thread, call on_timer()).
  static Result<Throttle> create(const RateLimit& limit);

  bool limited() const { return limiter_.limited(); }
  int fd() const { return timer_ ? timer_->fd() : -1; }
  // Whether a request of `bytes` may be served now (its tokens are then taken). If not,
  // the timer is armed for when it may and waiting() holds until on_timer(); the device
  // puts the request back. An Error: the timer could not be armed.
  Result<bool> admit(uint64_t bytes);
  bool waiting() const { return waiting_; }
  void on_timer();

 private:
  RateLimiter limiter_;
  std::optional<TimerFd> timer_;
  bool waiting_ = false;
};

// CLOCK_MONOTONIC in nanoseconds.
uint64_t monotonic_ns();

}  // namespace vireo::virtio
