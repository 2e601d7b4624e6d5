#include "devices/legacy/rtc.h"

namespace vireo::devices {

Rtc::Rtc(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::time(nullptr); };
  cmos_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz rate
  cmos_[kRegB] = kRegB24Hour;  // BCD, 24-hour
  cmos_[kRegD] = 0x80;  // valid RAM and time
}

uint8_t Rtc::encode(int value) const {
  if (cmos_[kRegB] & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

uint8_t Rtc::read_register(uint8_t index) {
  std::time_t now = clock_();
  std::tm tm{};
  gmtime_r(&now, &tm);
  switch (index) {
    case kSeconds: return encode(tm.tm_sec);
    case kMinutes: return encode(tm.tm_min);
    case kHours: {
      if (cmos_[kRegB] & kRegB24Hour) return encode(tm.tm_hour);
      int h = tm.tm_hour % 12;
      if (h == 0) h = 12;
      return static_cast<uint8_t>(encode(h) | (tm.tm_hour >= 12 ? 0x80 : 0));
    }
    case kWeekday: return encode(tm.tm_wday + 1);
    case kDay: return encode(tm.tm_mday);
    case kMonth: return encode(tm.tm_mon + 1);
    case kYear: return encode((tm.tm_year + 1900) % 100);
    case kCentury: return encode((tm.tm_year + 1900) / 100);
    case kRegA: return cmos_[kRegA] & 0x7f;  // UIP clear: never mid-update
    case kRegC: {
      uint8_t v = cmos_[kRegC];
      cmos_[kRegC] = 0;  // reading acknowledges the flags
      return v;
    }
    case kRegD: return 0x80;
    default: return cmos_[index & 0x7f];
  }
}

void Rtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t port = offset + i;
    data[i] = port == 0 ? index_ : port == 1 ? read_register(index_) : 0xff;
  }
}

void Rtc::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t port = offset + i;
    if (port == 0) {
      index_ = data[i] & 0x7f;  // bit 7 is the NMI mask
    } else if (port == 1) {
      switch (index_) {
        case kSeconds: case kMinutes: case kHours: case kWeekday: case kDay: case kMonth:
        case kYear: case kCentury:
          break;  // the clock follows the host; setting it is ignored
        case kRegC: case kRegD: break;  // read-only
        case kRegA: cmos_[kRegA] = data[i] & 0x7f; break;
        default: cmos_[index_] = data[i]; break;
      }
    }
  }
}

}  // namespace vireo::devices
