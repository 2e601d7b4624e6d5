// 16550A UART (as COM1 on PCs): the guest's serial console.
//
// Registers (offset from the base port, e.g. 0x3f8):
//   0  RBR (read) / THR (write); DLL while LCR.DLAB      4  MCR
//   1  IER;                      DLM while LCR.DLAB      5  LSR (read-only)
//   2  IIR (read) / FCR (write)                          6  MSR (read-only)
//   3  LCR                                               7  SCR
// Accesses wider than a byte touch consecutive registers, one byte each.
//
// Behaviour a guest can rely on:
// - Transmission is instantaneous: every THR byte goes to the output sink at once, and
//   LSR.THRE/TEMT always read 1.
// - The THR-empty interrupt follows real 16550s (what Linux's 8250 driver tests at
//   startup): it becomes pending when a byte is written to THR (the holding register
//   empties at once) and when IER.ETBEI goes from 0 to 1; it is cleared by reading IIR
//   while IIR reports it, or by clearing IER.ETBEI.
// - IIR priority: receiver line status (overrun) > received data > THR empty > modem
//   status. IIR bits 7:6 read 11 while FCR enables the FIFOs, so Linux finds a 16550A.
// - The receiver holds 16 bytes with FIFOs enabled, 1 byte without (16450 mode). Console
//   input waits in a separate host-side queue (kInputCapacity bytes) and moves into the
//   receiver as the guest drains it, so input is never overrun; input_room() tells the
//   console how much it may queue. A receiver reset (FCR bit 1) discards only what is in
//   the receiver, like the hardware; queued input behind it survives.
// - Loopback (MCR bit 4): THR bytes come back into the receiver (overrunning, LSR.OE, if
//   it is full), MSR reflects MCR (CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2) and console input
//   is held back until loopback ends. Outside loopback the modem inputs read as a
//   connected terminal: DCD, DSR and CTS set.
// - Interrupt output: level = MCR.OUT2 && !MCR.LOOP && (an enabled interrupt is pending).
//   On PCs OUT2 gates the UART's interrupt onto the ISA bus, and loopback forces the OUT2
//   pin inactive. The line is driven with Irq::set_level() whenever the level changes,
//   while the device lock is held (so levels reach the Irq in order); the Irq must not
//   call back into this device.
//
// Thread safety: all entry points lock the device; read()/write() come from vCPU threads,
// enqueue_input()/input_room() from the console thread. The output sink is called with
// the lock held, in transmit order: it must not call back into this device, and a sink
// that blocks stalls the vCPU that transmits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "devices/bus_device.h"
#include "devices/irq.h"

namespace vireo::devices {

class Serial : public BusDevice {
 public:
  using OutputFn = std::function<void(std::span<const uint8_t>)>;
  static constexpr size_t kInputCapacity = 1024;  // console bytes queued towards the guest
  static constexpr size_t kFifoSize = 16;         // receive FIFO of a 16550A
  static constexpr uint64_t kRegisterCount = 8;   // the span to register on the bus

  // `irq` may be null (the guest then polls); `out` (may be empty) receives every
  // transmitted byte.
  Serial(std::shared_ptr<Irq> irq, OutputFn out);

  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;

  // Console input: queues up to input_room() bytes for the guest, raises the receive
  // interrupt if enabled, and returns how many bytes it took (the caller keeps the rest
  // and retries when input_room() grows: nothing is dropped).
  size_t enqueue_input(std::span<const uint8_t> bytes);
  size_t input_room() const;

 private:
  uint8_t read_reg(uint64_t reg);
  void write_reg(uint64_t reg, uint8_t v);
  uint8_t iir() const;
  uint8_t lsr() const;
  uint8_t msr() const;
  uint8_t modem_inputs() const;
  void set_mcr(uint8_t v);
  void refill_receiver();
  size_t receiver_capacity() const;
  void update_irq();

  mutable std::mutex mu_;
  std::shared_ptr<Irq> irq_;
  OutputFn out_;
  std::deque<uint8_t> input_;  // console bytes not yet in the receiver
  std::deque<uint8_t> rx_;     // the receiver (FIFO or holding register)
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, fcr_ = 0;
  uint8_t dll_ = 0x0c, dlm_ = 0;  // 9600 baud
  uint8_t last_rx_ = 0;          // what RBR reads when the receiver is empty
  uint8_t msr_delta_ = 0;         // MSR bits 3:0: modem input changes since the last read
  bool overrun_ = false;          // LSR.OE
  bool thr_pending_ = false;      // THR-empty interrupt pending
  bool irq_level_ = false;
};

}  // namespace vireo::devices
