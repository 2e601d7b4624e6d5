// An interrupt line from a device to the interrupt controller.
#pragma once

namespace vireo::devices {

class Irq {
 public:
  virtual ~Irq() = default;
  // Drives the line: ISA devices call this with the level of their interrupt output
  // (e.g. a UART asserts while any enabled interrupt is pending). Edge-triggered inputs
  // see the rising edge.
  virtual void set_level(bool high) = 0;
};

}  // namespace vireo::devices
