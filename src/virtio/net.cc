#include "virtio/net.h"

#include <linux/if_tun.h>

#include <cstring>

#include <fmt/format.h>

namespace vireo::virtio {

Net::Net(net::Tap tap, MacAddress mac, RateLimit rx_limit, RateLimit tx_limit)
    : tap_(std::move(tap)), mac_(mac), rx_limit_(rx_limit), tx_limit_(tx_limit) {}

Net::~Net() { deactivate(); }

uint64_t Net::offered_features() const {
  return feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
         feature::bit(feature::kIndirectDesc) | feature::bit(netf::kMac) |
         feature::bit(netf::kStatus) | feature::bit(netf::kCsum) |
         feature::bit(netf::kGuestCsum) | feature::bit(netf::kGuestTso4) |
         feature::bit(netf::kGuestTso6) | feature::bit(netf::kHostTso4) |
         feature::bit(netf::kHostTso6) | feature::bit(netf::kMrgRxbuf);
}

void Net::read_config(uint64_t offset, std::span<uint8_t> data) const {
  // struct virtio_net_config: mac[6], status, max_virtqueue_pairs.
  uint8_t c[10] = {};
  std::memcpy(c, mac_.data(), 6);
  c[6] = static_cast<uint8_t>(netf::kLinkUp);
  c[8] = 1;
  std::memcpy(data.data(), c + offset, data.size());
}

Result<void> Net::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  used_[0] = used_[1] = false;
  frame_len_ = 0;
  tap_watched_ = true;
  rx_kicks_off_ = false;
  // The host may hand us what the driver can take: checksums left to finish, and large
  // TCP segments.
  unsigned offloads = 0;
  if (negotiated(netf::kGuestCsum)) {
    offloads |= TUN_F_CSUM;
    if (negotiated(netf::kGuestTso4)) offloads |= TUN_F_TSO4;
    if (negotiated(netf::kGuestTso6)) offloads |= TUN_F_TSO6;
  }
  if (auto r = tap_.set_offloads(offloads); !r.ok()) {
    act_ = {};
    return r.error();
  }
  frame_.resize(netf::kMaxFrame);
  frame_admitted_ = false;
  if (auto t = make_throttles(); !t.ok()) {
    act_ = {};
    return t.error();
  }
  resume();
  if (!thread_) {
    deactivate();
    return Error("virtio-net: cannot start its I/O thread");
  }
  return {};
}

Result<void> Net::make_throttles() {
  auto tx = Throttle::create(tx_limit_);
  if (!tx.ok()) return tx.error().context("virtio-net transmit rate limiter");
  auto rx = Throttle::create(rx_limit_);
  if (!rx.ok()) return rx.error().context("virtio-net receive rate limiter");
  tx_throttle_ = std::move(*tx);
  rx_throttle_ = std::move(*rx);
  return {};
}

Result<void> Net::set_rate_limits(std::optional<RateLimit> rx, std::optional<RateLimit> tx) {
  if (!act_.interrupts) {  // the next activation makes the throttles
    if (rx) rx_limit_ = *rx;
    if (tx) tx_limit_ = *tx;
    return {};
  }
  // Both made before either changes; a direction not given keeps its buckets.
  std::optional<Throttle> rx_throttle, tx_throttle;
  if (rx) {
    auto t = Throttle::create(*rx);
    if (!t.ok()) return t.error().context("virtio-net receive rate limiter");
    rx_throttle = std::move(*t);
  }
  if (tx) {
    auto t = Throttle::create(*tx);
    if (!t.ok()) return t.error().context("virtio-net transmit rate limiter");
    tx_throttle = std::move(*t);
  }
  if (rx_throttle) {
    rx_limit_ = *rx;
    rx_throttle_ = std::move(*rx_throttle);
    act_.kicks[kRxQueue].signal();  // what waited for the old throttle's timer goes on
  }
  if (tx_throttle) {
    tx_limit_ = *tx;
    tx_throttle_ = std::move(*tx_throttle);
    act_.kicks[kTxQueue].signal();
  }
  return {};
}

void Net::deactivate() {
  thread_.reset();
  tx_throttle_ = {};
  rx_throttle_ = {};
  act_ = {};
  frame_len_ = 0;
  frame_admitted_ = false;
}

void Net::pause() { thread_.reset(); }

void Net::resume() {
  if (!act_.interrupts || thread_) return;
  std::vector<IoThread::Watch> watches = {
      {act_.kicks[kRxQueue].fd(), [this] { on_rx_kick(); }},
      {act_.kicks[kTxQueue].fd(), [this] { on_tx_kick(); }},
      {tap_.fd(), [this] { on_tap(); }},
  };
  if (tx_throttle_.limited()) watches.push_back({tx_throttle_.fd(), [this] { on_timer(); }});
  if (rx_throttle_.limited()) watches.push_back({rx_throttle_.fd(), [this] { on_rx_timer(); }});
  auto t = IoThread::start("virtio-net", std::move(watches));
  if (!t.ok()) return;
  thread_ = std::move(*t);
  tap_watched_ = true;
}

void Net::broken(std::string why) {
  if (broken_) return;
  broken_ = true;
  act_.interrupts->needs_reset(std::move(why));
}

void Net::watch_tap(bool on) {
  if (tap_watched_ != on && thread_ && thread_->set_watching(tap_.fd(), on).ok()) tap_watched_ = on;
}

void Net::notify(uint16_t queue) {
  if (!used_[queue] || broken_) return;
  used_[queue] = false;
  notify_used(act_, queue);
}

void Net::on_rx_kick() {
  act_.kicks[kRxQueue].drain();
  process_rx();
}

void Net::on_tx_kick() {
  act_.kicks[kTxQueue].drain();
  process_tx();
}

void Net::on_tap() { process_rx(); }

void Net::on_timer() {
  tx_throttle_.on_timer();
  process_tx();
}

void Net::on_rx_timer() {
  rx_throttle_.on_timer();
  process_rx();
}

void Net::process_tx() {
  Queue& q = act_.queues[kTxQueue];
  if (broken_ || tx_throttle_.waiting() || !q.state().ready) return;
  const auto& mem = *act_.mem;
  std::vector<iovec> parts;
  // No kicks while the ring is being worked through (the driver adds frames without an
  // exit); asked for again once it is empty, with one more look for frames added before
  // the driver could see that.
  if (!q.set_notifications(mem, false).ok()) return broken("transmit used ring is not writable");
  for (;;) {
    auto chain = q.pop(mem);
    if (!chain.ok()) return broken(chain.error().message());
    if (!*chain) {
      if (!q.set_notifications(mem, true).ok()) return broken("transmit used ring is not writable");
      auto more = q.has_available(mem);
      if (!more.ok() || !*more) break;
      (void)q.set_notifications(mem, false);
      continue;
    }
    const DescriptorChain& c = **chain;
    const uint64_t len = c.readable_bytes();
    auto go = tx_throttle_.admit(len);
    if (!go.ok() || !*go) {
      q.undo_pop();
      stats_.throttled.fetch_add(1, std::memory_order_relaxed);
      if (!go.ok()) broken(go.error().message());
      break;
    }
    // A frame is its readable buffers, header first; anything writable is ignored.
    bool ok = len > net::Tap::kVnetHeaderSize && len <= netf::kMaxFrame;
    parts.clear();
    for (const auto& d : c.descriptors) {
      if (!ok || d.device_writable || d.len == 0) continue;
      auto s = mem.slice(d.addr, d.len);
      if (!s.ok()) {
        ok = false;
        break;
      }
      parts.push_back({const_cast<uint8_t*>(s->data()), s->size()});  // writev only reads
    }
    if (ok && tap_.write(parts).ok()) {
      stats_.tx_frames.fetch_add(1, std::memory_order_relaxed);
      stats_.tx_bytes.fetch_add(len - net::Tap::kVnetHeaderSize, std::memory_order_relaxed);
    } else {
      stats_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
    }
    if (!q.add_used(mem, c.head, 0).ok()) return broken("transmit used ring is not writable");
    used_[kTxQueue] = true;
  }
  notify(kTxQueue);
}

void Net::process_rx() {
  Queue& rxq = act_.queues[kRxQueue];
  if (broken_ || rx_throttle_.waiting() || !rxq.state().ready) {
    // Nothing can be delivered until a reset, a kick or the throttle's timer: stop
    // watching the tap (level-triggered) or frames waiting there wake us over and over.
    watch_tap(false);
    return;
  }
  if (!rx_kicks_off_) rx_kicks_off_ = rxq.set_notifications(*act_.mem, false).ok();
  for (;;) {
    if (frame_len_ == 0) {
      auto n = tap_.read(frame_);
      if (!n.ok() || *n == 0) break;  // nothing waiting (a read error: try on the next wake)
      frame_len_ = *n;
      frame_admitted_ = false;
    }
    if (!frame_admitted_) {
      auto go = rx_throttle_.admit(frame_len_ - std::min(frame_len_, net::Tap::kVnetHeaderSize));
      if (!go.ok()) return broken(go.error().message());
      if (!*go) {
        // Over the limit: the frame waits, and the tap is not read until the timer says
        // tokens are back (frames queue in the tap, and beyond its queue the host drops).
        stats_.throttled.fetch_add(1, std::memory_order_relaxed);
        watch_tap(false);
        notify(kRxQueue);
        return;
      }
      frame_admitted_ = true;
    }
    auto delivered = deliver_frame();
    if (!delivered.ok()) {
      broken(delivered.error().message());
      return;
    }
    if (!*delivered) {
      // No room: kicks on again, then one more look (buffers the driver made available
      // before it could see that got no kick).
      if (rx_kicks_off_) {
        rx_kicks_off_ = false;
        if (!rxq.set_notifications(*act_.mem, true).ok()) return broken("receive used ring is not writable");
        if (auto more = rxq.has_available(*act_.mem); more.ok() && *more) continue;
      }
      // Stop watching the tap until the driver posts buffers (its kick).
      watch_tap(false);
      notify(kRxQueue);
      return;
    }
  }
  watch_tap(true);
  notify(kRxQueue);
}

Result<bool> Net::deliver_frame() {
  Queue& q = act_.queues[kRxQueue];
  const auto& mem = *act_.mem;
  const bool mergeable = negotiated(netf::kMrgRxbuf);
  // Take chains until the frame fits (one chain without MRG_RXBUF), then copy.
  std::vector<DescriptorChain>& chains = rx_chains_;
  chains.clear();
  uint64_t room = 0;
  while (room < frame_len_) {
    if (!chains.empty() && !mergeable) break;
    VIREO_ASSIGN_OR_RETURN(auto chain, q.pop(mem));
    if (!chain) break;
    room += chain->writable_bytes();
    chains.push_back(std::move(*chain));
  }
  if (room < frame_len_) {
    if (!mergeable && !chains.empty()) {
      // The driver's buffers are too small for this frame and always will be: drop it,
      // give the buffer back unused.
      stats_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
      frame_len_ = 0;
      VIREO_TRY(q.add_used(mem, chains[0].head, 0));
      used_[kRxQueue] = true;
      return true;
    }
    for (size_t i = 0; i < chains.size(); ++i) q.undo_pop();
    return false;
  }
  // num_buffers: how many chains the frame spans (always 1 without MRG_RXBUF).
  const auto count = static_cast<uint16_t>(chains.size());
  std::memcpy(frame_.data() + netf::kNumBuffersOffset, &count, sizeof(count));
  size_t done = 0;
  for (const auto& c : chains) {
    ChainWriter w(mem, c);
    const size_t n = std::min<size_t>(frame_len_ - done, w.remaining());
    VIREO_TRY(w.write(std::span<const uint8_t>(frame_.data() + done, n)));
    done += n;
    VIREO_TRY(q.add_used(mem, c.head, static_cast<uint32_t>(n)));
  }
  used_[kRxQueue] = true;
  stats_.rx_frames.fetch_add(1, std::memory_order_relaxed);
  stats_.rx_bytes.fetch_add(frame_len_ - net::Tap::kVnetHeaderSize, std::memory_order_relaxed);
  frame_len_ = 0;
  return true;
}

void Net::report_metrics(metrics::Collector& out, const std::string& id) const {
  out.scope("net", "iface", id);
  out.counter("tx_packets", stats_.tx_frames.load());
  out.counter("tx_bytes", stats_.tx_bytes.load());
  out.counter("tx_dropped", stats_.tx_dropped.load());
  out.counter("rx_packets", stats_.rx_frames.load());
  out.counter("rx_bytes", stats_.rx_bytes.load());
  out.counter("rx_dropped", stats_.rx_dropped.load());
  out.counter("rate_limiter_throttled", stats_.throttled.load());
}

}  // namespace vireo::virtio
