// Just enough of the i8042 keyboard controller for the reset line: ports 0x60 (data)
// and 0x64 (status/command), registered as one range 0x60..0x64. No keyboard or mouse
// is attached; commands that would talk to them get no answer.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "devices/bus_device.h"

namespace vireo::devices {

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kPortSpan = 5;  // 0x60..0x64 (0x61 is the in-kernel PIT's)
  static constexpr uint8_t kCmdReadCommandByte = 0x20, kCmdWriteCommandByte = 0x60,
                           kCmdSelfTest = 0xaa, kCmdInterfaceTest = 0xab,
                           kCmdWriteOutputPort = 0xd1, kCmdPulseReset = 0xfe;

  explicit I8042(std::function<void()> on_reset);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

 private:
  void command(uint8_t cmd);
  void data_write(uint8_t v);

  std::mutex mu_;
  std::function<void()> on_reset_;
  uint8_t command_byte_ = 0x45;  // kbd interrupt on, system flag, translation
  std::optional<uint8_t> output_;
  uint8_t pending_ = 0;  // command waiting for its data byte
};

}  // namespace vireo::devices
