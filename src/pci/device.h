// PciDevice: a PCI function on the root bus. As a BusDevice its read()/write() are
// accesses to its configuration space (offset = register), and reset, pause/resume and
// save/restore are the same contract as every device's. Its BARs are reached through
// read_bar()/write_bar(), which the root bus maps on the MMIO bus where the guest
// programmed them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "devices/bus_device.h"
#include "pci/config_space.h"

namespace vireo::pci {

class PciDevice : public devices::BusDevice {
 public:
  // An access at `offset` into BAR `index` (vCPU threads; any offset and width inside the
  // BAR's size).
  virtual void read_bar(unsigned index, uint64_t offset, std::span<uint8_t> data) = 0;
  virtual void write_bar(unsigned index, uint64_t offset, std::span<const uint8_t> data) = 0;

  // BAR `index` as declared, and where it decodes now (ConfigSpace::decoded_bar).
  virtual std::optional<Bar> bar(unsigned index) const = 0;
  virtual std::optional<uint64_t> decoded_bar(unsigned index) const = 0;
  // Firmware placement of BAR `index`, before the guest runs (and what a reset restores).
  virtual void place_bar(unsigned index, uint64_t address) = 0;

  // The root bus now routes BAR `index` from `now` (nothing: the BAR is not decoded),
  // after a configuration write, a reset or a restore moved it: a device with ioeventfds
  // in the BAR moves them.
  virtual void bar_mapped(unsigned index, std::optional<uint64_t> now) {
    (void)index;
    (void)now;
  }
};

}  // namespace vireo::pci
