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
// - Transmitted bytes go into an output buffer (kOutputCapacity bytes) that the console
//   drains with take_output(), outside the device lock, so a slow or stalled terminal
//   never blocks a vCPU. LSR.THRE/TEMT read 1 while the buffer has room; when it is full
//   they read 0 (a transmitter still busy), and a byte written anyway is dropped and
//   counted, as a real UART overwrites its holding register. When take_output() makes
//   room in a full buffer the THR-empty interrupt becomes pending, so an interrupt-driven
//   driver resumes.
// - The THR-empty interrupt follows real 16550s (what Linux's 8250 driver tests at
//   startup): it becomes pending when a byte is written to THR while the buffer has room
//   (the holding register empties at once) and when IER.ETBEI goes from 0 to 1; it is cleared by reading IIR
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
// - State: SerialState below, saved and restored whole (the output and input buffers
//   too, so nothing typed or printed is lost across a snapshot).
//
// Thread safety: all entry points lock the device; read()/write() come from vCPU threads,
// enqueue_input()/input_room()/take_output() from the console's event loop. The `wake`
// callback runs outside the lock, on the thread that caused it (usually a vCPU): when
// output waits in an empty buffer, and when input room appears after enqueue_input()
// refused bytes. It must be cheap and must not block (an eventfd write).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "devices/bus_device.h"
#include "devices/console_port.h"
#include "devices/irq.h"
#include "util/result.h"

namespace vireo::devices {

// Everything a guest can observe of the UART, and the bytes on their way in and out.
struct SerialState {
  uint8_t ier = 0, lcr = 0, mcr = 0, scr = 0, fcr = 0;
  uint8_t dll = 0x0c, dlm = 0;   // 9600 baud
  uint8_t last_rx = 0;           // what RBR reads when the receiver is empty
  uint8_t msr_delta = 0;         // MSR bits 3:0: modem input changes since the last read
  bool overrun = false;          // LSR.OE
  bool thr_pending = false;      // THR-empty interrupt pending
  bool irq_level = false;        // the level last driven on the interrupt line
  std::deque<uint8_t> rx;        // the receiver (FIFO or holding register)
  std::deque<uint8_t> input;     // console bytes not yet in the receiver
  std::deque<uint8_t> output;    // transmitted bytes not yet taken by the console
  bool operator==(const SerialState&) const = default;
};

class Serial : public BusDevice, public ConsolePort {
 public:
  using WakeFn = std::function<void()>;
  static constexpr size_t kInputCapacity = 1024;   // console bytes queued towards the guest
  static constexpr size_t kOutputCapacity = 16384; // transmitted bytes waiting for the console
  static constexpr size_t kFifoSize = 16;          // receive FIFO of a 16550A
  static constexpr uint64_t kRegisterCount = 8;    // the span to register on the bus
  static constexpr uint32_t kStateVersion = 1;

  // `irq` may be null (the guest then polls); `wake` may be empty.
  Serial(std::shared_ptr<Irq> irq, WakeFn wake);

  std::string_view name() const override { return "serial"; }
  void read(uint64_t offset, std::span<uint8_t> data) override;
  void write(uint64_t offset, std::span<const uint8_t> data) override;
  void reset() override;
  DeviceState save() const override;
  Result<void> restore(const DeviceState& state) override;
  std::vector<uint8_t> aml(const Placement& where) const override;

  // Console input: queues up to input_room() bytes for the guest, raises the receive
  // interrupt if enabled, and returns how many bytes it took. The caller keeps the rest
  // and offers them again after `wake` (nothing is dropped).
  size_t enqueue_input(std::span<const uint8_t> bytes) override;
  size_t input_room() const override;

  // Console output: moves up to out.size() transmitted bytes into `out`, returns how many.
  size_t take_output(std::span<uint8_t> out) override;
  // Bytes the guest wrote while the output buffer was full.
  uint64_t output_dropped() const;

  SerialState state() const;

 private:
  uint8_t read_reg(uint64_t reg);
  void write_reg(uint64_t reg, uint8_t v);
  uint8_t iir() const;
  uint8_t lsr() const;
  uint8_t msr() const;
  uint8_t modem_inputs() const;
  void set_mcr(uint8_t v);
  void transmit(uint8_t v);
  void refill_receiver();
  size_t receiver_capacity() const;
  void update_irq();
  // Whether `wake` is due (and clears what made it due). Called with the lock held.
  bool take_wake();

  mutable std::mutex mu_;
  std::shared_ptr<Irq> irq_;
  WakeFn wake_;
  SerialState s_;
  // Host side, not state: the console was refused input (wake when room appears); output
  // arrived in an empty buffer (wake so the console takes it); bytes dropped.
  bool input_refused_ = false;
  bool output_arrived_ = false;
  uint64_t output_dropped_ = 0;
};

Result<SerialState> decode_serial_state(const DeviceState& state);
DeviceState encode_serial_state(const SerialState& s);

}  // namespace vireo::devices
