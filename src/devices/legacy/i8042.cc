#include "devices/legacy/i8042.h"

#include <fmt/format.h>

#include "arch/x86/acpi_tables.h"

#include "util/state_codec.h"

namespace vireo::devices {

namespace {
constexpr uint8_t kCommandByteSystem = 0x04, kCommandByteKbdDisabled = 0x10,
                  kCommandByteAuxDisabled = 0x20;
constexpr uint8_t kOutputPortReset = 0x01, kOutputPortA20 = 0x02;
constexpr uint8_t kCmdPulseFirst = 0xf0;
}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

void I8042::reset() {
  std::lock_guard lock(mu_);
  s_ = I8042State{};
}

I8042State I8042::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

DeviceState I8042::save() const {
  const I8042State s = state();
  StateWriter w;
  w.u8(s.command_byte);
  w.u8(s.output_port);
  w.boolean(s.output.has_value());
  w.u8(s.output.value_or(0));
  w.u8(s.last_output);
  w.u8(s.pending);
  w.boolean(s.last_write_command);
  return {kStateVersion, w.take()};
}

Result<void> I8042::restore(const DeviceState& state) {
  if (state.version != kStateVersion)
    return Error(fmt::format("i8042 state version {} is not supported (this vireo reads {})",
                             state.version, kStateVersion));
  StateReader r(state.bytes, "i8042 state");
  I8042State s;
  VIREO_ASSIGN_OR_RETURN(s.command_byte, r.u8());
  VIREO_ASSIGN_OR_RETURN(s.output_port, r.u8());
  VIREO_ASSIGN_OR_RETURN(bool has_output, r.boolean());
  VIREO_ASSIGN_OR_RETURN(uint8_t output, r.u8());
  if (has_output) s.output = output;
  VIREO_ASSIGN_OR_RETURN(s.last_output, r.u8());
  VIREO_ASSIGN_OR_RETURN(s.pending, r.u8());
  VIREO_ASSIGN_OR_RETURN(s.last_write_command, r.boolean());
  VIREO_TRY(r.finish());
  std::lock_guard lock(mu_);
  s_ = s;
  return {};
}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = offset + i;
    data[i] = port == kDataOffset ? read_data() : port == kStatusOffset ? status() : 0xff;
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t port = offset + i;
      if (port == kStatusOffset) {
        reset |= command(data[i]);
      } else if (port == kDataOffset) {
        reset |= data_write(data[i]);
      }
    }
  }
  // Outside the lock: the callback stops the VM, which may wait for this vCPU.
  if (reset && on_reset_) on_reset_();
}

uint8_t I8042::status() const {
  uint8_t v = kStatusNotLocked;
  if (s_.output) v |= kStatusOutputFull;
  if (s_.command_byte & kCommandByteSystem) v |= kStatusSystem;
  if (s_.last_write_command) v |= kStatusCommand;
  return v;
}

uint8_t I8042::read_data() {
  if (s_.output) {
    s_.last_output = *s_.output;
    s_.output.reset();
  }
  return s_.last_output;
}

bool I8042::command(uint8_t cmd) {
  s_.last_write_command = true;
  s_.pending = 0;  // a new command abandons one still waiting for its data byte
  switch (cmd) {
    case kCmdReadCommandByte: s_.output = s_.command_byte; break;
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort:
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      s_.pending = cmd;
      break;
    case kCmdDisableAux: s_.command_byte |= kCommandByteAuxDisabled; break;
    case kCmdEnableAux: s_.command_byte &= ~kCommandByteAuxDisabled; break;
    case kCmdAuxInterfaceTest: s_.output = kAuxInterfaceTestResult; break;
    case kCmdSelfTest: s_.output = kSelfTestOk; break;
    case kCmdKbdInterfaceTest: s_.output = kInterfaceTestOk; break;
    case kCmdDisableKbd: s_.command_byte |= kCommandByteKbdDisabled; break;
    case kCmdEnableKbd: s_.command_byte &= ~kCommandByteKbdDisabled; break;
    case kCmdReadOutputPort: s_.output = s_.output_port; break;
    case kCmdDisableA20: s_.output_port &= ~kOutputPortA20; break;
    case kCmdEnableA20: s_.output_port |= kOutputPortA20; break;
    default:
      // 0xf0-0xff pulse the output-port bits that are 0 in the command's low nibble.
      if (cmd >= kCmdPulseFirst && !(cmd & kOutputPortReset)) return true;
      break;
  }
  return false;
}

bool I8042::data_write(uint8_t v) {
  s_.last_write_command = false;
  const uint8_t cmd = s_.pending;
  s_.pending = 0;
  switch (cmd) {
    case kCmdWriteCommandByte: s_.command_byte = v; return false;
    case kCmdWriteOutputPort:
      s_.output_port = v;
      return !(v & kOutputPortReset);  // the reset line is active low
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:  // no aux port: comes back as keyboard data (see the header)
      s_.output = v;
      return false;
    default:
      return false;  // to the aux device or the keyboard: nothing is attached
  }
}

namespace aml = arch::x86::aml;

// The keyboard controller as PNP0303 (data and command ports, keyboard IRQ), for the
// same reason as the RTC: Linux's i8042 driver finds it through PNP.
std::vector<uint8_t> I8042::aml(const Placement& where) const {
  const auto data = static_cast<uint16_t>(where.base + kDataOffset);
  const auto status = static_cast<uint16_t>(where.base + kStatusOffset);
  std::vector<aml::Bytes> crs = {aml::io_port_descriptor(data, data, 1, 1),
                                 aml::io_port_descriptor(status, status, 1, 1)};
  if (where.gsi) crs.push_back(aml::irq_descriptor(*where.gsi));
  return aml::device(fmt::format("KBD{}", where.index),
                     {aml::name("_HID", aml::eisa_id("PNP0303")),
                      aml::name("_CRS", aml::resource_template(crs))});
}

}  // namespace vireo::devices
