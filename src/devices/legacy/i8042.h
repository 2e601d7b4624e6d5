// The i8042 keyboard controller, with nothing plugged in: enough for the reset line and
// for Linux's i8042 driver to probe it quickly and find no devices.
//
// Ports: offset 0 = 0x60 (data), offset 4 = 0x64 (status on read, command on write).
// Register it as ONE range, base 0x60, kPortSpan (5) ports; offsets 1-3 (0x61-0x63) read
// 0xff and ignore writes. Under KVM the in-kernel PIT answers port 0x61 itself, so the
// gap never reaches us.
//
// Status register: OBF (bit 0) while a byte waits in the output buffer; IBF (bit 1)
// always 0, since commands complete at once; SYS (bit 2) mirrors the command byte's
// system flag; CMD (bit 3) = the last write went to the command port; KEYLOCK (bit 4)
// = 1, keyboard not locked; AUXDATA/TIMEOUT/PARITY 0.
//
// Commands (port 0x64):
//   0x20 read / 0x60 write the command byte (next data byte); power-on value 0x45:
//        keyboard interrupt enabled, system flag, scancode translation.
//   0xaa controller self-test -> 0x55;  0xab keyboard interface test -> 0x00.
//   0xad/0xae disable/enable the keyboard, 0xa7/0xa8 disable/enable the aux port: they
//        only flip command-byte bits 4/5.
//   0xa9 aux interface test -> 0x02 ("clock line stuck high": there is no aux port).
//   0xd3 write aux output buffer: echoed, but as keyboard data (status AUXDATA clear).
//        A controller with an aux port would set AUXDATA; Linux sees the clear bit as an
//        aux error at once and skips the aux port, instead of waiting 0.5 s for an answer
//        that an AT-type controller (no aux port) would never give.
//   0xd2 write keyboard output buffer: the next data byte comes back as keyboard data.
//   0xd0 read / 0xd1 write the output port (next data byte). Output-port bit 0 is the
//        CPU reset line, active low: writing it as 0 resets.
//   0xdd/0xdf disable/enable A20 (output-port bit 1; A20 is not gated).
//   0xf0-0xff pulse output-port bits 3:0 that are 0 in the command: 0xfe pulses bit 0,
//        the reset line (what Linux's reboot=k and most BIOSes use).
//   0xd4 (next data byte to the aux device) and any data byte written without a pending
//   command (to the keyboard) are dropped: nothing is attached, nothing answers. Linux's
//   atkbd then times out on its probe commands (asynchronously) and registers no keyboard.
//   Other commands are ignored.
//
// A reset calls on_reset (outside the device lock, from the vCPU thread that wrote the
// command); the VMM stops or restarts the VM. No interrupts are generated (IRQ 1/12 are
// not connected): with nothing attached, only command responses ever fill the output
// buffer, and drivers poll for those.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>

#include "devices/bus_device.h"

namespace vireo::devices {

struct I8042State {
  uint8_t command_byte = 0x45;
  uint8_t output_port = 0x03;    // reset line inactive (high), A20 enabled
  std::optional<uint8_t> output;
  uint8_t last_output = 0;       // the data port reads the last byte again when empty
  uint8_t pending = 0;           // command waiting for its data byte, 0 if none
  bool last_write_command = false;
  bool operator==(const I8042State&) const = default;
};

class I8042 : public BusDevice {
 public:
  static constexpr uint64_t kPortSpan = 5;  // 0x60..0x64
  static constexpr uint64_t kDataOffset = 0, kStatusOffset = 4;

  static constexpr uint8_t kStatusOutputFull = 0x01, kStatusInputFull = 0x02,
                           kStatusSystem = 0x04, kStatusCommand = 0x08,
                           kStatusNotLocked = 0x10, kStatusAuxData = 0x20;

  static constexpr uint8_t kCmdReadCommandByte = 0x20, kCmdWriteCommandByte = 0x60,
                           kCmdDisableAux = 0xa7, kCmdEnableAux = 0xa8,
                           kCmdAuxInterfaceTest = 0xa9, kCmdSelfTest = 0xaa,
                           kCmdKbdInterfaceTest = 0xab, kCmdDisableKbd = 0xad,
                           kCmdEnableKbd = 0xae, kCmdReadOutputPort = 0xd0,
                           kCmdWriteOutputPort = 0xd1, kCmdWriteKbdOutput = 0xd2,
                           kCmdWriteAuxOutput = 0xd3, kCmdWriteAux = 0xd4,
                           kCmdDisableA20 = 0xdd, kCmdEnableA20 = 0xdf,
                           kCmdPulseReset = 0xfe;

  static constexpr uint8_t kSelfTestOk = 0x55, kInterfaceTestOk = 0x00,
                           kAuxInterfaceTestResult = 0x02;

  // `on_reset` (may be empty) is called when the guest pulses or drives the reset line.
  explicit I8042(std::function<void()> on_reset);

  std::string_view name() const override { return "i8042"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  DeviceState save() const override;
  Result<void> restore(const DeviceState& state) override;
  std::vector<uint8_t> aml(const Placement& where) const override;
  I8042State state() const;
  static constexpr uint32_t kStateVersion = 1;

 private:
  uint8_t status() const;
  uint8_t read_data();
  bool command(uint8_t cmd);     // returns true when it resets
  bool data_write(uint8_t v);    // returns true when it resets

  mutable std::mutex mu_;
  std::function<void()> on_reset_;
  I8042State s_;
};

}  // namespace vireo::devices
