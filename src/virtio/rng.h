// Rng: virtio-rng, the entropy device (virtio 1.2, 5.4). One queue; the driver posts
// device-writable buffers and gets them back filled from the host's getrandom().
#pragma once

#include <memory>
#include <vector>

#include "virtio/device.h"
#include "virtio/io_thread.h"

namespace vireo::virtio {

class Rng : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  // Bytes given per request at most: a driver asking for more gets this many (and asks
  // again), so one request cannot keep the I/O thread in getrandom() for long.
  static constexpr uint32_t kMaxBytesPerRequest = 64 * 1024;

  ~Rng() override { deactivate(); }

  std::string_view name() const override { return "virtio-rng"; }
  uint32_t device_type() const override;
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }

  Result<void> activate(const Activation& activation) override;
  void deactivate() override;
  void pause() override;
  void resume() override;

  // Serves the queue now (what the I/O thread does on a kick); for tests.
  void process_queue();
  // Requests served and bytes given since activation.
  uint64_t requests() const { return requests_; }
  uint64_t bytes() const { return bytes_; }

 private:
  void on_kick();
  Result<uint32_t> fill(const DescriptorChain& chain);

  Activation act_{};
  bool broken_ = false;  // the driver broke the protocol: wait for its reset
  std::unique_ptr<IoThread> thread_;
  uint64_t requests_ = 0, bytes_ = 0;
};

}  // namespace vireo::virtio
