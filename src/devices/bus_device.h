// The contract of every device on a Bus (legacy and virtio transports alike): guest
// accesses, a name, reset, pause/resume and save/restore of its state.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "devices/placement.h"
#include "util/result.h"

namespace vireo::devices {

// A device's saved state: its plain state struct encoded with util/state_codec.h, and
// the version of that encoding (each device numbers its own, starting at 1).
struct DeviceState {
  uint32_t version = 0;
  std::vector<uint8_t> bytes;
  bool operator==(const DeviceState&) const = default;
};

class BusDevice {
 public:
  virtual ~BusDevice() = default;

  // What kind of device this is ("serial", "rtc", ...): names it in errors and logs. The
  // device manager gives each instance its id.
  virtual std::string_view name() const = 0;

  // `offset` is relative to the start of the range the device was registered at.
  // `data.size()` is the access width (1, 2, 4 or 8). Reads must fill all of `data`.
  // Any offset and width must be safe (a guest chooses them). Called from vCPU threads;
  // devices lock their own state.
  virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write(uint64_t offset, std::span<const uint8_t> data) = 0;

  // Back to the power-on state, as after a machine reset; the device's wiring (interrupt
  // line, callbacks, back-end) stays. Called with the vCPUs stopped or paused.
  virtual void reset() = 0;

  // Quiesce and restart what the device does on its own (threads, timers, back-end I/O):
  // after pause() returns it changes neither guest memory nor its state until resume().
  // Devices that only act when a vCPU accesses them have nothing to do (the default);
  // the VMM pauses the vCPUs first.
  virtual void pause() {}
  virtual void resume() {}

  // The guest-visible state, and putting it back. restore() validates the whole state
  // before changing anything: on error the device is as it was. It does not drive the
  // interrupt line (the interrupt controller's state is restored with its own).
  virtual DeviceState save() const = 0;
  virtual Result<void> restore(const DeviceState& state) = 0;

  // The device's ACPI description (an AML Device() term for the DSDT's \_SB scope) as
  // placed at `where`, or nothing for devices the guest finds otherwise (the FADT's
  // registers, PCI functions, ports no driver looks for).
  virtual std::vector<uint8_t> aml(const Placement& where) const {
    (void)where;
    return {};
  }
};

}  // namespace vireo::devices
