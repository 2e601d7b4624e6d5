#include "devices/legacy/i8042.h"

#include <fmt/format.h>

#include <utility>

#include "arch/x86/acpi_tables.h"

#include "util/state_codec.h"

namespace vireo::devices {

namespace {
constexpr uint8_t kCommandByteKbdInterrupt = 0x01, kCommandByteSystem = 0x04,
                  kCommandByteKbdDisabled = 0x10, kCommandByteAuxDisabled = 0x20,
                  kCommandByteTranslate = 0x40;
// The keyboard's commands and answers.
constexpr uint8_t kKbdSetLeds = 0xed, kKbdEcho = 0xee, kKbdScancodeSet = 0xf0,
                  kKbdIdentify = 0xf2, kKbdTypematic = 0xf3, kKbdEnable = 0xf4,
                  kKbdDisable = 0xf5, kKbdDefaults = 0xf6, kKbdReset = 0xff;
constexpr uint8_t kKbdAck = 0xfa, kKbdSelfTestPassed = 0xaa;
constexpr uint8_t kOutputPortReset = 0x01, kOutputPortA20 = 0x02;
constexpr uint8_t kCmdPulseFirst = 0xf0;
}  // namespace

I8042::I8042(std::function<void()> on_reset, std::shared_ptr<Irq> irq)
    : on_reset_(std::move(on_reset)), irq_(std::move(irq)) {}

void I8042::reset() {
  std::lock_guard lock(mu_);
  s_ = I8042State{};
  update_irq();
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
  w.boolean(s.output_from_kbd);
  w.u8(static_cast<uint8_t>(s.kbd_queue.size()));
  for (uint8_t b : s.kbd_queue) w.u8(b);
  w.u8(s.kbd_pending);
  w.boolean(s.kbd_scanning);
  return {kStateVersion, w.take()};
}

Result<void> I8042::restore(const DeviceState& state) {
  if (state.version != kStateVersion && state.version != 1)
    return Error(fmt::format("i8042 state version {} is not supported (this vireo reads 1-{})",
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
  if (state.version >= 2) {  // version 1 had no keyboard: it starts empty and scanning
    VIREO_ASSIGN_OR_RETURN(s.output_from_kbd, r.boolean());
    VIREO_ASSIGN_OR_RETURN(uint8_t queued, r.u8());
    if (queued > kKbdQueueMax)
      return Error(fmt::format("i8042 state: {} keyboard bytes queued (at most {})", queued, kKbdQueueMax));
    for (uint8_t i = 0; i < queued; ++i) {
      VIREO_ASSIGN_OR_RETURN(uint8_t b, r.u8());
      s.kbd_queue.push_back(b);
    }
    VIREO_ASSIGN_OR_RETURN(s.kbd_pending, r.u8());
    VIREO_ASSIGN_OR_RETURN(s.kbd_scanning, r.boolean());
  }
  VIREO_TRY(r.finish());
  std::lock_guard lock(mu_);
  s_ = s;
  update_irq();
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
    s_.output_from_kbd = false;
    update_irq();  // the byte was taken: the line drops ...
    pump();        // ... and rises again for the next one
  }
  return s_.last_output;
}

void I8042::pump() {
  if (!s_.output && !s_.kbd_queue.empty()) {
    s_.output = s_.kbd_queue.front();
    s_.output_from_kbd = true;
    s_.kbd_queue.erase(s_.kbd_queue.begin());
  }
  update_irq();
}

void I8042::update_irq() {
  const bool level =
      s_.output && s_.output_from_kbd && (s_.command_byte & kCommandByteKbdInterrupt);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_level(level);
}

void I8042::controller_answer(uint8_t v) {
  // A keyboard byte still in the buffer goes back to the front of its queue (if there
  // is room: a full keyboard buffer loses it, as a real one would).
  if (s_.output && s_.output_from_kbd && s_.kbd_queue.size() < kKbdQueueMax)
    s_.kbd_queue.insert(s_.kbd_queue.begin(), *s_.output);
  s_.output = v;
  s_.output_from_kbd = false;
  update_irq();
}

void I8042::kbd_answer(std::initializer_list<uint8_t> bytes) {
  for (uint8_t b : bytes)
    if (s_.kbd_queue.size() < kKbdQueueMax) s_.kbd_queue.push_back(b);
  pump();
}

void I8042::keyboard_write(uint8_t v) {
  if (const uint8_t cmd = std::exchange(s_.kbd_pending, 0)) {  // v is its argument
    if (cmd == kKbdScancodeSet && v == 0)
      kbd_answer({kKbdAck, 0x02});  // set 2 (translated to set 1 by the controller)
    else
      kbd_answer({kKbdAck});
    return;
  }
  switch (v) {
    case kKbdSetLeds:
    case kKbdTypematic:
    case kKbdScancodeSet:
      s_.kbd_pending = v;
      kbd_answer({kKbdAck});
      break;
    case kKbdIdentify:
      kbd_answer({kKbdAck, 0xab, (s_.command_byte & kCommandByteTranslate) ? uint8_t{0x41} : uint8_t{0x83}});
      break;
    case kKbdEcho: kbd_answer({kKbdEcho}); break;
    case kKbdEnable:
      s_.kbd_scanning = true;
      kbd_answer({kKbdAck});
      break;
    case kKbdDisable:
    case kKbdDefaults:
      s_.kbd_scanning = v == kKbdDefaults;
      kbd_answer({kKbdAck});
      break;
    case kKbdReset:
      s_.kbd_queue.clear();
      s_.kbd_scanning = true;
      kbd_answer({kKbdAck, kKbdSelfTestPassed});
      break;
    default: kbd_answer({kKbdAck}); break;
  }
}

bool I8042::send_ctrl_alt_del() {
  std::lock_guard lock(mu_);
  // Pressed in order, released in reverse. Scancode set 1 while the controller
  // translates (what it would make of set 2), else set 2.
  static constexpr uint8_t kSet1[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
  static constexpr uint8_t kSet2[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};
  const bool translated = s_.command_byte & kCommandByteTranslate;
  const size_t n = translated ? sizeof(kSet1) : sizeof(kSet2);
  if (!s_.kbd_scanning || s_.kbd_queue.size() + n > kKbdQueueMax) return false;
  const uint8_t* codes = translated ? kSet1 : kSet2;
  s_.kbd_queue.insert(s_.kbd_queue.end(), codes, codes + n);
  pump();
  return true;
}

bool I8042::command(uint8_t cmd) {
  s_.last_write_command = true;
  s_.pending = 0;  // a new command abandons one still waiting for its data byte
  switch (cmd) {
    case kCmdReadCommandByte: controller_answer(s_.command_byte); break;
    case kCmdWriteCommandByte:
    case kCmdWriteOutputPort:
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      s_.pending = cmd;
      break;
    case kCmdDisableAux: s_.command_byte |= kCommandByteAuxDisabled; break;
    case kCmdEnableAux: s_.command_byte &= ~kCommandByteAuxDisabled; break;
    case kCmdAuxInterfaceTest: controller_answer(kAuxInterfaceTestResult); break;
    case kCmdSelfTest: controller_answer(kSelfTestOk); break;
    case kCmdKbdInterfaceTest: controller_answer(kInterfaceTestOk); break;
    case kCmdDisableKbd: s_.command_byte |= kCommandByteKbdDisabled; break;
    case kCmdEnableKbd: s_.command_byte &= ~kCommandByteKbdDisabled; break;
    case kCmdReadOutputPort: controller_answer(s_.output_port); break;
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
    case kCmdWriteCommandByte:
      s_.command_byte = v;
      update_irq();  // the keyboard interrupt may have been enabled or disabled
      return false;
    case kCmdWriteOutputPort:
      s_.output_port = v;
      return !(v & kOutputPortReset);  // the reset line is active low
    case kCmdWriteKbdOutput:
    case kCmdWriteAuxOutput:  // no aux port: comes back as keyboard data (see the header)
      controller_answer(v);
      return false;
    case kCmdWriteAux:
      return false;  // to the aux device: nothing is attached
    default:
      keyboard_write(v);
      return false;
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
