// An interrupt from a device to the interrupt controller: a line with a level, or
// interrupt messages (edges, MSIs).
#pragma once

namespace vireo::devices {

class Irq {
 public:
  virtual ~Irq() = default;
  // Drives the line: ISA devices call this with the level of their interrupt output
  // (e.g. a UART asserts while any enabled interrupt is pending). Edge-triggered inputs
  // see the rising edge.
  virtual void set_level(bool high) = 0;
  // Sends one interrupt: edge-triggered and MSI-style interrupts (a virtio queue's
  // used-buffer notification). Each call is one interrupt message; the guest may still
  // merge several that arrive before it takes the first (one IRR bit per vector).
  virtual void trigger() = 0;
};

}  // namespace vireo::devices
