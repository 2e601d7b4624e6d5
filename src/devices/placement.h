// Where the device manager put a device: which bus, which range, which interrupt.
#pragma once

#include <cstdint>
#include <optional>

namespace vireo::devices {

// kPci: a function on PCI bus 0; `base` is its device/function number (slot << 3 |
// function), `len` 0, and its BARs are where its configuration space says.
enum class BusKind : uint8_t { kPio = 0, kMmio = 1, kPci = 2 };

struct Placement {
  BusKind bus = BusKind::kPio;
  uint64_t base = 0;
  uint64_t len = 0;
  std::optional<uint32_t> gsi;  // its interrupt input (GSI) if it has one
  uint32_t index = 0;           // the n-th device of its kind (COM1 is serial 0)
  bool operator==(const Placement&) const = default;
};

}  // namespace vireo::devices
