// An Irq that records every level change, for device tests.
#pragma once

#include <vector>

#include "devices/irq.h"

namespace vireo::devices {

class FakeIrq : public Irq {
 public:
  void set_level(bool high) override { levels.push_back(high); }
  bool level() const { return !levels.empty() && levels.back(); }
  std::vector<bool> levels;
};

}  // namespace vireo::devices
