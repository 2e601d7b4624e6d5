// The i8042 keyboard controller with a PS/2 keyboard on its first port and nothing on
// the aux port: enough for the reset line, for Linux's i8042 driver to probe it quickly,
// for atkbd to find a keyboard, and for the VMM to type Ctrl-Alt-Del (Firecracker's
// SendCtrlAltDel) so that the guest reboots or shuts down as its init decides.
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
//   0xd4 (next data byte to the aux device) is dropped: no mouse answers. Other commands
//   are ignored.
//
// The keyboard: a data byte written without a pending controller command goes to it, and
// it answers through a queue of its own that feeds the output buffer whenever that is
// empty: ACK (0xfa) to everything, and 0xf2 (identify) -> ACK, 0xab, 0x83 (0x41 while
// the controller translates), 0xff (reset) -> ACK, 0xaa, 0xee (echo) -> 0xee, 0xf0 0x00
// (which scancode set) -> ACK, ACK, 0x02; 0xed, 0xf3 and 0xf0 take an argument byte
// (ACKed too). 0xf5/0xf4 stop and start scanning; keys are typed only while scanning.
// Keyboard bytes raise IRQ 1 (a rising edge each) while the command byte enables the
// keyboard interrupt; controller answers do not (drivers poll for those).
//
// A reset calls on_reset (outside the device lock, from the vCPU thread that wrote the
// command); the VMM stops or restarts the VM.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "devices/bus_device.h"
#include "devices/irq.h"

namespace vireo::devices {

struct I8042State {
  uint8_t command_byte = 0x45;
  uint8_t output_port = 0x03;    // reset line inactive (high), A20 enabled
  std::optional<uint8_t> output;
  bool output_from_kbd = false;  // the output byte came from the keyboard (interrupts)
  uint8_t last_output = 0;       // the data port reads the last byte again when empty
  uint8_t pending = 0;           // command waiting for its data byte, 0 if none
  bool last_write_command = false;
  // The keyboard.
  std::vector<uint8_t> kbd_queue;  // its bytes not yet in the output buffer
  uint8_t kbd_pending = 0;         // its command waiting for an argument byte, 0 if none
  bool kbd_scanning = true;
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

  static constexpr size_t kKbdQueueMax = 16;  // a PS/2 keyboard's buffer

  // `on_reset` (may be empty) is called when the guest pulses or drives the reset line;
  // `irq` (may be null) is the keyboard interrupt, IRQ 1.
  explicit I8042(std::function<void()> on_reset, std::shared_ptr<Irq> irq = nullptr);

  // Types Ctrl-Alt-Del (pressed and released) on the keyboard. False if the keyboard is
  // not scanning (the guest has not enabled it) or its buffer is full.
  bool send_ctrl_alt_del();

  std::string_view name() const override { return "i8042"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  DeviceState save() const override;
  Result<void> restore(const DeviceState& state) override;
  std::vector<uint8_t> aml(const Placement& where) const override;
  I8042State state() const;
  static constexpr uint32_t kStateVersion = 2;  // 1: before the keyboard (still read)

 private:
  uint8_t status() const;
  uint8_t read_data();
  bool command(uint8_t cmd);     // returns true when it resets
  bool data_write(uint8_t v);    // returns true when it resets
  void keyboard_write(uint8_t v);
  // Puts a controller answer in the output buffer (no interrupt).
  void controller_answer(uint8_t v);
  void kbd_answer(std::initializer_list<uint8_t> bytes);
  // Moves the next keyboard byte into an empty output buffer and drives IRQ 1.
  void pump();
  void update_irq();

  mutable std::mutex mu_;
  std::function<void()> on_reset_;
  std::shared_ptr<Irq> irq_;
  bool irq_level_ = false;
  I8042State s_;
};

}  // namespace vireo::devices
