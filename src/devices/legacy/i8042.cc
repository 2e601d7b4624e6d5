#include "devices/legacy/i8042.h"

namespace vireo::devices {

namespace {
constexpr uint8_t kCommandByteSystem = 0x04, kCommandByteKbdDisabled = 0x10,
                  kCommandByteAuxDisabled = 0x20;
constexpr uint8_t kOutputPortReset = 0x01, kOutputPortA20 = 0x02;
constexpr uint8_t kCmdPulseFirst = 0xf0;
}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

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
  if (output_) v |= kStatusOutputFull;
  if (command_byte_ & kCommandByteSystem) v |= kStatusSystem;
  if (last_write_command_) v |= kStatusCommand;
  return v;
}

uint8_t I8042::read_data() {
  if (output_) {
    last_output_ = *output_;
    output_.reset();
  }
  return last_output_;
}

bool I8042::command(uint8_t cmd) {
  last_write_command_ = true;
  pending_ = 0;  // a new command abandons one still waiting for its data byte
  switch (cmd) {
    case kCmdReadCommandByte: output_ = command_byte_; break;
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort:
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      pending_ = cmd;
      break;
    case kCmdDisableAux: command_byte_ |= kCommandByteAuxDisabled; break;
    case kCmdEnableAux: command_byte_ &= ~kCommandByteAuxDisabled; break;
    case kCmdAuxInterfaceTest: output_ = kAuxInterfaceTestResult; break;
    case kCmdSelfTest: output_ = kSelfTestOk; break;
    case kCmdKbdInterfaceTest: output_ = kInterfaceTestOk; break;
    case kCmdDisableKbd: command_byte_ |= kCommandByteKbdDisabled; break;
    case kCmdEnableKbd: command_byte_ &= ~kCommandByteKbdDisabled; break;
    case kCmdReadOutputPort: output_ = output_port_; break;
    case kCmdDisableA20: output_port_ &= ~kOutputPortA20; break;
    case kCmdEnableA20: output_port_ |= kOutputPortA20; break;
    default:
      // 0xf0-0xff pulse the output-port bits that are 0 in the command's low nibble.
      if (cmd >= kCmdPulseFirst && !(cmd & kOutputPortReset)) return true;
      break;
  }
  return false;
}

bool I8042::data_write(uint8_t v) {
  last_write_command_ = false;
  const uint8_t cmd = pending_;
  pending_ = 0;
  switch (cmd) {
    case kCmdWriteCommandByte: command_byte_ = v; return false;
    case kCmdWriteOutputPort:
      output_port_ = v;
      return !(v & kOutputPortReset);  // the reset line is active low
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:  // no aux port: comes back as keyboard data (see the header)
      output_ = v;
      return false;
    default:
      return false;  // to the aux device or the keyboard: nothing is attached
  }
}

}  // namespace vireo::devices
