#include "devices/legacy/serial.h"

#include <algorithm>

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

Serial::Serial(std::shared_ptr<Irq> irq, OutputFn out)
    : irq_(std::move(irq)), out_(std::move(out)) {}

void Serial::read(uint64_t offset, std::span<uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) data[i] = read_reg(offset + i);
  update_irq();
}

void Serial::write(uint64_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < data.size(); ++i) write_reg(offset + i, data[i]);
  update_irq();
}

size_t Serial::enqueue_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  size_t n = std::min(bytes.size(), kInputCapacity - input_.size());
  input_.insert(input_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  refill_receiver();
  update_irq();
  return n;
}

size_t Serial::input_room() const {
  std::lock_guard lock(mu_);
  return kInputCapacity - input_.size();
}

size_t Serial::receiver_capacity() const { return (fcr_ & kFcrEnable) ? kFifoSize : 1; }

// Console bytes "arrive" as fast as the receiver has room: the host side never overruns.
// In loopback the receiver is disconnected from the line, so they wait.
void Serial::refill_receiver() {
  if (mcr_ & kMcrLoop) return;
  while (!input_.empty() && rx_.size() < receiver_capacity()) {
    rx_.push_back(input_.front());
    input_.pop_front();
  }
}

// The modem status inputs: in loopback the modem control outputs, else a terminal that
// is connected and ready.
uint8_t Serial::modem_inputs() const {
  if (!(mcr_ & kMcrLoop)) return kMsrDcd | kMsrDsr | kMsrCts;
  uint8_t v = 0;
  if (mcr_ & kMcrRts) v |= kMsrCts;
  if (mcr_ & kMcrDtr) v |= kMsrDsr;
  if (mcr_ & kMcrOut1) v |= kMsrRi;
  if (mcr_ & kMcrOut2) v |= kMsrDcd;
  return v;
}

uint8_t Serial::msr() const { return static_cast<uint8_t>(modem_inputs() | msr_delta_); }

uint8_t Serial::lsr() const {
  uint8_t v = kLsrThre | kLsrTemt;
  if (!rx_.empty()) v |= kLsrDr;
  if (overrun_) v |= kLsrOe;
  return v;
}

uint8_t Serial::iir() const {
  const uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifosEnabled : 0;
  if ((ier_ & kIerRlsi) && overrun_) return kIirRlsi | fifo;
  if ((ier_ & kIerRdi) && !rx_.empty()) return kIirRdi | fifo;
  if ((ier_ & kIerThri) && thr_pending_) return kIirThri | fifo;
  if ((ier_ & kIerMsi) && msr_delta_) return kIirMsi | fifo;
  return kIirNoInt | fifo;
}

void Serial::set_mcr(uint8_t v) {
  const uint8_t before = modem_inputs();
  const bool was_loop = mcr_ & kMcrLoop;
  mcr_ = v & kMcrMask;
  const uint8_t after = modem_inputs();
  const uint8_t changed = before ^ after;
  if (changed & kMsrCts) msr_delta_ |= kMsrDcts;
  if (changed & kMsrDsr) msr_delta_ |= kMsrDdsr;
  if ((before & kMsrRi) && !(after & kMsrRi)) msr_delta_ |= kMsrTeri;  // trailing edge
  if (changed & kMsrDcd) msr_delta_ |= kMsrDdcd;
  if (was_loop && !(mcr_ & kMcrLoop)) refill_receiver();
}

uint8_t Serial::read_reg(uint64_t reg) {
  switch (reg) {
    case kData: {
      if (lcr_ & kLcrDlab) return dll_;
      if (rx_.empty()) return last_rx_;  // the register still holds the last byte
      last_rx_ = rx_.front();
      rx_.pop_front();
      refill_receiver();
      return last_rx_;
    }
    case kIer:
      return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIir: {
      uint8_t v = iir();
      // Reading IIR while it reports THR empty acknowledges that interrupt.
      if ((v & kIirIdMask) == kIirThri) thr_pending_ = false;
      return v;
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      uint8_t v = lsr();
      overrun_ = false;  // error bits clear on read
      return v;
    }
    case kMsr: {
      uint8_t v = msr();
      msr_delta_ = 0;
      return v;
    }
    case kScr:
      return scr_;
    default:
      return 0xff;  // past the 8 registers (a wide access at the end)
  }
}

void Serial::write_reg(uint64_t reg, uint8_t v) {
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
        return;
      }
      if (mcr_ & kMcrLoop) {
        if (rx_.size() < receiver_capacity()) {
          rx_.push_back(v);
        } else {
          overrun_ = true;
        }
      } else if (out_) {
        out_(std::span<const uint8_t>(&v, 1));
      }
      // The byte moves on at once: the holding register is empty again.
      thr_pending_ = true;
      return;
    case kIer: {
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
        return;
      }
      const uint8_t old = ier_;
      ier_ = v & kIerMask;
      // Enabling ETBEI while the holding register is empty (it always is) raises the
      // THR-empty interrupt, even if an IIR read had acknowledged it before; disabling
      // it forgets it. Linux's 8250 startup tests exactly this (UART_BUG_THRE).
      if ((old ^ ier_) & kIerThri) thr_pending_ = (ier_ & kIerThri) != 0;
      return;
    }
    case kIir: {  // FCR
      fcr_ = v & kFcrStored;
      if (v & kFcrClearRx) {
        rx_.clear();
        overrun_ = false;
      }
      // (Clear-transmit, bit 2, has nothing to do: the transmitter is always empty.)
      refill_receiver();
      return;
    }
    case kLcr:
      lcr_ = v;
      return;
    case kMcr:
      set_mcr(v);
      return;
    case kScr:
      scr_ = v;
      return;
    default:
      return;  // LSR and MSR are read-only
  }
}

void Serial::update_irq() {
  const bool out2 = (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
  const bool level = out2 && !(iir() & kIirNoInt);
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_level(level);
}

}  // namespace vireo::devices
