// An Irq that records every level change and every trigger, for device tests.
#pragma once

#include <cstddef>
#include <vector>

#include "devices/irq.h"

namespace vireo::devices {

class FakeIrq : public Irq {
 public:
  void set_level(bool high) override { levels.push_back(high); }
  void trigger() override { ++triggers; }
  bool level() const { return !levels.empty() && levels.back(); }
  size_t rising_edges() const {
    size_t n = 0;
    for (size_t i = 0; i < levels.size(); ++i)
      if (levels[i] && (i == 0 || !levels[i - 1])) ++n;
    return n;
  }
  std::vector<bool> levels;
  size_t triggers = 0;  // interrupt messages sent with trigger()
};

}  // namespace vireo::devices
