// ConfigSpace: the configuration space of one PCI function (type 0 header), 4 KiB as
// ECAM shows it (port 0xcf8/0xcfc reaches the first 256 bytes).
//
// Every byte has a write mask: guest writes change only the bits the device declared
// writable, which is also how BAR sizing works (the guest writes all ones and reads back
// ~(size - 1) plus the type bits). Capabilities are appended to the list at 0x34.
//
// Not thread-safe: the device that owns it locks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "util/result.h"
#include "util/state_codec.h"

namespace vireo::pci {

inline constexpr uint32_t kConfigSize = 4096;      // PCI Express extended space (ECAM)
inline constexpr uint32_t kLegacyConfigSize = 256;  // what ports 0xcf8/0xcfc reach
inline constexpr unsigned kBarCount = 6;

// Type 0 header registers (PCI Local Bus 3.0, 6.1).
namespace reg {
inline constexpr uint32_t kVendorId = 0x00;
inline constexpr uint32_t kDeviceId = 0x02;
inline constexpr uint32_t kCommand = 0x04;
inline constexpr uint32_t kStatus = 0x06;
inline constexpr uint32_t kRevision = 0x08;
inline constexpr uint32_t kClassCode = 0x09;  // 3 bytes: programming interface, subclass, class
inline constexpr uint32_t kHeaderType = 0x0e;
inline constexpr uint32_t kBar0 = 0x10;
inline constexpr uint32_t kSubsystemVendorId = 0x2c;
inline constexpr uint32_t kSubsystemId = 0x2e;
inline constexpr uint32_t kCapabilities = 0x34;
inline constexpr uint32_t kInterruptLine = 0x3c;
inline constexpr uint32_t kInterruptPin = 0x3d;
inline constexpr uint32_t kFirstCapability = 0x40;
}  // namespace reg

namespace command {
inline constexpr uint16_t kIoSpace = 1 << 0;
inline constexpr uint16_t kMemorySpace = 1 << 1;
inline constexpr uint16_t kBusMaster = 1 << 2;
inline constexpr uint16_t kIntxDisable = 1 << 10;
}  // namespace command

inline constexpr uint16_t kStatusCapabilityList = 1 << 4;

struct Identity {
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // class << 16 | subclass << 8 | programming interface
  uint16_t subsystem_vendor_id = 0;
  uint16_t subsystem_id = 0;
};

// Memory BARs (vireo's devices have no I/O BARs). A 64-bit BAR takes two registers.
enum class BarKind : uint8_t { kMemory32, kMemory64 };

struct Bar {
  uint64_t size = 0;  // a power of two, at least 4 KiB
  BarKind kind = BarKind::kMemory32;
  bool prefetchable = false;
};

class ConfigSpace {
 public:
  explicit ConfigSpace(const Identity& id);

  // Guest accesses at any offset and width; bytes past kConfigSize read as ones.
  void read(uint32_t offset, std::span<uint8_t> data) const;
  void write(uint32_t offset, std::span<const uint8_t> data);

  // Declares BAR `index` (kMemory64 also takes index + 1). Before the guest runs.
  Result<void> add_bar(unsigned index, const Bar& bar);
  const std::optional<Bar>& bar(unsigned index) const { return bars_[index]; }
  // The address programmed in BAR `index` (firmware or guest).
  uint64_t bar_address(unsigned index) const;
  // Programs the BAR's address, as firmware does before the guest runs.
  void set_bar_address(unsigned index, uint64_t address);
  // Where BAR `index` decodes now: its address while memory decoding is on and the
  // address is not 0 (a function the guest has not placed); nothing otherwise.
  std::optional<uint64_t> decoded_bar(unsigned index) const;

  // Appends a capability: `body` is everything after the ID and next-pointer bytes;
  // `writable` (same length as body, or empty for read-only) masks the guest's writes.
  // Returns the capability's offset.
  Result<uint32_t> add_capability(uint8_t id, std::span<const uint8_t> body,
                                  std::span<const uint8_t> writable = {});

  uint16_t command() const { return u16(reg::kCommand); }
  uint8_t u8(uint32_t offset) const { return bytes_[offset]; }
  uint16_t u16(uint32_t offset) const;
  uint32_t u32(uint32_t offset) const;
  // Sets bytes regardless of the write mask (the device's own registers).
  void set_u8(uint32_t offset, uint8_t v) { bytes_[offset] = v; }
  void set_u16(uint32_t offset, uint16_t v);
  void set_u32(uint32_t offset, uint32_t v);

  // The power-on contents (as built, BAR addresses as firmware placed them).
  void reset() { bytes_ = initial_; }
  // State: the bytes. restore() takes only bytes this space could hold (same read-only
  // bits as now).
  void save(StateWriter& w) const;
  Result<void> restore(StateReader& r);
  // Marks the current contents as the power-on contents (after firmware placement).
  void commit_initial() { initial_ = bytes_; }

 private:
  void set_mask(uint32_t offset, uint32_t width, uint64_t mask);

  std::array<uint8_t, kConfigSize> bytes_{};
  std::array<uint8_t, kConfigSize> writable_{};
  std::array<uint8_t, kConfigSize> initial_{};
  std::array<std::optional<Bar>, kBarCount> bars_{};
  uint32_t next_capability_ = reg::kFirstCapability;
  uint32_t last_capability_ = 0;
};

}  // namespace vireo::pci
