#include "devices/legacy/i8042.h"

namespace vireo::devices {

namespace {
constexpr uint64_t kData = 0, kStatus = 4;
constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08;
}  // namespace

I8042::I8042(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

void I8042::read(uint64_t offset, std::span<uint8_t> data) {
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t port = offset + i;
      if (port == kData) {
        data[i] = output_.value_or(0);
        output_.reset();
      } else if (port == kStatus) {
        data[i] = static_cast<uint8_t>(kStatusSystem | (output_ ? kStatusOutputFull : 0) |
                                       (pending_ ? kStatusCommand : 0));
      } else {
        data[i] = 0xff;
      }
    }
  }
}

void I8042::write(uint64_t offset, std::span<const uint8_t> data) {
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t port = offset + i;
      if (port == kStatus) {
        if (data[i] == kCmdPulseReset) {
          reset = true;
        } else {
          command(data[i]);
        }
      } else if (port == kData) {
        if (pending_ == kCmdWriteOutputPort && !(data[i] & 1)) reset = true;  // bit 0: reset line
        data_write(data[i]);
      }
    }
  }
  // Outside the lock: the callback stops the VM.
  if (reset && on_reset_) on_reset_();
}

void I8042::command(uint8_t cmd) {
  switch (cmd) {
    case kCmdReadCommandByte: output_ = command_byte_; break;
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort: pending_ = cmd; break;
    case kCmdSelfTest: output_ = 0x55; break;
    case kCmdInterfaceTest: output_ = 0x00; break;
    case 0xa7: command_byte_ |= 0x20; break;   // disable aux
    case 0xa8: command_byte_ &= ~0x20; break;  // enable aux
    case 0xad: command_byte_ |= 0x10; break;   // disable keyboard
    case 0xae: command_byte_ &= ~0x10; break;  // enable keyboard
    default: break;  // others need a device we do not have
  }
}

void I8042::data_write(uint8_t v) {
  if (pending_ == kCmdWriteCommandByte) command_byte_ = v;
  // Bytes for the (absent) keyboard are dropped: the guest sees a timeout.
  pending_ = 0;
}

}  // namespace vireo::devices
