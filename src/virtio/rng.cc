#include "virtio/rng.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "virtio/spec.h"

namespace vireo::virtio {

uint32_t Rng::device_type() const { return device_id::kEntropy; }

uint64_t Rng::offered_features() const {
  return feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
         feature::bit(feature::kIndirectDesc);
}

Result<void> Rng::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  requests_ = bytes_ = 0;
  resume();
  if (!thread_) {
    act_ = {};
    return Error("virtio-rng: cannot start its I/O thread");
  }
  return {};
}

void Rng::deactivate() {
  thread_.reset();
  act_ = {};
}

void Rng::pause() { thread_.reset(); }

void Rng::resume() {
  if (!act_.interrupts || thread_) return;
  auto t = IoThread::start("virtio-rng", {{act_.kicks[0].fd(), [this] { on_kick(); }}});
  if (t.ok()) thread_ = std::move(*t);
}

void Rng::on_kick() {
  act_.kicks[0].drain();
  process_queue();
}

void Rng::process_queue() {
  Queue& q = act_.queues[0];
  if (broken_ || !q.state().ready) return;
  const auto& mem = *act_.mem;
  bool used = false;
  for (;;) {
    auto chain = q.pop(mem);
    if (!chain.ok()) {
      broken_ = true;
      act_.interrupts->needs_reset(chain.error().message());
      return;
    }
    if (!*chain) break;
    auto len = fill(**chain);
    // A failed getrandom() gives the buffer back empty: the driver asks again.
    if (!q.add_used(mem, (*chain)->head, len.ok() ? *len : 0).ok()) {
      broken_ = true;
      act_.interrupts->needs_reset("used ring is not writable");
      return;
    }
    used = true;
    ++requests_;
  }
  if (!used) return;
  notify_used(act_, 0);
}

Result<uint32_t> Rng::fill(const DescriptorChain& chain) {
  uint32_t total = 0;
  for (const auto& d : chain.descriptors) {
    if (!d.device_writable) continue;  // the driver sends nothing; readable parts are ignored
    const uint32_t n = std::min(d.len, kMaxBytesPerRequest - total);
    if (n == 0) break;
    VIREO_ASSIGN_OR_RETURN(auto slice, act_.mem->writable_slice(d.addr, n));
    auto out = slice.bytes();
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t got = getrandom(out.data() + done, out.size() - done, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return Error(fmt::format("getrandom: {}", std::strerror(errno)));
      done += static_cast<size_t>(got);
    }
    total += n;
    bytes_ += n;
  }
  return total;
}

}  // namespace vireo::virtio
