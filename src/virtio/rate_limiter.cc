#include "virtio/rate_limiter.h"

#include <time.h>

#include <algorithm>
#include <cmath>

namespace vireo::virtio {

namespace {
constexpr double kNsPerSecond = 1e9;
}

uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

TokenBucket::TokenBucket(uint64_t rate, uint64_t one_time_burst, uint64_t now_ns)
    : rate_(rate),
      capacity_(static_cast<double>(rate)),
      tokens_(static_cast<double>(rate)),
      burst_(static_cast<double>(one_time_burst)),
      last_ns_(now_ns) {}

void TokenBucket::refill(uint64_t now_ns) {
  if (now_ns <= last_ns_) return;
  const double elapsed = static_cast<double>(now_ns - last_ns_);
  last_ns_ = now_ns;
  tokens_ = std::min(capacity_, tokens_ + elapsed * static_cast<double>(rate_) / kNsPerSecond);
}

double TokenBucket::available(uint64_t now_ns) {
  refill(now_ns);
  return tokens_ + burst_;
}

bool TokenBucket::consume(uint64_t n, uint64_t now_ns) {
  if (unlimited()) return true;
  refill(now_ns);
  const double want = static_cast<double>(n);
  // More than the bucket holds: wait for a full bucket, then go into debt.
  const double needed = std::min(want, capacity_);
  if (tokens_ + burst_ < needed) return false;
  const double from_burst = std::min(burst_, want);
  burst_ -= from_burst;
  tokens_ -= want - from_burst;
  return true;
}

uint64_t TokenBucket::wait_ns(uint64_t n, uint64_t now_ns) {
  if (unlimited()) return 0;
  refill(now_ns);
  const double needed = std::min(static_cast<double>(n), capacity_);
  const double missing = needed - (tokens_ + burst_);
  if (missing <= 0) return 0;
  return static_cast<uint64_t>(std::ceil(missing * kNsPerSecond / static_cast<double>(rate_)));
}

RateLimiter::RateLimiter(const RateLimit& limit, uint64_t now_ns) {
  if (limit.bytes_per_second) bytes_ = TokenBucket(limit.bytes_per_second, limit.bytes_burst, now_ns);
  if (limit.ops_per_second) ops_ = TokenBucket(limit.ops_per_second, limit.ops_burst, now_ns);
}

bool RateLimiter::consume(uint64_t bytes, uint64_t now_ns) {
  // Both or neither: check first, then take.
  if (bytes_.wait_ns(bytes, now_ns) > 0 || ops_.wait_ns(1, now_ns) > 0) return false;
  bytes_.consume(bytes, now_ns);
  ops_.consume(1, now_ns);
  return true;
}

Result<Throttle> Throttle::create(const RateLimit& limit) {
  Throttle t;
  if (!limit.limited()) return t;
  t.limiter_ = RateLimiter(limit, monotonic_ns());
  VIREO_ASSIGN_OR_RETURN(t.timer_, TimerFd::create());
  return t;
}

Result<bool> Throttle::admit(uint64_t bytes) {
  if (!limiter_.limited()) return true;
  const uint64_t now = monotonic_ns();
  if (limiter_.consume(bytes, now)) return true;
  waiting_ = true;
  VIREO_TRY(timer_->arm(limiter_.wait_ns(bytes, now)));
  return false;
}

void Throttle::on_timer() {
  if (timer_) timer_->drain();
  waiting_ = false;
}

uint64_t RateLimiter::wait_ns(uint64_t bytes, uint64_t now_ns) {
  return std::max(bytes_.wait_ns(bytes, now_ns), ops_.wait_ns(1, now_ns));
}

}  // namespace vireo::virtio
