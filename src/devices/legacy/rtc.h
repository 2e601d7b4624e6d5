// MC146818 CMOS real-time clock with its 128 bytes of CMOS RAM, at ports 0x70/0x71.
//
// Offset 0 (port 0x70): index register, write-only on real hardware (reads return the
// index here); bit 7 is the NMI mask on PCs and is ignored. Offset 1 (port 0x71): the
// indexed register. Register it as one range of 2 ports.
//
// Registers:
//   0x00 seconds 0x02 minutes 0x04 hours 0x06 weekday (1 = Sunday) 0x07 day 0x08 month
//   0x09 year (00-99) 0x32 century: the guest's wall clock, in BCD or binary and 12- or
//       24-hour form as register B says (12-hour: bit 7 of the hours = PM). It is the
//       injected clock (default: the host's UTC time) plus an offset that the guest
//       changes by writing the time (Linux does so with hwclock -w and NTP's 11-minute
//       sync). While B.SET is 1 the time stands still and takes the guest's writes;
//       clearing SET starts it from the written time. The weekday is derived from the
//       date (writes are ignored).
//   0x0a A: divider and rate bits are stored; UIP (bit 7) always reads 0, since the time
//       is computed on each read there is never an update in progress.
//   0x0b B: stored (SET, PIE, AIE, UIE, SQWE, DM = binary, 24/12, DSE). Power-on value
//       0x02: BCD, 24-hour, which is what Linux's rtc-cmos expects.
//   0x0c C: interrupt flags, read-only, cleared by reading. Always 0 for now.
//   0x0d D: read-only, VRT (bit 7) = 1: the RAM and time are valid.
//   others (alarm 0x01/0x03/0x05 included): CMOS RAM, read/write.
//
// Not emulated yet: the periodic, alarm and update-ended interrupts on IRQ 8 (ISA IRQ 8,
// layout::kIrqRtc). Linux reads the time at boot (mach_get_cmos_time, rtc-cmos probe)
// and keeps its own clock afterwards, which works without them; a guest that waits for
// an RTC interrupt (hwclock's "wait for clock tick" through RTC_UIE_ON, alarms) times out
// and falls back to busy-waiting or fails. Adding them needs an Irq, a timer thread and
// the C flags (PF/AF/UF and IRQF), with B's PIE/AIE/UIE enabling each.
//
// Thread safety: read()/write() lock the device; the clock is called with the lock held.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>

#include "devices/bus_device.h"

namespace vireo::devices {

// The clock's state: CMOS RAM and registers, and the guest's time as an offset from the
// host clock (so it runs on while saved, like a battery-backed RTC).
struct RtcState {
  RtcState();  // power-on values
  uint8_t index = 0;
  std::array<uint8_t, 128> cmos{};
  std::time_t offset = 0;         // guest time minus clock time
  std::optional<std::tm> held;    // the time while B.SET is 1
};

class Rtc : public BusDevice {
 public:
  // Seconds since the epoch, UTC.
  using Clock = std::function<std::time_t()>;
  static constexpr uint64_t kPortCount = 2;

  // An empty clock means the host's real time, std::time(nullptr).
  explicit Rtc(Clock clock = nullptr);

  std::string_view name() const override { return "rtc"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  DeviceState save() const override;
  Result<void> restore(const DeviceState& state) override;
  std::vector<uint8_t> aml(const Placement& where) const override;
  RtcState state() const;
  static constexpr uint32_t kStateVersion = 1;

  // CMOS register numbers.
  static constexpr uint8_t kSeconds = 0x00, kSecondsAlarm = 0x01, kMinutes = 0x02,
                           kMinutesAlarm = 0x03, kHours = 0x04, kHoursAlarm = 0x05,
                           kWeekday = 0x06, kDay = 0x07, kMonth = 0x08, kYear = 0x09,
                           kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d,
                           kCentury = 0x32;
  // Register bits.
  static constexpr uint8_t kRegAUip = 0x80;
  static constexpr uint8_t kRegBSet = 0x80, kRegBUie = 0x10, kRegBBinary = 0x04,
                           kRegB24Hour = 0x02;
  static constexpr uint8_t kRegBInterruptEnables = 0x78;  // PIE, AIE, UIE, SQWE
  static constexpr uint8_t kRegDVrt = 0x80;
  static constexpr uint8_t kHoursPm = 0x80;

 private:
  uint8_t read_register(uint8_t index);
  void write_register(uint8_t index, uint8_t v);
  std::tm current_time() const;
  void set_time(const std::tm& tm);
  uint8_t encode(int value) const;
  int decode(uint8_t value) const;

  mutable std::mutex mu_;
  Clock clock_;
  RtcState s_;
};

DeviceState encode_rtc_state(const RtcState& s);
Result<RtcState> decode_rtc_state(const DeviceState& state);

}  // namespace vireo::devices
