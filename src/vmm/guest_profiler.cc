#include "vmm/guest_profiler.h"

#include <fmt/format.h>

#include <algorithm>

namespace vireo::vmm {

void GuestProfiler::record(uint64_t rip, bool user) {
  std::lock_guard lock(mu_);
  if (user)
    ++user_;
  else
    ++kernel_[rip];
}

uint64_t GuestProfiler::samples() const {
  std::lock_guard lock(mu_);
  uint64_t n = user_;
  for (const auto& [rip, c] : kernel_) n += c;
  return n;
}

std::string GuestProfiler::report(const SymbolMap* symbols, size_t max_lines) const {
  std::map<std::string, uint64_t> by_name;
  uint64_t total = 0;
  {
    std::lock_guard lock(mu_);
    if (user_) by_name["[user mode]"] = user_;
    total = user_;
    for (const auto& [rip, c] : kernel_) {
      std::string name;
      if (symbols) {
        auto sym = symbols->lookup(rip);
        name = sym ? sym->name : fmt::format("{:#x}", rip);
      } else {
        name = fmt::format("{:#x}", rip & ~uint64_t{0xff});
      }
      by_name[name] += c;
      total += c;
    }
  }
  std::vector<std::pair<uint64_t, std::string>> rows;
  for (auto& [name, c] : by_name) rows.emplace_back(c, name);
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string out = fmt::format("# guest profile: {} samples\n# samples  share  where\n", total);
  for (size_t i = 0; i < rows.size() && i < max_lines; ++i)
    out += fmt::format("{:9} {:5.1f}%  {}\n", rows[i].first,
                       total ? 100.0 * static_cast<double>(rows[i].first) / static_cast<double>(total) : 0.0,
                       rows[i].second);
  return out;
}

PeriodicThread::PeriodicThread(std::chrono::microseconds period, std::function<void()> tick)
    : thread_([this, period, tick = std::move(tick)] {
        std::unique_lock lock(mu_);
        auto next = std::chrono::steady_clock::now() + period;
        while (!cv_.wait_until(lock, next, [this] { return stop_; })) {
          lock.unlock();
          tick();
          lock.lock();
          next += period;
          auto now = std::chrono::steady_clock::now();
          if (next < now) next = now + period;  // fell behind: do not burst
        }
      }) {}

PeriodicThread::~PeriodicThread() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace vireo::vmm
