#include "devices/legacy/serial.h"

namespace vireo::devices {

namespace {
// Register offsets.
constexpr uint64_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;
constexpr uint8_t kIerRda = 0x01, kIerThr = 0x02, kIerMsi = 0x08;
constexpr uint8_t kIirNone = 0x01, kIirMsi = 0x00, kIirThr = 0x02, kIirRda = 0x04,
                  kIirFifo = 0xc0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08,
                  kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
}  // namespace

Serial::Serial(std::shared_ptr<Irq> irq, OutputFn out) : irq_(std::move(irq)), out_(std::move(out)) {}

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

void Serial::enqueue_input(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mu_);
  for (uint8_t b : bytes) {
    if (rx_.size() >= kInputCapacity) break;
    rx_.push_back(b);
  }
  update_irq();
}

size_t Serial::input_room() const {
  std::lock_guard lock(mu_);
  return kInputCapacity - rx_.size();
}

uint8_t Serial::msr() const {
  if (mcr_ & kMcrLoop) {
    // Loopback: the modem control outputs come back as the status inputs.
    uint8_t v = 0;
    if (mcr_ & kMcrRts) v |= kMsrCts;
    if (mcr_ & kMcrDtr) v |= kMsrDsr;
    if (mcr_ & kMcrOut1) v |= kMsrRi;
    if (mcr_ & kMcrOut2) v |= kMsrDcd;
    return v | msr_delta_;
  }
  return kMsrDcd | kMsrDsr | kMsrCts | msr_delta_;  // a connected terminal
}

uint8_t Serial::iir() const {
  uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifo : 0;
  if ((ier_ & kIerRda) && !rx_.empty()) return kIirRda | fifo;
  if ((ier_ & kIerThr) && thr_interrupt_) return kIirThr | fifo;
  if ((ier_ & kIerMsi) && (msr_delta_ & 0x0f)) return kIirMsi | fifo;
  return kIirNone | fifo;
}

uint8_t Serial::read_reg(uint64_t reg) {
  switch (reg) {
    case kData:
      if (lcr_ & kLcrDlab) return dll_;
      if (rx_.empty()) return 0;
      {
        uint8_t b = rx_.front();
        rx_.pop_front();
        return b;
      }
    case kIer: return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIir: {
      uint8_t v = iir();
      // Reading IIR while it reports THR empty acknowledges that interrupt.
      if ((v & 0x0f) == kIirThr) thr_interrupt_ = false;
      return v;
    }
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr: return static_cast<uint8_t>((rx_.empty() ? 0 : kLsrDr) | kLsrThre | kLsrTemt);
    case kMsr: {
      uint8_t v = msr();
      msr_delta_ = 0;
      return v;
    }
    case kScr: return scr_;
    default: return 0xff;
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
        if (rx_.size() < kInputCapacity) rx_.push_back(v);
      } else if (out_) {
        out_(std::span<const uint8_t>(&v, 1));
      }
      // The byte leaves at once: the holding register is empty again.
      thr_interrupt_ = true;
      return;
    case kIer:
      if (lcr_ & kLcrDlab) {
        dlm_ = v;
        return;
      }
      // Enabling the THR-empty interrupt while the THR is empty raises it (Linux's
      // 8250 driver checks this at startup).
      if ((v & kIerThr) && !(ier_ & kIerThr)) thr_interrupt_ = true;
      ier_ = v & 0x0f;
      return;
    case kIir:  // FCR
      fcr_ = v & 0xc9;
      if (v & kFcrClearRx) rx_.clear();
      return;
    case kLcr: lcr_ = v; return;
    case kMcr: {
      uint8_t old = msr();
      mcr_ = v & 0x1f;
      uint8_t now = msr();
      // Delta bits for the modem status lines that changed (loopback tests use them).
      if ((old ^ now) & kMsrCts) msr_delta_ |= 0x01;
      if ((old ^ now) & kMsrDsr) msr_delta_ |= 0x02;
      if ((old & kMsrRi) && !(now & kMsrRi)) msr_delta_ |= 0x04;
      if ((old ^ now) & kMsrDcd) msr_delta_ |= 0x08;
      return;
    }
    case kLsr: return;  // read-only
    case kMsr: return;
    case kScr: scr_ = v; return;
    default: return;
  }
}

void Serial::update_irq() {
  // On PCs the UART's interrupt output reaches the bus only while OUT2 is set.
  bool level = (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop) && (iir() & kIirNone) == 0;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (irq_) irq_->set_level(level);
}

}  // namespace vireo::devices
