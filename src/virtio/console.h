// Console: virtio-console (virtio 1.2, 5.3) with one port, the guest's hvc0, as an
// alternative to the UART for the terminal (`--console virtio`). Queues: receive (0,
// towards the guest) and transmit (1). The terminal side is a devices::ConsolePort: the
// main thread's event loop takes output and offers input; the device's I/O thread moves
// bytes between those bounded buffers and the queues:
// - transmit: chains are taken while the output buffer has room; when it is full the
//   chains stay in the queue (the guest's hvc driver waits), so a stalled terminal slows
//   the guest's printing and never grows memory. take_output() wakes the thread again.
// - receive: input waits in a bounded buffer until the driver posts receive buffers.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "devices/console_port.h"
#include "virtio/device.h"
#include "virtio/io_thread.h"
#include "virtio/spec.h"

namespace vireo::virtio {

class Console : public VirtioDevice, public devices::ConsolePort {
 public:
  static constexpr uint16_t kQueueSize = 64;
  static constexpr uint16_t kRxQueue = 0, kTxQueue = 1;
  static constexpr size_t kOutputCapacity = 16384;
  static constexpr size_t kInputCapacity = 1024;
  using WakeFn = std::function<void()>;

  // `wake` (may be empty) tells the console loop there is output, or room for input.
  static Result<std::shared_ptr<Console>> create(WakeFn wake);
  struct Key {
   private:
    friend class Console;
    Key() = default;
  };
  Console(Key, EventFd more, WakeFn wake);
  ~Console() override;

  std::string_view name() const override { return "virtio-console"; }
  uint32_t device_type() const override { return device_id::kConsole; }
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize, kQueueSize}; }
  uint32_t config_size() const override { return 12; }  // cols, rows, max_nr_ports, emerg_wr

  // The hvc driver spins until each write comes back: transmit is served on the vCPU.
  bool served_on_vcpu(uint16_t queue) const override { return queue == kTxQueue; }
  void notified(uint16_t queue) override;

  Result<void> activate(const Activation& activation) override;
  void deactivate() override;
  void pause() override;
  void resume() override;

  size_t enqueue_input(std::span<const uint8_t> bytes) override;
  size_t input_room() const override;
  size_t take_output(std::span<uint8_t> out) override;
  // Bytes of transmit chains longer than the output buffer, dropped.
  uint64_t output_dropped() const;

  // What the I/O thread does when woken; for tests.
  void process();

 private:
  void process_tx();
  void process_rx();
  void broken(std::string why);

  EventFd more_;  // the console loop took output or gave input
  WakeFn wake_;
  Activation act_{};
  bool broken_ = false;
  std::unique_ptr<IoThread> thread_;
  std::mutex queues_mu_;   // the I/O thread and a notifying vCPU both serve the queues
  mutable std::mutex mu_;  // guards the buffers below, shared with the console loop
  std::deque<uint8_t> out_, in_;
  bool input_refused_ = false;  // the loop was short of room: wake it when there is some
  uint64_t dropped_ = 0;
};

}  // namespace vireo::virtio
