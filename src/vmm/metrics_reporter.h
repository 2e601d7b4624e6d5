// MetricsReporter: the metrics file (--metrics-path, PUT /metrics, the config file's
// "metrics"): one JSON line (metrics/metrics.h) every period and on FlushMetrics, as
// Firecracker writes its metrics. Lives on the VMM's event loop: its timer is one of
// the loop's fds.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "metrics/metrics.h"
#include "util/epoll.h"
#include "util/event_loop.h"
#include "util/line_sink.h"
#include "util/result.h"

namespace vireo::vmm {

class MetricsReporter {
 public:
  using Collect = std::function<void(metrics::Collector&)>;
  static constexpr std::chrono::seconds kDefaultPeriod{60};  // Firecracker's

  // `collect` gathers every counter of the VMM at the moment of a flush.
  MetricsReporter(Collect collect, std::chrono::seconds period)
      : collect_(std::move(collect)), period_(period) {}

  // Registers its timer in `loop`.
  Result<void> attach(EventLoop& loop);
  // Opens the metrics file and starts the period. Once only, as Firecracker.
  Result<void> open(const std::string& path);
  bool configured() const { return sink_.has_value(); }
  // Writes a line now (nothing without a metrics file).
  Result<void> flush();
  // Its own counters (lines written and dropped), and the VMM process's RSS.
  void report(metrics::Collector& out) const;

 private:
  Collect collect_;
  std::chrono::seconds period_;
  std::optional<TimerFd> timer_;
  std::optional<LineSink> sink_;
  metrics::JsonLines lines_;
  void on_timer();
};

// The process's resident set, from /proc/self/statm (0 if unreadable).
uint64_t process_rss_bytes();

}  // namespace vireo::vmm
