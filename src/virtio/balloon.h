// Balloon: virtio-balloon (virtio 1.2, 5.5), the memory balloon. The host sets a target
// (num_pages, in 4 KiB pages); the guest driver takes that many pages from its own use
// and sends their frame numbers on the inflate queue, and vireo returns them to the host
// (MADV_REMOVE on the guest-memory mapping: the host frees them, the guest reads zeros if
// it touches them again). With free page reporting the driver also hands over runs of
// free pages it is not using (2 MiB and up, on Linux), which are dropped the same way, so
// memory the guest freed leaves the host's RSS without a target. Statistics (memory free,
// available, swapped, ...) come on the stats queue: the device keeps the driver's buffer
// and gives it back every `stats_seconds` to ask for fresh numbers.
//
// Queues as the driver numbers them: 0 inflate, 1 deflate, then the stats queue if
// VIRTIO_BALLOON_F_STATS_VQ was negotiated, then the reporting queue if
// VIRTIO_BALLOON_F_PAGE_REPORTING was (absent queues take no index).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "virtio/device.h"
#include "virtio/io_thread.h"

namespace vireo::virtio {

namespace balloon {
inline constexpr unsigned kMustTellHost = 0;
inline constexpr unsigned kStatsVq = 1;
inline constexpr unsigned kDeflateOnOom = 2;
inline constexpr unsigned kPageReporting = 5;
inline constexpr uint64_t kPageSize = 4096;  // the balloon's page, whatever the guest's
// Statistics tags (5.5.6.3).
inline constexpr uint16_t kStatSwapIn = 0, kStatSwapOut = 1, kStatMajorFaults = 2,
                          kStatMinorFaults = 3, kStatFreeMemory = 4, kStatTotalMemory = 5,
                          kStatAvailableMemory = 6, kStatDiskCaches = 7,
                          kStatHugetlbAllocations = 8, kStatHugetlbFailures = 9;
}  // namespace balloon

struct BalloonOptions {
  uint64_t target_bytes = 0;  // how much memory the balloon should hold
  bool deflate_on_oom = false;
  uint32_t stats_seconds = 0;  // 0: no statistics queue
};

class Balloon : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint16_t kReportQueueSize = 32;
  static constexpr uint32_t kStateVersion = 1;

  explicit Balloon(const BalloonOptions& options);
  ~Balloon() override { deactivate(); }

  std::string_view name() const override { return "virtio-balloon"; }
  uint32_t device_type() const override;
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override {
    return {kQueueSize, kQueueSize, kReportQueueSize, kReportQueueSize};
  }
  uint32_t config_size() const override { return 8; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;

  Result<void> activate(const Activation& activation) override;
  void deactivate() override;
  void reset() override;
  void pause() override;
  void resume() override;
  devices::DeviceState save() const override;
  Result<void> restore(const devices::DeviceState& state) override;

  // A new target (the VMM's API); the driver is told through a configuration interrupt.
  void set_target(uint64_t bytes);
  uint32_t target_pages() const { return target_pages_.load(); }
  // What the driver says the balloon holds (its `actual` field).
  uint32_t actual_pages() const { return actual_pages_.load(); }
  // How often the driver is asked for statistics (0: no statistics queue).
  uint32_t stats_seconds() const { return options_.stats_seconds; }
  // A new interval (the VMM's API). Statistics cannot be switched on or off: the driver
  // negotiated the queue or not. Call while paused or not activated (resume() arms the
  // timer with it).
  Result<void> set_stats_interval(uint32_t seconds);

  struct Counters {
    uint64_t inflated_pages = 0;  // page numbers received on the inflate queue
    uint64_t deflated_pages = 0;
    uint64_t reported_bytes = 0;  // free memory reported and dropped
    uint64_t bad_pages = 0;       // page numbers outside guest RAM (ignored)
    uint64_t stats_updates = 0;
  };
  Counters counters() const;
  void report_metrics(metrics::Collector& out, const std::string& id) const override;
  // The latest statistics the driver sent, by tag.
  std::map<uint16_t, uint64_t> stats() const;

  // What the I/O thread does on a kick or a timer expiry; for tests.
  void process_inflate();
  void process_deflate();
  void process_stats();
  void process_reporting();
  void request_stats();

 private:
  struct QueueIndex {
    std::optional<uint16_t> stats, reporting;
  };
  void on_kick(uint16_t q, void (Balloon::*serve)());
  void on_stats_timer();
  // Pops every chain of `q`; `take` handles one (returns false to stop: queue broken).
  template <class F>
  void serve(uint16_t q, F take);
  void discard(uint64_t gpa, uint64_t len);
  void broke(std::string why);

  BalloonOptions options_;
  std::atomic<uint32_t> target_pages_{0};
  std::atomic<uint32_t> actual_pages_{0};
  Activation act_{};
  QueueIndex index_;
  bool broken_ = false;
  std::optional<uint16_t> stats_head_;  // the driver's stats buffer the device holds
  std::optional<TimerFd> stats_timer_;  // made at the first activation with statistics
  std::unique_ptr<IoThread> thread_;
  mutable std::mutex mu_;  // counters_ and stats_ (read from other threads)
  Counters counters_;
  std::map<uint16_t, uint64_t> stats_;
};

}  // namespace vireo::virtio
