// Net: virtio-net (virtio 1.2, 5.1) on a tap interface. Two queues, receive (0) and
// transmit (1), served on the device's I/O thread, which also watches the tap:
// - transmit: each chain is one frame with its virtio-net header in front; the readable
//   buffers go to the tap as they are (writev), so checksum and TSO requests pass through.
// - receive: a frame read from the tap is copied into the driver's buffers; with
//   VIRTIO_NET_F_MRG_RXBUF it may span several chains (num_buffers in the header says how
//   many). While the driver has posted no buffers, the tap is not watched (frames wait in
//   the kernel's queue, which drops when full, as a NIC would) until the driver kicks.
// The MAC is given or derived from the interface's id and tap name; the link is up.
// Each direction has its own rate limit (token buckets and a timer on the I/O thread):
// transmit chains wait in their queue, received frames wait in the tap. The limits can be
// changed on a live device (set_rate_limits, with the device paused).
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/tap.h"
#include "virtio/device.h"
#include "virtio/io_thread.h"
#include "virtio/mac.h"
#include "virtio/rate_limiter.h"
#include "virtio/spec.h"

namespace vireo::virtio {

// 5.1.3 Feature bits, 5.1.6 header.
namespace netf {
inline constexpr unsigned kCsum = 0;
inline constexpr unsigned kGuestCsum = 1;
inline constexpr unsigned kMac = 5;
inline constexpr unsigned kGuestTso4 = 7;
inline constexpr unsigned kGuestTso6 = 8;
inline constexpr unsigned kHostTso4 = 11;
inline constexpr unsigned kHostTso6 = 12;
inline constexpr unsigned kMrgRxbuf = 15;
inline constexpr unsigned kStatus = 16;
inline constexpr uint16_t kLinkUp = 1;
// The largest frame with its header: a 64 KiB TSO segment plus the Ethernet header.
inline constexpr size_t kMaxFrame = 12 + 65550;
inline constexpr uint64_t kNumBuffersOffset = 10;  // virtio_net_hdr_v1.num_buffers
}  // namespace netf

class Net : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint16_t kRxQueue = 0, kTxQueue = 1;

  // `rx_limit`: on what the guest receives; `tx_limit`: on what it sends.
  Net(net::Tap tap, MacAddress mac, RateLimit rx_limit = {}, RateLimit tx_limit = {});
  ~Net() override;

  std::string_view name() const override { return "virtio-net"; }
  uint32_t device_type() const override { return device_id::kNet; }
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
  uint32_t config_size() const override { return 10; }  // mac, status, max_virtqueue_pairs
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;

  Result<void> activate(const Activation& activation) override;
  void deactivate() override;
  void pause() override;
  void resume() override;

  const MacAddress& mac() const { return mac_; }
  const net::Tap& tap() const { return tap_; }
  RateLimit rx_limit() const { return rx_limit_; }
  RateLimit tx_limit() const { return tx_limit_; }
  // New limits (absent: unchanged), with fresh buckets. Call while the device is paused
  // (no I/O thread) or not activated; the queues are looked at again when it resumes.
  Result<void> set_rate_limits(std::optional<RateLimit> rx, std::optional<RateLimit> tx);

  struct Stats {
    std::atomic<uint64_t> tx_frames{0}, tx_bytes{0}, rx_frames{0}, rx_bytes{0};
    std::atomic<uint64_t> tx_dropped{0};  // malformed or refused by the tap
    std::atomic<uint64_t> rx_dropped{0};  // larger than the driver's buffers
    std::atomic<uint64_t> throttled{0};
  };
  const Stats& stats() const { return stats_; }
  void report_metrics(metrics::Collector& out, const std::string& id) const override;

  // What the I/O thread does on a kick or a readable tap; for tests.
  void process_tx();
  void process_rx();

 private:
  void on_rx_kick();
  void on_tx_kick();
  void on_tap();
  void on_timer();
  void on_rx_timer();
  // Copies the pending frame into the driver's receive buffers; false if they do not
  // have room for it yet (the chains taken are put back).
  Result<bool> deliver_frame();
  void broken(std::string why);
  // Starts or stops reading the tap (no buffers, or throttled).
  void watch_tap(bool on);
  void notify(uint16_t queue);
  bool negotiated(unsigned bit) const { return act_.features & feature::bit(bit); }

  net::Tap tap_;
  MacAddress mac_;
  // Makes the throttles from the limits.
  Result<void> make_throttles();

  RateLimit rx_limit_, tx_limit_;
  Throttle tx_throttle_;  // on what the guest sends
  Throttle rx_throttle_;  // on what it receives
  Activation act_{};
  bool broken_ = false;
  bool tap_watched_ = true;
  std::vector<uint8_t> frame_;  // a received frame waiting for buffers (frame_len_ bytes)
  size_t frame_len_ = 0;
  bool frame_admitted_ = false;  // the pending frame's tokens are taken
  bool used_[2] = {false, false};
  // The receive queue's kicks are off while the device has buffers to fill (asked for
  // again when it runs out, as QEMU does): a driver refilling its ring costs no exit.
  bool rx_kicks_off_ = false;
  std::vector<DescriptorChain> rx_chains_;  // deliver_frame()'s, kept for their capacity
  std::unique_ptr<IoThread> thread_;
  Stats stats_;
};

}  // namespace vireo::virtio
