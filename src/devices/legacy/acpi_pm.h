// The hardware-reduced ACPI power-management device: sleep control, sleep status and
// reset registers in one small port block (layout::kPortAcpiPm), described by the FADT.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "arch/x86/acpi.h"
#include "devices/bus_device.h"

namespace vireo::devices {

class AcpiPm : public BusDevice {
 public:
  // Register offsets and values. They are defined next to the FADT builder (the arch
  // layer may not include devices/), so the FADT and this device cannot disagree.
  static constexpr uint64_t kSleepControlOffset = arch::x86::acpi_pm::kSleepControlOffset;
  static constexpr uint64_t kSleepStatusOffset = arch::x86::acpi_pm::kSleepStatusOffset;
  static constexpr uint64_t kResetOffset = arch::x86::acpi_pm::kResetOffset;
  static constexpr uint8_t kSlpTypShift = arch::x86::acpi_pm::kSlpTypShift;
  static constexpr uint8_t kSlpTypMask = arch::x86::acpi_pm::kSlpTypMask;
  static constexpr uint8_t kSlpEn = arch::x86::acpi_pm::kSlpEn;
  static constexpr uint8_t kWakSts = arch::x86::acpi_pm::kWakSts;
  static constexpr uint8_t kSlpTypS5 = arch::x86::acpi_pm::kSlpTypS5;
  static constexpr uint8_t kResetValue = arch::x86::acpi_pm::kResetValue;

  // on_poweroff runs when the guest enters S5, on_reset when it writes kResetValue to the
  // reset register; both on the vCPU thread that made the access.
  AcpiPm(std::function<void()> on_poweroff, std::function<void()> on_reset);

  // Each byte of an access is one register (offset + i); unknown offsets read as 0 and
  // ignore writes. Sleep control and reset read as 0. Sleep status reads WAK_STS: set
  // when the guest asks for a sleep state other than S5 (vireo does not sleep, so the
  // guest "wakes" at once instead of waiting forever), cleared by writing it as 1.
  std::string_view name() const override { return "acpi-pm"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  // State: WAK_STS only (one boolean byte).
  void reset() override { wake_status_.store(false); }
  DeviceState save() const override;
  Result<void> restore(const DeviceState& state) override;
  static constexpr uint32_t kStateVersion = 1;

 private:
  uint8_t read_register(uint64_t offset) const;
  void write_register(uint64_t offset, uint8_t value);

  std::function<void()> on_poweroff_;
  std::function<void()> on_reset_;
  std::atomic<bool> wake_status_{false};
};

}  // namespace vireo::devices
