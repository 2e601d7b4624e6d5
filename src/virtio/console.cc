#include "virtio/console.h"

#include <algorithm>

namespace vireo::virtio {

Result<std::shared_ptr<Console>> Console::create(WakeFn wake) {
  VIREO_ASSIGN_OR_RETURN(auto more, EventFd::create());
  return std::make_shared<Console>(Key{}, std::move(more), std::move(wake));
}

Console::Console(Key, EventFd more, WakeFn wake) : more_(std::move(more)), wake_(std::move(wake)) {}

Console::~Console() { deactivate(); }

uint64_t Console::offered_features() const {
  return feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
         feature::bit(feature::kIndirectDesc);
}

Result<void> Console::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  resume();
  if (!thread_) {
    act_ = {};
    return Error("virtio-console: cannot start its I/O thread");
  }
  return {};
}

void Console::deactivate() {
  thread_.reset();
  act_ = {};
}

void Console::pause() { thread_.reset(); }

void Console::resume() {
  if (!act_.interrupts || thread_) return;
  auto t = IoThread::start("virtio-console",
                           {{act_.kicks[kRxQueue].fd(), [this] { act_.kicks[kRxQueue].drain(); process(); }},
                            {more_.fd(), [this] { more_.drain(); process(); }}});
  if (t.ok()) thread_ = std::move(*t);
}

void Console::broken(std::string why) {
  if (broken_) return;
  broken_ = true;
  act_.interrupts->needs_reset(std::move(why));
}

void Console::process() {
  std::lock_guard lock(queues_mu_);
  if (broken_) return;
  process_tx();
  process_rx();
}

void Console::notified(uint16_t queue) {
  if (queue != kTxQueue) return;
  std::lock_guard lock(queues_mu_);
  if (!broken_) process_tx();
}

void Console::process_tx() {
  Queue& q = act_.queues[kTxQueue];
  if (!q.state().ready) return;
  const auto& mem = *act_.mem;
  bool used = false, output = false;
  std::vector<uint8_t> bytes;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (out_.size() >= kOutputCapacity) break;  // take_output() wakes us
    }
    auto chain = q.pop(mem);
    if (!chain.ok()) return broken(chain.error().message());
    if (!*chain) break;
    // At most the buffer's capacity per chain: a hostile 4 GiB chain costs no memory.
    const uint64_t len = std::min<uint64_t>((*chain)->readable_bytes(), kOutputCapacity);
    bytes.resize(len);
    ChainReader r(mem, **chain);
    if (!r.read(bytes).ok()) bytes.clear();
    {
      std::lock_guard lock(mu_);
      dropped_ += (*chain)->readable_bytes() - bytes.size();
      out_.insert(out_.end(), bytes.begin(), bytes.end());
    }
    output |= !bytes.empty();
    if (!q.add_used(mem, (*chain)->head, 0).ok()) return broken("transmit used ring is not writable");
    used = true;
  }
  if (output && wake_) wake_();
  if (used) notify_used(act_, kTxQueue);
}

void Console::process_rx() {
  Queue& q = act_.queues[kRxQueue];
  if (!q.state().ready) return;
  const auto& mem = *act_.mem;
  bool used = false, room = false;
  std::vector<uint8_t> bytes;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (in_.empty()) break;
    }
    auto chain = q.pop(mem);
    if (!chain.ok()) return broken(chain.error().message());
    if (!*chain) break;  // the driver's kick brings us back
    ChainWriter w(mem, **chain);
    {
      std::lock_guard lock(mu_);
      const size_t n = static_cast<size_t>(std::min<uint64_t>(w.remaining(), in_.size()));
      bytes.assign(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n));
      in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n));
      room |= input_refused_;
      input_refused_ = false;
    }
    const uint32_t len = w.write(bytes).ok() ? static_cast<uint32_t>(bytes.size()) : 0;
    if (!q.add_used(mem, (*chain)->head, len).ok()) return broken("receive used ring is not writable");
    used = true;
  }
  if (room && wake_) wake_();
  if (used) notify_used(act_, kRxQueue);
}

size_t Console::enqueue_input(std::span<const uint8_t> bytes) {
  size_t took;
  {
    std::lock_guard lock(mu_);
    took = std::min(bytes.size(), kInputCapacity - in_.size());
    in_.insert(in_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(took));
    if (took < bytes.size()) input_refused_ = true;
  }
  if (took > 0) more_.signal();
  return took;
}

size_t Console::input_room() const {
  std::lock_guard lock(mu_);
  return kInputCapacity - in_.size();
}

size_t Console::take_output(std::span<uint8_t> out) {
  size_t n;
  bool was_full;
  {
    std::lock_guard lock(mu_);
    was_full = out_.size() >= kOutputCapacity;
    n = std::min(out.size(), out_.size());
    std::copy_n(out_.begin(), n, out.begin());
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (was_full && n > 0) more_.signal();  // transmit chains were left waiting
  return n;
}

uint64_t Console::output_dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace vireo::virtio
