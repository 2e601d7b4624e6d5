#include "devices/legacy/acpi_pm.h"

#include <fmt/format.h>

#include <utility>

#include "util/state_codec.h"

namespace vireo::devices {

AcpiPm::AcpiPm(std::function<void()> on_poweroff, std::function<void()> on_reset)
    : on_poweroff_(std::move(on_poweroff)), on_reset_(std::move(on_reset)) {}

void AcpiPm::read(uint64_t offset, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = read_register(offset + i);
}

void AcpiPm::write(uint64_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) write_register(offset + i, data[i]);
}

uint8_t AcpiPm::read_register(uint64_t offset) const {
  if (offset == kSleepStatusOffset) return wake_status_.load() ? kWakSts : 0;
  return 0;
}

void AcpiPm::write_register(uint64_t offset, uint8_t value) {
  switch (offset) {
    case kSleepControlOffset: {
      if (!(value & kSlpEn)) return;
      const uint8_t slp_typ = (value & kSlpTypMask) >> kSlpTypShift;
      if (slp_typ == kSlpTypS5) {
        if (on_poweroff_) on_poweroff_();
      } else {
        wake_status_.store(true);
      }
      return;
    }
    case kSleepStatusOffset:
      if (value & kWakSts) wake_status_.store(false);
      return;
    case kResetOffset:
      if (value == kResetValue && on_reset_) on_reset_();
      return;
    default:
      return;
  }
}

DeviceState AcpiPm::save() const {
  StateWriter w;
  w.boolean(wake_status_.load());
  return {kStateVersion, w.take()};
}

Result<void> AcpiPm::restore(const DeviceState& state) {
  if (state.version != kStateVersion)
    return Error(fmt::format("acpi-pm state version {} is not supported (this vireo reads {})",
                             state.version, kStateVersion));
  StateReader r(state.bytes, "acpi-pm state");
  VIREO_ASSIGN_OR_RETURN(bool wake, r.boolean());
  VIREO_TRY(r.finish());
  wake_status_.store(wake);
  return {};
}

}  // namespace vireo::devices
