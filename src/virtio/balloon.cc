#include "virtio/balloon.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "util/state_codec.h"
#include "virtio/spec.h"

namespace vireo::virtio {

namespace {
constexpr uint16_t kInflate = 0, kDeflate = 1;
// Page numbers taken from one inflate or deflate request at most (Linux sends 256): a
// hostile driver's huge buffer cannot keep the I/O thread busy for long.
constexpr uint32_t kMaxPfnsPerRequest = 4096;
// Statistics entries read from one buffer at most (there are ten tags today).
constexpr uint32_t kMaxStats = 64;
constexpr uint64_t kNsPerSecond = 1'000'000'000;

#pragma pack(push, 1)
struct StatEntry {  // struct virtio_balloon_stat
  uint16_t tag;
  uint64_t val;
};
#pragma pack(pop)
static_assert(sizeof(StatEntry) == 10);

uint32_t pages_of(uint64_t bytes) {
  return static_cast<uint32_t>(std::min<uint64_t>(bytes / balloon::kPageSize, UINT32_MAX));
}
}  // namespace

Balloon::Balloon(const BalloonOptions& options) : options_(options) {
  target_pages_.store(pages_of(options.target_bytes));
}

uint32_t Balloon::device_type() const { return device_id::kBalloon; }

uint64_t Balloon::offered_features() const {
  uint64_t f = feature::bit(feature::kVersion1) | feature::bit(feature::kIndirectDesc) |
               feature::bit(balloon::kPageReporting);
  if (options_.stats_seconds) f |= feature::bit(balloon::kStatsVq);
  if (options_.deflate_on_oom) f |= feature::bit(balloon::kDeflateOnOom);
  return f;
}

void Balloon::read_config(uint64_t offset, std::span<uint8_t> data) const {
  const uint32_t words[2] = {target_pages_.load(), actual_pages_.load()};
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(words) + offset, data.size());
}

void Balloon::write_config(uint64_t offset, std::span<const uint8_t> data) {
  // Only `actual` (offset 4) is the driver's to write.
  if (offset != 4 || data.size() != 4) return;
  uint32_t v;
  std::memcpy(&v, data.data(), 4);
  actual_pages_.store(v);
}

void Balloon::set_target(uint64_t bytes) {
  options_.target_bytes = bytes;  // also what a reset goes back to
  target_pages_.store(pages_of(bytes));
  if (act_.interrupts) act_.interrupts->config_changed();
}

Result<void> Balloon::set_stats_interval(uint32_t seconds) {
  if ((seconds == 0) != (options_.stats_seconds == 0))
    return Error("Cannot enable/disable the statistics after boot.");
  options_.stats_seconds = seconds;
  return {};
}

Result<void> Balloon::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  // stats_head_ stays: after a restore the driver's buffer is still the device's.
  uint16_t next = 2;
  index_ = {};
  if (act_.features & feature::bit(balloon::kStatsVq)) index_.stats = next++;
  if (act_.features & feature::bit(balloon::kPageReporting)) index_.reporting = next++;
  if (index_.stats && !stats_timer_) {
    auto t = TimerFd::create();
    if (!t.ok()) return t.error().context("virtio-balloon statistics timer");
    stats_timer_ = std::move(*t);
  }
  resume();
  if (!thread_) {
    act_ = {};
    return Error("virtio-balloon: cannot start its I/O thread");
  }
  return {};
}

void Balloon::deactivate() {
  thread_.reset();
  act_ = {};
}

void Balloon::reset() {
  deactivate();
  actual_pages_.store(0);
  target_pages_.store(pages_of(options_.target_bytes));
  stats_head_.reset();
  std::lock_guard lock(mu_);
  stats_.clear();
}

void Balloon::pause() { thread_.reset(); }

void Balloon::resume() {
  if (!act_.interrupts || thread_) return;
  std::vector<IoThread::Watch> watches = {
      {act_.kicks[kInflate].fd(), [this] { on_kick(kInflate, &Balloon::process_inflate); }},
      {act_.kicks[kDeflate].fd(), [this] { on_kick(kDeflate, &Balloon::process_deflate); }}};
  if (index_.stats) {
    watches.push_back({act_.kicks[*index_.stats].fd(),
                       [this] { on_kick(*index_.stats, &Balloon::process_stats); }});
    watches.push_back({stats_timer_->fd(), [this] { on_stats_timer(); }});
    (void)stats_timer_->arm(uint64_t{options_.stats_seconds} * kNsPerSecond);
  }
  if (index_.reporting)
    watches.push_back({act_.kicks[*index_.reporting].fd(),
                       [this] { on_kick(*index_.reporting, &Balloon::process_reporting); }});
  auto t = IoThread::start("virtio-balloon", std::move(watches));
  if (t.ok()) thread_ = std::move(*t);
}

void Balloon::on_kick(uint16_t q, void (Balloon::*serve_queue)()) {
  act_.kicks[q].drain();
  (this->*serve_queue)();
}

void Balloon::on_stats_timer() {
  stats_timer_->drain();
  request_stats();
  (void)stats_timer_->arm(uint64_t{options_.stats_seconds} * kNsPerSecond);
}

void Balloon::broke(std::string why) {
  broken_ = true;
  act_.interrupts->needs_reset(std::move(why));
}

template <class F>
void Balloon::serve(uint16_t q, F take) {
  Queue& queue = act_.queues[q];
  if (broken_ || !queue.state().ready) return;
  const auto& mem = *act_.mem;
  bool used = false;
  for (;;) {
    auto chain = queue.pop(mem);
    if (!chain.ok()) return broke(chain.error().message());
    if (!*chain) break;
    if (!take(**chain)) continue;  // kept by the device (the stats buffer)
    if (!queue.add_used(mem, (*chain)->head, 0).ok()) return broke("used ring is not writable");
    used = true;
  }
  if (used) notify_used(act_, q);
}

void Balloon::discard(uint64_t gpa, uint64_t len) {
  // Pages outside RAM are the driver's mistake: counted and skipped, the rest still done.
  if (!act_.mem->discard(gpa, len).ok()) {
    std::lock_guard lock(mu_);
    counters_.bad_pages += len / balloon::kPageSize;
  }
}

void Balloon::process_inflate() {
  serve(kInflate, [&](const DescriptorChain& chain) {
    ChainReader r(*act_.mem, chain);
    const uint64_t n = std::min<uint64_t>(r.remaining() / 4, kMaxPfnsPerRequest);
    // Runs of consecutive page numbers become one madvise each.
    uint64_t run_start = 0, run_len = 0, taken = 0;
    for (uint64_t i = 0; i < n; ++i) {
      auto pfn = r.read_obj<uint32_t>();
      if (!pfn.ok()) break;
      const uint64_t gpa = uint64_t{*pfn} * balloon::kPageSize;
      if (run_len && gpa == run_start + run_len) {
        run_len += balloon::kPageSize;
      } else {
        if (run_len) discard(run_start, run_len);
        run_start = gpa;
        run_len = balloon::kPageSize;
      }
      ++taken;
    }
    if (run_len) discard(run_start, run_len);
    std::lock_guard lock(mu_);
    counters_.inflated_pages += taken;
    return true;
  });
}

void Balloon::process_deflate() {
  // Pages leave the balloon: nothing to do, the guest's next touch faults a zero page in.
  serve(kDeflate, [&](const DescriptorChain& chain) {
    std::lock_guard lock(mu_);
    counters_.deflated_pages += std::min<uint64_t>(chain.readable_bytes() / 4, kMaxPfnsPerRequest);
    return true;
  });
}

void Balloon::process_stats() {
  if (!index_.stats) return;
  serve(*index_.stats, [&](const DescriptorChain& chain) {
    ChainReader r(*act_.mem, chain);
    std::map<uint16_t, uint64_t> got;
    for (uint32_t i = 0; i < kMaxStats && r.remaining() >= sizeof(StatEntry); ++i) {
      auto e = r.read_obj<StatEntry>();
      if (!e.ok()) break;
      got[e->tag] = e->val;
    }
    {
      std::lock_guard lock(mu_);
      for (auto& [tag, val] : got) stats_[tag] = val;
      ++counters_.stats_updates;
    }
    // A second buffer while one is held: give the older one back.
    const auto previous = stats_head_;
    stats_head_ = chain.head;
    if (previous) {
      Queue& q = act_.queues[*index_.stats];
      if (!q.add_used(*act_.mem, *previous, 0).ok()) broke("used ring is not writable");
    }
    return false;
  });
}

void Balloon::request_stats() {
  if (!index_.stats || !stats_head_ || broken_) return;
  Queue& q = act_.queues[*index_.stats];
  if (!q.add_used(*act_.mem, *stats_head_, 0).ok()) return broke("used ring is not writable");
  stats_head_.reset();
  notify_used(act_, *index_.stats);
}

void Balloon::process_reporting() {
  if (!index_.reporting) return;
  serve(*index_.reporting, [&](const DescriptorChain& chain) {
    uint64_t bytes = 0;
    for (const auto& d : chain.descriptors) {
      // Reported runs are whole pages; the partial pages at the ends of a run that is not
      // stay (they may hold the guest's data).
      const uint64_t start = (d.addr + balloon::kPageSize - 1) & ~(balloon::kPageSize - 1);
      const uint64_t end = (d.addr + d.len) & ~(balloon::kPageSize - 1);
      if (end <= start) continue;
      discard(start, end - start);
      bytes += end - start;
    }
    std::lock_guard lock(mu_);
    counters_.reported_bytes += bytes;
    return true;
  });
}

Balloon::Counters Balloon::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

std::map<uint16_t, uint64_t> Balloon::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

devices::DeviceState Balloon::save() const {
  StateWriter w;
  w.u32(target_pages_.load());
  w.u32(actual_pages_.load());
  w.boolean(stats_head_.has_value());
  w.u16(stats_head_.value_or(0));
  return {kStateVersion, w.take()};
}

Result<void> Balloon::restore(const devices::DeviceState& state) {
  if (state.version != kStateVersion)
    return Error(fmt::format("virtio-balloon state: version {} (this vireo reads {})",
                             state.version, kStateVersion));
  StateReader r(state.bytes, "virtio-balloon state");
  VIREO_ASSIGN_OR_RETURN(uint32_t target, r.u32());
  VIREO_ASSIGN_OR_RETURN(uint32_t actual, r.u32());
  VIREO_ASSIGN_OR_RETURN(bool held, r.boolean());
  VIREO_ASSIGN_OR_RETURN(uint16_t head, r.u16());
  VIREO_TRY(r.finish());
  target_pages_.store(target);
  actual_pages_.store(actual);
  stats_head_ = held ? std::optional<uint16_t>(head) : std::nullopt;
  return {};
}

void Balloon::report_metrics(metrics::Collector& out, const std::string& id) const {
  const Counters c = counters();
  out.scope("balloon", "device", id);
  out.counter("inflated_pages", c.inflated_pages);
  out.counter("deflated_pages", c.deflated_pages);
  out.counter("reported_bytes", c.reported_bytes);
  out.counter("bad_pages", c.bad_pages);
  out.counter("stats_updates", c.stats_updates);
  out.gauge("target_pages", target_pages());
  out.gauge("actual_pages", actual_pages());
}

}  // namespace vireo::virtio
