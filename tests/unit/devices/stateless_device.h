// A base for test devices that only care about accesses: a name, nothing to reset and an
// empty state.
#pragma once

#include "devices/bus_device.h"

namespace vireo::devices {

class StatelessTestDevice : public BusDevice {
 public:
  std::string_view name() const override { return "test-device"; }
  void reset() override {}
  DeviceState save() const override { return {1, {}}; }
  Result<void> restore(const DeviceState& s) override {
    if (s.version != 1 || !s.bytes.empty()) return Error("test-device state is empty");
    return {};
  }
};

}  // namespace vireo::devices
