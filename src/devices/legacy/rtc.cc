#include "devices/legacy/rtc.h"

namespace vireo::devices {

namespace {
constexpr uint64_t kIndexPort = 0, kDataPort = 1;
constexpr uint8_t kIndexMask = 0x7f;  // bit 7 of the index is the NMI mask
constexpr uint8_t kPowerOnRegA = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
}  // namespace

Rtc::Rtc(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::time(nullptr); };
  cmos_[kRegA] = kPowerOnRegA;
  cmos_[kRegB] = kRegB24Hour;  // BCD, 24-hour
  cmos_[kRegD] = kRegDVrt;
}

void Rtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = offset + i;
    data[i] = port == kIndexPort ? index_ : port == kDataPort ? read_register(index_) : 0xff;
  }
}

void Rtc::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = offset + i;
    if (port == kIndexPort) {
      index_ = data[i] & kIndexMask;
    } else if (port == kDataPort) {
      write_register(index_, data[i]);
    }
  }
}

uint8_t Rtc::encode(int value) const {
  if (cmos_[kRegB] & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int Rtc::decode(uint8_t value) const {
  if (cmos_[kRegB] & kRegBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

std::tm Rtc::current_time() const {
  if (held_) return *held_;
  const std::time_t now = clock_() + offset_;
  std::tm tm{};
  gmtime_r(&now, &tm);
  return tm;
}

// Runs the clock from `tm` (normalised, so out-of-range fields carry over).
void Rtc::set_time(const std::tm& tm) {
  std::tm t = tm;
  t.tm_isdst = 0;
  offset_ = timegm(&t) - clock_();
}

uint8_t Rtc::read_register(uint8_t index) {
  switch (index) {
    case kSeconds: return encode(current_time().tm_sec);
    case kMinutes: return encode(current_time().tm_min);
    case kHours: {
      const int hour = current_time().tm_hour;
      if (cmos_[kRegB] & kRegB24Hour) return encode(hour);
      const int h12 = hour % 12 == 0 ? 12 : hour % 12;
      return static_cast<uint8_t>(encode(h12) | (hour >= 12 ? kHoursPm : 0));
    }
    case kWeekday: return encode(current_time().tm_wday + 1);
    case kDay: return encode(current_time().tm_mday);
    case kMonth: return encode(current_time().tm_mon + 1);
    case kYear: return encode((current_time().tm_year + 1900) % 100);
    case kCentury: return encode((current_time().tm_year + 1900) / 100);
    case kRegA: return cmos_[kRegA] & ~kRegAUip;  // never inside an update cycle
    case kRegC: {
      const uint8_t v = cmos_[kRegC];
      cmos_[kRegC] = 0;  // reading acknowledges the flags
      return v;
    }
    case kRegD: return kRegDVrt;
    default: return cmos_[index & kIndexMask];
  }
}

void Rtc::write_register(uint8_t index, uint8_t v) {
  switch (index) {
    case kSeconds: case kMinutes: case kHours: case kDay: case kMonth: case kYear:
    case kCentury: {
      std::tm tm = current_time();
      switch (index) {
        case kSeconds: tm.tm_sec = decode(v); break;
        case kMinutes: tm.tm_min = decode(v); break;
        case kHours:
          if (cmos_[kRegB] & kRegB24Hour) {
            tm.tm_hour = decode(v);
          } else {
            tm.tm_hour = decode(v & ~kHoursPm) % 12 + ((v & kHoursPm) ? 12 : 0);
          }
          break;
        case kDay: tm.tm_mday = decode(v); break;
        case kMonth: tm.tm_mon = decode(v) - 1; break;
        case kYear: tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + decode(v) - 1900; break;
        case kCentury: tm.tm_year = decode(v) * 100 + (tm.tm_year + 1900) % 100 - 1900; break;
      }
      // While SET holds the clock the fields are kept as written (the guest writes them
      // one by one, and an intermediate date may not exist); otherwise the clock runs on
      // from the new time at once.
      if (held_) {
        held_ = tm;
      } else {
        set_time(tm);
      }
      return;
    }
    case kWeekday: return;  // derived from the date
    case kRegA: cmos_[kRegA] = v & ~kRegAUip; return;
    case kRegB:
      if (v & kRegBSet) {
        v &= ~kRegBUie;  // setting SET clears UIE, as on the MC146818
        if (!held_) held_ = current_time();
      } else if (held_) {
        const std::tm tm = *held_;
        held_.reset();
        set_time(tm);
      }
      cmos_[kRegB] = v;
      return;
    case kRegC: case kRegD: return;  // read-only
    default: cmos_[index & kIndexMask] = v; return;
  }
}

}  // namespace vireo::devices
