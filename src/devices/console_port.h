// ConsolePort: what the terminal side of vireo (vmm::SerialConsole) needs of the device
// the guest's console runs on, the UART or a virtio console: bounded buffers both ways,
// moved by the main thread's event loop, with a wake callback when there is output to
// take or room for input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace vireo::devices {

class ConsolePort {
 public:
  virtual ~ConsolePort() = default;
  // Queues up to input_room() bytes for the guest; returns how many it took. The caller
  // keeps the rest and offers them again after the device's wake (nothing is dropped).
  virtual size_t enqueue_input(std::span<const uint8_t> bytes) = 0;
  virtual size_t input_room() const = 0;
  // Moves up to out.size() bytes the guest wrote into `out`; returns how many.
  virtual size_t take_output(std::span<uint8_t> out) = 0;
};

}  // namespace vireo::devices
