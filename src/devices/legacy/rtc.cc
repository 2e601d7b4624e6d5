#include "devices/legacy/rtc.h"

#include <fmt/format.h>

#include "arch/x86/acpi_tables.h"

#include <algorithm>

#include "util/state_codec.h"

namespace vireo::devices {

namespace {
constexpr uint64_t kIndexPort = 0, kDataPort = 1;
constexpr uint8_t kIndexMask = 0x7f;  // bit 7 of the index is the NMI mask
constexpr uint8_t kPowerOnRegA = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
}  // namespace

RtcState::RtcState() {
  cmos[Rtc::kRegA] = kPowerOnRegA;
  cmos[Rtc::kRegB] = Rtc::kRegB24Hour;  // BCD, 24-hour
  cmos[Rtc::kRegD] = Rtc::kRegDVrt;
}

Rtc::Rtc(Clock clock) : clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::time(nullptr); };
}

// The RESET pin of an MC146818 clears the interrupt enables and flags; the clock, the
// calendar and the battery-backed RAM stay.
void Rtc::reset() {
  std::lock_guard lock(mu_);
  s_.index = 0;
  s_.cmos[kRegB] &= static_cast<uint8_t>(~kRegBInterruptEnables);
  s_.cmos[kRegC] = 0;
}

RtcState Rtc::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

DeviceState Rtc::save() const { return encode_rtc_state(state()); }

Result<void> Rtc::restore(const DeviceState& state) {
  VIREO_ASSIGN_OR_RETURN(auto s, decode_rtc_state(state));
  std::lock_guard lock(mu_);
  s_ = s;
  return {};
}

void Rtc::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = offset + i;
    data[i] = port == kIndexPort ? s_.index : port == kDataPort ? read_register(s_.index) : 0xff;
  }
}

void Rtc::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = offset + i;
    if (port == kIndexPort) {
      s_.index = data[i] & kIndexMask;
    } else if (port == kDataPort) {
      write_register(s_.index, data[i]);
    }
  }
}

uint8_t Rtc::encode(int value) const {
  if (s_.cmos[kRegB] & kRegBBinary) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>(((value / 10) << 4) | (value % 10));
}

int Rtc::decode(uint8_t value) const {
  if (s_.cmos[kRegB] & kRegBBinary) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

std::tm Rtc::current_time() const {
  if (s_.held) return *s_.held;
  const std::time_t now = clock_() + s_.offset;
  std::tm tm{};
  gmtime_r(&now, &tm);
  return tm;
}

// Runs the clock from `tm` (normalised, so out-of-range fields carry over).
void Rtc::set_time(const std::tm& tm) {
  std::tm t = tm;
  t.tm_isdst = 0;
  s_.offset = timegm(&t) - clock_();
}

uint8_t Rtc::read_register(uint8_t index) {
  switch (index) {
    case kSeconds: return encode(current_time().tm_sec);
    case kMinutes: return encode(current_time().tm_min);
    case kHours: {
      const int hour = current_time().tm_hour;
      if (s_.cmos[kRegB] & kRegB24Hour) return encode(hour);
      const int h12 = hour % 12 == 0 ? 12 : hour % 12;
      return static_cast<uint8_t>(encode(h12) | (hour >= 12 ? kHoursPm : 0));
    }
    case kWeekday: return encode(current_time().tm_wday + 1);
    case kDay: return encode(current_time().tm_mday);
    case kMonth: return encode(current_time().tm_mon + 1);
    case kYear: return encode((current_time().tm_year + 1900) % 100);
    case kCentury: return encode((current_time().tm_year + 1900) / 100);
    case kRegA: return s_.cmos[kRegA] & ~kRegAUip;  // never inside an update cycle
    case kRegC: {
      const uint8_t v = s_.cmos[kRegC];
      s_.cmos[kRegC] = 0;  // reading acknowledges the flags
      return v;
    }
    case kRegD: return kRegDVrt;
    default: return s_.cmos[index & kIndexMask];
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
          if (s_.cmos[kRegB] & kRegB24Hour) {
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
      if (s_.held) {
        s_.held = tm;
      } else {
        set_time(tm);
      }
      return;
    }
    case kWeekday: return;  // derived from the date
    case kRegA: s_.cmos[kRegA] = v & ~kRegAUip; return;
    case kRegB:
      if (v & kRegBSet) {
        v &= ~kRegBUie;  // setting SET clears UIE, as on the MC146818
        if (!s_.held) s_.held = current_time();
      } else if (s_.held) {
        const std::tm tm = *s_.held;
        s_.held.reset();
        set_time(tm);
      }
      s_.cmos[kRegB] = v;
      return;
    case kRegC: case kRegD: return;  // read-only
    default: s_.cmos[index & kIndexMask] = v; return;
  }
}

// The held time is kept field by field: while SET holds the clock a guest may have
// written fields that do not form a date yet.
DeviceState encode_rtc_state(const RtcState& s) {
  StateWriter w;
  w.u8(s.index);
  w.bytes(s.cmos);
  w.i64(s.offset);
  w.boolean(s.held.has_value());
  const std::tm h = s.held.value_or(std::tm{});
  for (int v : {h.tm_sec, h.tm_min, h.tm_hour, h.tm_mday, h.tm_mon, h.tm_year, h.tm_wday})
    w.u32(static_cast<uint32_t>(v));
  return {Rtc::kStateVersion, w.take()};
}

Result<RtcState> decode_rtc_state(const DeviceState& state) {
  if (state.version != Rtc::kStateVersion)
    return Error(fmt::format("rtc state version {} is not supported (this vireo reads {})",
                             state.version, Rtc::kStateVersion));
  StateReader r(state.bytes, "rtc state");
  RtcState s;
  VIREO_ASSIGN_OR_RETURN(s.index, r.u8());
  if (s.index > kIndexMask) return Error(fmt::format("rtc state: index {:#x} out of range", s.index));
  VIREO_ASSIGN_OR_RETURN(auto cmos, r.bytes(s.cmos.size()));
  if (cmos.size() != s.cmos.size())
    return Error(fmt::format("rtc state: CMOS has {} bytes, not {}", cmos.size(), s.cmos.size()));
  std::copy(cmos.begin(), cmos.end(), s.cmos.begin());
  VIREO_ASSIGN_OR_RETURN(s.offset, r.i64());
  VIREO_ASSIGN_OR_RETURN(bool held, r.boolean());
  std::tm h{};
  for (int* f : {&h.tm_sec, &h.tm_min, &h.tm_hour, &h.tm_mday, &h.tm_mon, &h.tm_year, &h.tm_wday}) {
    VIREO_ASSIGN_OR_RETURN(uint32_t v, r.u32());
    *f = static_cast<int32_t>(v);
  }
  if (held) s.held = h;
  VIREO_TRY(r.finish());
  return s;
}

namespace aml = arch::x86::aml;

// The CMOS RTC as PNP0B00, so that Linux binds rtc_cmos through PNP with its ISA IRQ
// routed through the IOAPIC. Without it a hardware-reduced ACPI machine has no legacy IRQ
// numbers and the driver's fallback probe fails (no /dev/rtc0, no time from the RTC).
std::vector<uint8_t> Rtc::aml(const Placement& where) const {
  const auto port = static_cast<uint16_t>(where.base);
  std::vector<aml::Bytes> crs = {aml::io_port_descriptor(port, port, 1, kPortCount)};
  if (where.gsi) crs.push_back(aml::irq_descriptor(*where.gsi));
  return aml::device(fmt::format("RTC{}", where.index),
                     {aml::name("_HID", aml::eisa_id("PNP0B00")),
                      aml::name("_CRS", aml::resource_template(crs))});
}

}  // namespace vireo::devices
