// MC146818 CMOS real-time clock at ports 0x70 (index) / 0x71 (data), with the guest's
// 128 bytes of CMOS RAM. The time comes from the host clock (UTC) on every read.
// Alarm, periodic and update-ended interrupts (IRQ 8) are not generated: Linux reads
// the time at boot and keeps its own clock afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>

#include "devices/bus_device.h"

namespace vireo::devices {

class Rtc : public BusDevice {
 public:
  using Clock = std::function<std::time_t()>;
  explicit Rtc(Clock clock = nullptr);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // CMOS register numbers.
  static constexpr uint8_t kSeconds = 0x00, kMinutes = 0x02, kHours = 0x04, kWeekday = 0x06,
                           kDay = 0x07, kMonth = 0x08, kYear = 0x09, kRegA = 0x0a,
                           kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d, kCentury = 0x32;
  static constexpr uint8_t kRegB24Hour = 0x02, kRegBBinary = 0x04;

 private:
  uint8_t read_register(uint8_t index);
  uint8_t encode(int value) const;

  std::mutex mu_;
  Clock clock_;
  uint8_t index_ = 0;
  std::array<uint8_t, 128> cmos_{};
};

}  // namespace vireo::devices
