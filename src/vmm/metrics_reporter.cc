#include "vmm/metrics_reporter.h"

#include <unistd.h>

#include <cstdio>

#include "log/log.h"

namespace vireo::vmm {

Result<void> MetricsReporter::attach(EventLoop& loop) {
  VIREO_ASSIGN_OR_RETURN(auto timer, TimerFd::create());
  timer_.emplace(std::move(timer));
  VIREO_TRY(loop.add(timer_->fd(), EPOLLIN, [this](uint32_t) { on_timer(); }));
  if (sink_) VIREO_TRY(timer_->arm(std::chrono::nanoseconds(period_).count()));
  return {};
}

Result<void> MetricsReporter::open(const std::string& path) {
  if (sink_) return Error("Reinitialization of metrics not allowed.");
  VIREO_ASSIGN_OR_RETURN(auto sink, LineSink::open(path, "metrics"));
  sink_.emplace(std::move(sink));
  if (timer_) VIREO_TRY(timer_->arm(std::chrono::nanoseconds(period_).count()));
  LOG_INFO("metrics go to {} every {} s", path, period_.count());
  return {};
}

Result<void> MetricsReporter::flush() {
  if (!sink_) return {};  // nowhere to write: nothing to do (Firecracker answers 204 too)
  metrics::Collector c;
  collect_(c);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  if (!sink_->write(lines_.line(c.samples(), now.count())))
    LOG_DEBUG("metrics line dropped: {} has no room", sink_->path());
  return {};
}

void MetricsReporter::on_timer() {
  if (!timer_) return;
  timer_->drain();
  if (!sink_) return;
  (void)flush();
  (void)timer_->arm(std::chrono::nanoseconds(period_).count());
}

void MetricsReporter::report(metrics::Collector& out) const {
  out.scope("vmm");
  out.gauge("rss_bytes", process_rss_bytes());
  out.counter("log_lines", log::written_lines());
  out.counter("log_lines_missed", log::missed_lines());
  out.counter("metrics_lines", sink_ ? sink_->written() : 0);
  out.counter("metrics_lines_missed", sink_ ? sink_->missed() : 0);
}

uint64_t process_rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

}  // namespace vireo::vmm
