#include "devices/legacy/serial.h"

#include <algorithm>

#include <fmt/format.h>

#include "arch/x86/acpi_tables.h"

#include "util/state_codec.h"

namespace vireo::devices {

namespace {

constexpr uint64_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;

constexpr uint8_t kIerRdi = 0x01, kIerThri = 0x02, kIerRlsi = 0x04, kIerMsi = 0x08;
constexpr uint8_t kIerMask = 0x0f;

// IIR interrupt identification (bits 3:0); bit 0 set means "none pending".
constexpr uint8_t kIirNoInt = 0x01, kIirMsi = 0x00, kIirThri = 0x02, kIirRdi = 0x04,
                  kIirRlsi = 0x06, kIirIdMask = 0x0f, kIirFifosEnabled = 0xc0;

constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kFcrStored = 0xc9;  // enable, DMA mode, RX trigger level

constexpr uint8_t kLcrDlab = 0x80;

constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08,
                  kMcrLoop = 0x10, kMcrMask = 0x1f;

constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;

constexpr uint8_t kMsrDcts = 0x01, kMsrDdsr = 0x02, kMsrTeri = 0x04, kMsrDdcd = 0x08,
                  kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;

}  // namespace

Serial::Serial(std::shared_ptr<Irq> irq, WakeFn wake)
    : irq_(std::move(irq)), wake_(std::move(wake)) {}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) data[i] = read_reg(offset + i);
    update_irq();
    wake = take_wake();
  }
  if (wake) wake_();
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < data.size(); ++i) write_reg(offset + i, data[i]);
    update_irq();
    wake = take_wake();
  }
  if (wake) wake_();
}

bool Serial::take_wake() {
  if (!wake_) return false;
  bool due = output_arrived_ || (input_refused_ && s_.input.size() < kInputCapacity);
  output_arrived_ = false;
  if (s_.input.size() < kInputCapacity) input_refused_ = false;
  return due;
}

void Serial::reset() {
  std::lock_guard lock(mu_);
  // The console's pending input and unsent output belong to the host side of the line:
  // a machine reset does not lose them.
  SerialState fresh;
  fresh.input = std::move(s_.input);
  fresh.output = std::move(s_.output);
  s_ = std::move(fresh);
  refill_receiver();
  update_irq();
}

SerialState Serial::state() const {
  std::lock_guard lock(mu_);
  return s_;
}

DeviceState Serial::save() const { return encode_serial_state(state()); }

Result<void> Serial::restore(const DeviceState& state) {
  VIREO_ASSIGN_OR_RETURN(auto s, decode_serial_state(state));
  std::lock_guard lock(mu_);
  s_ = std::move(s);
  output_arrived_ = !s_.output.empty();
  input_refused_ = false;
  return {};
}

size_t Serial::enqueue_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), kInputCapacity - s_.input.size());
  s_.input.insert(s_.input.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  if (n < bytes.size()) input_refused_ = true;
  refill_receiver();
  update_irq();
  return n;
}

size_t Serial::take_output(std::span<uint8_t> out) {
  std::lock_guard lock(mu_);
  const bool was_full = s_.output.size() >= kOutputCapacity;
  size_t n = std::min(out.size(), s_.output.size());
  std::copy_n(s_.output.begin(), n, out.begin());
  s_.output.erase(s_.output.begin(), s_.output.begin() + static_cast<std::ptrdiff_t>(n));
  if (was_full && n > 0) {
    s_.thr_pending = true;  // the transmitter has room again
    update_irq();
  }
  return n;
}

uint64_t Serial::output_dropped() const {
  std::lock_guard lock(mu_);
  return output_dropped_;
}

size_t Serial::input_room() const {
  std::lock_guard lock(mu_);
  return kInputCapacity - s_.input.size();
}

size_t Serial::receiver_capacity() const { return (s_.fcr & kFcrEnable) ? kFifoSize : 1; }

// Console bytes "arrive" as fast as the receiver has room: the host side never overruns.
// In loopback the receiver is disconnected from the line, so they wait.
void Serial::refill_receiver() {
  if (s_.mcr & kMcrLoop) return;
  while (!s_.input.empty() && s_.rx.size() < receiver_capacity()) {
    s_.rx.push_back(s_.input.front());
    s_.input.pop_front();
  }
}

// The modem status inputs: in loopback the modem control outputs, else a terminal that
// is connected and ready.
uint8_t Serial::modem_inputs() const {
  if (!(s_.mcr & kMcrLoop)) return kMsrDcd | kMsrDsr | kMsrCts;
  uint8_t v = 0;
  if (s_.mcr & kMcrRts) v |= kMsrCts;
  if (s_.mcr & kMcrDtr) v |= kMsrDsr;
  if (s_.mcr & kMcrOut1) v |= kMsrRi;
  if (s_.mcr & kMcrOut2) v |= kMsrDcd;
  return v;
}

uint8_t Serial::msr() const { return static_cast<uint8_t>(modem_inputs() | s_.msr_delta); }

uint8_t Serial::lsr() const {
  uint8_t v = s_.output.size() < kOutputCapacity ? (kLsrThre | kLsrTemt) : 0;
  if (!s_.rx.empty()) v |= kLsrDr;
  if (s_.overrun) v |= kLsrOe;
  return v;
}

uint8_t Serial::iir() const {
  const uint8_t fifo = (s_.fcr & kFcrEnable) ? kIirFifosEnabled : 0;
  if ((s_.ier & kIerRlsi) && s_.overrun) return kIirRlsi | fifo;
  if ((s_.ier & kIerRdi) && !s_.rx.empty()) return kIirRdi | fifo;
  if ((s_.ier & kIerThri) && s_.thr_pending) return kIirThri | fifo;
  if ((s_.ier & kIerMsi) && s_.msr_delta) return kIirMsi | fifo;
  return kIirNoInt | fifo;
}

void Serial::set_mcr(uint8_t v) {
  const uint8_t before = modem_inputs();
  const bool was_loop = s_.mcr & kMcrLoop;
  s_.mcr = v & kMcrMask;
  const uint8_t after = modem_inputs();
  const uint8_t changed = before ^ after;
  if (changed & kMsrCts) s_.msr_delta |= kMsrDcts;
  if (changed & kMsrDsr) s_.msr_delta |= kMsrDdsr;
  if ((before & kMsrRi) && !(after & kMsrRi)) s_.msr_delta |= kMsrTeri;  // trailing edge
  if (changed & kMsrDcd) s_.msr_delta |= kMsrDdcd;
  if (was_loop && !(s_.mcr & kMcrLoop)) refill_receiver();
}

uint8_t Serial::read_reg(uint64_t reg) {
  switch (reg) {
    case kData: {
      if (s_.lcr & kLcrDlab) return s_.dll;
      if (s_.rx.empty()) return s_.last_rx;  // the register still holds the last byte
      s_.last_rx = s_.rx.front();
      s_.rx.pop_front();
      refill_receiver();
      return s_.last_rx;
    }
    case kIer:
      return (s_.lcr & kLcrDlab) ? s_.dlm : s_.ier;
    case kIir: {
      uint8_t v = iir();
      // Reading IIR while it reports THR empty acknowledges that interrupt.
      if ((v & kIirIdMask) == kIirThri) s_.thr_pending = false;
      return v;
    }
    case kLcr:
      return s_.lcr;
    case kMcr:
      return s_.mcr;
    case kLsr: {
      uint8_t v = lsr();
      s_.overrun = false;  // error bits clear on read
      return v;
    }
    case kMsr: {
      uint8_t v = msr();
      s_.msr_delta = 0;
      return v;
    }
    case kScr:
      return s_.scr;
    default:
      return 0xff;  // past the 8 registers (a wide access at the end)
  }
}

void Serial::write_reg(uint64_t reg, uint8_t v) {
  switch (reg) {
    case kData:
      if (s_.lcr & kLcrDlab) {
        s_.dll = v;
        return;
      }
      if (s_.mcr & kMcrLoop) {
        if (s_.rx.size() < receiver_capacity()) {
          s_.rx.push_back(v);
        } else {
          s_.overrun = true;
        }
      } else {
        transmit(v);
        return;
      }
      // The byte moves on at once: the holding register is empty again.
      s_.thr_pending = true;
      return;
    case kIer: {
      if (s_.lcr & kLcrDlab) {
        s_.dlm = v;
        return;
      }
      const uint8_t old = s_.ier;
      s_.ier = v & kIerMask;
      // Enabling ETBEI while the holding register is empty (it always is) raises the
      // THR-empty interrupt, even if an IIR read had acknowledged it before; disabling
      // it forgets it. Linux's 8250 startup tests exactly this (UART_BUG_THRE).
      if ((old ^ s_.ier) & kIerThri) s_.thr_pending = (s_.ier & kIerThri) != 0;
      return;
    }
    case kIir: {  // FCR
      s_.fcr = v & kFcrStored;
      if (v & kFcrClearRx) {
        s_.rx.clear();
        s_.overrun = false;
      }
      // (Clear-transmit, bit 2, has nothing to do: the transmitter is always empty.)
      refill_receiver();
      return;
    }
    case kLcr:
      s_.lcr = v;
      return;
    case kMcr:
      set_mcr(v);
      return;
    case kScr:
      s_.scr = v;
      return;
    default:
      return;  // LSR and MSR are read-only
  }
}

void Serial::transmit(uint8_t v) {
  if (s_.output.size() >= kOutputCapacity) {
    ++output_dropped_;  // written while LSR.THRE read 0
    return;
  }
  if (s_.output.empty()) output_arrived_ = true;
  s_.output.push_back(v);
  // The holding register empties at once unless the buffer just filled up.
  s_.thr_pending = s_.output.size() < kOutputCapacity;
}

void Serial::update_irq() {
  const bool out2 = (s_.mcr & kMcrOut2) && !(s_.mcr & kMcrLoop);
  const bool level = out2 && !(iir() & kIirNoInt);
  if (level == s_.irq_level) return;
  s_.irq_level = level;
  if (irq_) irq_->set_level(level);
}

namespace {
void put_deque(StateWriter& w, const std::deque<uint8_t>& d) {
  w.bytes(std::vector<uint8_t>(d.begin(), d.end()));
}
Result<std::deque<uint8_t>> get_deque(StateReader& r, size_t max) {
  VIREO_ASSIGN_OR_RETURN(auto v, r.bytes(max));
  return std::deque<uint8_t>(v.begin(), v.end());
}
}  // namespace

DeviceState encode_serial_state(const SerialState& s) {
  StateWriter w;
  for (uint8_t v : {s.ier, s.lcr, s.mcr, s.scr, s.fcr, s.dll, s.dlm, s.last_rx, s.msr_delta})
    w.u8(v);
  w.boolean(s.overrun);
  w.boolean(s.thr_pending);
  w.boolean(s.irq_level);
  put_deque(w, s.rx);
  put_deque(w, s.input);
  put_deque(w, s.output);
  return {Serial::kStateVersion, w.take()};
}

Result<SerialState> decode_serial_state(const DeviceState& state) {
  if (state.version != Serial::kStateVersion)
    return Error(fmt::format("serial state version {} is not supported (this vireo reads {})",
                             state.version, Serial::kStateVersion));
  StateReader r(state.bytes, "serial state");
  SerialState s;
  for (uint8_t* f : {&s.ier, &s.lcr, &s.mcr, &s.scr, &s.fcr, &s.dll, &s.dlm, &s.last_rx,
                     &s.msr_delta}) {
    VIREO_ASSIGN_OR_RETURN(*f, r.u8());
  }
  VIREO_ASSIGN_OR_RETURN(s.overrun, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.thr_pending, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.irq_level, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.rx, get_deque(r, Serial::kFifoSize));
  VIREO_ASSIGN_OR_RETURN(s.input, get_deque(r, Serial::kInputCapacity));
  VIREO_ASSIGN_OR_RETURN(s.output, get_deque(r, Serial::kOutputCapacity));
  VIREO_TRY(r.finish());
  if (s.ier & ~kIerMask || s.mcr & ~kMcrMask || s.fcr & ~kFcrStored || s.msr_delta & 0xf0)
    return Error("serial state has register bits a 16550A cannot hold");
  return s;
}

namespace aml = arch::x86::aml;

// A PNP0501 (16550A) at its ports and ISA IRQ; COM1 is index 0.
std::vector<uint8_t> Serial::aml(const Placement& where) const {
  const auto port = static_cast<uint16_t>(where.base);
  std::vector<aml::Bytes> crs = {aml::io_port_descriptor(port, port, 1, kRegisterCount)};
  if (where.gsi) crs.push_back(aml::irq_descriptor(*where.gsi));
  return aml::device(fmt::format("COM{}", where.index + 1),
                     {aml::name("_HID", aml::eisa_id("PNP0501")),
                      aml::name("_UID", aml::integer(where.index)),
                      aml::name("_CRS", aml::resource_template(crs))});
}

}  // namespace vireo::devices
