#include "devices/legacy/serial.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "fake_irq.h"

namespace vireo::devices {
namespace {

constexpr uint64_t RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3,
                   MCR = 4, LSR = 5, MSR = 6, SCR = 7;
// IIR identification values (low nibble).
constexpr uint8_t kNone = 0x01, kModem = 0x00, kThre = 0x02, kRxData = 0x04, kLineStatus = 0x06;
constexpr uint8_t kOut2 = 0x08, kLoop = 0x10;

struct Uart {
  std::shared_ptr<FakeIrq> irq = std::make_shared<FakeIrq>();
  std::string out;  // what the console took so far
  int wakes = 0;
  Serial s{irq, [this] { ++wakes; }};

  uint8_t in(uint64_t reg) {
    uint8_t v;
    s.read(reg, std::span<uint8_t>(&v, 1));
    return v;
  }
  void outb(uint64_t reg, uint8_t v) {
    s.write(reg, std::span<const uint8_t>(&v, 1));
    take();
  }
  void take() {  // the console's side: takes everything transmitted
    uint8_t buf[64];
    while (size_t n = s.take_output(buf)) out.append(buf, buf + n);
  }
  uint8_t iir_id() { return in(IIR) & 0x0f; }
  size_t input(const std::string& t) {
    return s.enqueue_input(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(t.data()), t.size()));
  }
  std::string drain() {  // what a polling driver reads
    std::string got;
    while (in(LSR) & 0x01) got.push_back(static_cast<char>(in(RBR)));
    return got;
  }
};

TEST(Serial, TransmitsToSink) {
  Uart u;
  for (char c : std::string("hi\n")) u.outb(THR, static_cast<uint8_t>(c));
  EXPECT_EQ(u.out, "hi\n");
  EXPECT_EQ(u.in(LSR) & 0x60, 0x60);  // THRE | TEMT: always ready
}

TEST(Serial, WorksWithoutIrqOrSink) {
  Serial s(nullptr, nullptr);
  uint8_t v = 'x';
  const uint8_t mcr = 0x0b, ier = 0x0f;
  s.write(MCR, std::span<const uint8_t>(&mcr, 1));
  s.write(IER, std::span<const uint8_t>(&ier, 1));
  s.write(THR, std::span<const uint8_t>(&v, 1));
  EXPECT_EQ(s.enqueue_input(std::span<const uint8_t>(&v, 1)), 1u);
  s.read(RBR, std::span<uint8_t>(&v, 1));
  EXPECT_EQ(v, 'x');
}

TEST(Serial, DivisorLatch) {
  Uart u;
  EXPECT_EQ(u.in(LCR), 0);
  u.outb(IER, 0x05);
  u.outb(LCR, 0x83);  // DLAB, 8N1
  EXPECT_EQ(u.in(DLL), 0x0c) << "power-on divisor: 9600 baud";
  EXPECT_EQ(u.in(DLM), 0x00);
  u.outb(DLL, 0x01);  // 115200 baud
  u.outb(DLM, 0x02);
  EXPECT_EQ(u.in(DLL), 0x01);
  EXPECT_EQ(u.in(DLM), 0x02);
  EXPECT_EQ(u.in(LCR), 0x83);
  u.outb(LCR, 0x03);
  EXPECT_TRUE(u.out.empty()) << "divisor writes are not data";
  EXPECT_EQ(u.in(IER), 0x05) << "IER untouched by DLM writes";
  u.outb(LCR, 0x83);
  EXPECT_EQ(u.in(DLL), 0x01) << "the latch keeps its value";
  EXPECT_EQ(u.in(DLM), 0x02);
}

TEST(Serial, ScratchAndIerWidth) {
  Uart u;
  u.outb(SCR, 0x5a);
  EXPECT_EQ(u.in(SCR), 0x5a);
  u.outb(IER, 0xff);
  EXPECT_EQ(u.in(IER), 0x0f) << "IER bits 7:4 read 0";
  u.outb(MCR, 0xff);
  EXPECT_EQ(u.in(MCR), 0x1f);
}

TEST(Serial, ReceiveRaisesAndClearsInterrupt) {
  Uart u;
  u.outb(MCR, 0x0b);  // DTR RTS OUT2
  u.outb(IER, 0x01);
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.input("ab"), 2u);
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kRxData);
  EXPECT_TRUE(u.irq->level()) << "reading IIR does not clear received-data";
  EXPECT_EQ(u.in(LSR) & 1, 1);
  EXPECT_EQ(u.in(RBR), 'a');
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(RBR), 'b');
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.in(LSR) & 1, 0);
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.in(RBR), 'b') << "an empty receiver reads the last byte again";
  EXPECT_EQ(u.irq->rising_edges(), 1u);
}

TEST(Serial, ReceiveInterruptNeedsIerBit) {
  Uart u;
  u.outb(MCR, kOut2);
  u.input("z");
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.in(LSR) & 1, 1) << "data is there for polling";
  u.outb(IER, 0x01);
  EXPECT_TRUE(u.irq->level()) << "enabling with data waiting raises it";
  u.outb(IER, 0x00);
  EXPECT_FALSE(u.irq->level());
}

TEST(Serial, Out2GatesTheInterruptLine) {
  Uart u;
  u.outb(IER, 0x01);
  u.input("x");
  EXPECT_FALSE(u.irq->level());
  EXPECT_TRUE(u.irq->levels.empty()) << "never driven while OUT2 is clear";
  EXPECT_EQ(u.iir_id(), kRxData) << "pending internally";
  u.outb(MCR, kOut2);
  EXPECT_TRUE(u.irq->level());
  u.outb(MCR, 0x03);  // DTR RTS only
  EXPECT_FALSE(u.irq->level());
  u.outb(MCR, kOut2 | 0x03);
  EXPECT_TRUE(u.irq->level());
}

TEST(Serial, LineIsOnlyDrivenOnChanges) {
  Uart u;
  u.outb(MCR, kOut2);
  u.outb(IER, 0x01);
  u.input("abc");
  u.input("def");
  u.in(LSR);
  u.in(IIR);
  EXPECT_EQ(u.irq->levels, (std::vector<bool>{true}));
  EXPECT_EQ(u.drain(), "abcdef");
  EXPECT_EQ(u.irq->levels, (std::vector<bool>{true, false}));
}

TEST(Serial, ThrEmptyInterruptAsLinuxExpects) {
  Uart u;
  u.outb(MCR, kOut2);
  // Enabling THRI with an empty THR raises it; reading IIR acknowledges it.
  u.outb(IER, 0x02);
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kThre);
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.in(LSR) & 0x60, 0x60) << "still empty, but acknowledged";
  // Writing IER with THRI still set does not re-raise it...
  u.outb(IER, 0x02);
  EXPECT_EQ(u.iir_id(), kNone);
  // ...disabling and re-enabling does (the 8250 driver's UART_BUG_THRE test).
  u.outb(IER, 0x00);
  u.outb(IER, 0x02);
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kThre);
  // Each transmitted byte raises it again.
  u.outb(THR, 'z');
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.iir_id(), kThre);
  EXPECT_EQ(u.iir_id(), kNone);
  // Disabling THRI forgets a pending one.
  u.outb(THR, 'y');
  u.outb(IER, 0x00);
  EXPECT_FALSE(u.irq->level());
  u.outb(IER, 0x01);
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.out, "zy");
}

// serial8250_do_startup's two probes, in its order (OUT2 is set between them).
TEST(Serial, LinuxStartupFindsNoThreOrTxenBugs) {
  Uart u;
  // UART_BUG_THRE: iir1 and iir must both report an interrupt.
  ASSERT_EQ(u.in(LSR) & 0x20, 0x20);
  u.outb(IER, 0x02);
  uint8_t iir1 = u.in(IIR);
  u.outb(IER, 0);
  u.outb(IER, 0x02);
  uint8_t iir = u.in(IIR);
  u.outb(IER, 0);
  EXPECT_FALSE(!(iir1 & kNone) && (iir & kNone)) << "would set UART_BUG_THRE";
  EXPECT_EQ(iir1 & 0x0f, kThre);
  EXPECT_EQ(iir & 0x0f, kThre);
  EXPECT_TRUE(u.irq->levels.empty()) << "OUT2 still clear";
  // UART_BUG_TXEN, with OUT2 set.
  u.outb(LCR, 0x03);
  u.outb(MCR, kOut2 | 0x03);
  u.outb(IER, 0x02);
  uint8_t lsr = u.in(LSR);
  iir = u.in(IIR);
  u.outb(IER, 0);
  EXPECT_FALSE((lsr & 0x40) && (iir & kNone)) << "would set UART_BUG_TXEN";
  EXPECT_FALSE(u.irq->level());
}

// How serial8250_interrupt drives transmission: on each interrupt it reads IIR until it
// reports nothing, sending up to 16 bytes per THR-empty report, and disables THRI when
// its buffer is empty.
TEST(Serial, InterruptDrivenTransmit) {
  Uart u;
  u.outb(MCR, kOut2 | 0x03);
  u.outb(FCR, 0xc7);
  std::string pending(100, 'x');
  u.outb(IER, 0x03);  // start_tx
  size_t handler_runs = 0;
  while (u.irq->level()) {
    ++handler_runs;
    ASSERT_LT(handler_runs, 100u);
    for (uint8_t iir = u.in(IIR); !(iir & kNone); iir = u.in(IIR)) {
      ASSERT_EQ(iir & 0x0f, kThre);
      ASSERT_EQ(u.in(LSR) & 0x20, 0x20);
      for (int i = 0; i < 16 && !pending.empty(); ++i) {
        u.outb(THR, static_cast<uint8_t>(pending.back()));
        pending.pop_back();
      }
      if (pending.empty()) u.outb(IER, 0x01);  // stop_tx
    }
  }
  EXPECT_EQ(u.out, std::string(100, 'x'));
  EXPECT_EQ(handler_runs, 1u);
  EXPECT_FALSE(u.irq->level());
}

TEST(Serial, InterruptPriorities) {
  Uart u;
  u.outb(MCR, kOut2);
  u.outb(IER, 0x0f);
  EXPECT_EQ(u.iir_id(), kThre) << "ETBEI 0->1 raised THR empty";
  u.outb(IER, 0x0d);
  u.outb(IER, 0x0f);
  // Modem status change (lowest), THR empty, received data, line status (highest).
  u.outb(MCR, kOut2 | 0x03);  // DTR/RTS change nothing outside loopback...
  EXPECT_EQ(u.iir_id(), kThre);
  EXPECT_EQ(u.iir_id(), kNone);
  u.outb(MCR, kOut2 | kLoop);  // ...entering loopback changes the modem inputs
  EXPECT_EQ(u.in(IIR) & 0x0f, kModem);
  u.outb(THR, 'a');  // loops back: received data, and THR empty again
  u.outb(THR, 'b');  // overrun: the 1-byte holding register is full
  EXPECT_EQ(u.iir_id(), kLineStatus);
  EXPECT_EQ(u.in(LSR) & 0x03, 0x03) << "DR | OE";
  EXPECT_EQ(u.iir_id(), kRxData) << "LSR read cleared the overrun";
  EXPECT_EQ(u.in(RBR), 'a');
  EXPECT_EQ(u.iir_id(), kThre);
  EXPECT_EQ(u.iir_id(), kModem);
  EXPECT_EQ(u.in(MSR) & 0x0f, 0x03) << "DCTS DDSR: loopback dropped CTS and DSR";
  EXPECT_EQ(u.iir_id(), kNone);
  EXPECT_EQ(u.in(MSR) & 0x0f, 0) << "deltas clear on read";
}

TEST(Serial, LineStatusInterruptNeedsItsEnableBit) {
  Uart u;
  u.outb(MCR, kLoop);
  u.outb(IER, 0x01);
  u.outb(THR, 1);
  u.outb(THR, 2);
  EXPECT_EQ(u.iir_id(), kRxData) << "overrun without ELSI";
  EXPECT_EQ(u.in(LSR) & 0x02, 0x02);
  EXPECT_EQ(u.in(LSR) & 0x02, 0x00);
}

TEST(Serial, FifoBitsIn16550AMode) {
  Uart u;
  EXPECT_EQ(u.in(IIR), 0x01) << "16450 mode after reset";
  u.outb(FCR, 0x07);  // enable and clear FIFOs
  EXPECT_EQ(u.in(IIR), 0xc1);
  u.outb(FCR, 0x00);
  EXPECT_EQ(u.in(IIR), 0x01);
}

TEST(Serial, ReceiverHolds16BytesWithFifosAnd1Without) {
  Uart u;
  u.outb(MCR, kLoop);
  for (int i = 0; i < 3; ++i) u.outb(THR, static_cast<uint8_t>('a' + i));
  EXPECT_EQ(u.in(LSR) & 0x03, 0x03) << "1-byte holding register overran";
  EXPECT_EQ(u.drain(), "a");
  u.outb(FCR, 0x01);
  for (int i = 0; i < 20; ++i) u.outb(THR, static_cast<uint8_t>('a' + i));
  EXPECT_EQ(u.in(LSR) & 0x02, 0x02);
  EXPECT_EQ(u.drain(), "abcdefghijklmnop");
}

TEST(Serial, ReceiverResetDiscardsOnlyTheFifo) {
  Uart u;
  u.outb(FCR, 0x01);
  std::string text;
  for (int i = 0; i < 40; ++i) text.push_back(static_cast<char>('A' + i));
  EXPECT_EQ(u.input(text), 40u);
  EXPECT_EQ(u.s.input_room(), Serial::kInputCapacity - 24) << "16 moved into the FIFO";
  u.outb(FCR, 0x03);  // clear the receive FIFO: the first 16 bytes go
  EXPECT_EQ(u.drain(), text.substr(16));
  EXPECT_EQ(u.s.input_room(), Serial::kInputCapacity);
  u.input("q");
  u.outb(FCR, 0x05);  // clear transmit only
  EXPECT_EQ(u.drain(), "q");
}

// Linux's 8250 autoconfig (and size_fifo) must classify the port as a 16550A.
TEST(Serial, LinuxAutoconfigSeesA16550A) {
  Uart u;
  // IER existence test.
  uint8_t scratch = u.in(IER);
  u.outb(IER, 0);
  uint8_t scratch2 = u.in(IER) & 0x0f;
  u.outb(IER, 0x0f);
  uint8_t scratch3 = u.in(IER) & 0x0f;
  u.outb(IER, scratch);
  EXPECT_EQ(scratch2, 0);
  EXPECT_EQ(scratch3, 0x0f);
  // Loopback test.
  uint8_t save_mcr = u.in(MCR);
  u.outb(MCR, kLoop | 0x0a);
  EXPECT_EQ(u.in(MSR) & 0xf0, 0x90);
  u.outb(MCR, save_mcr);
  // EFR reset through LCR=0xbf, then the FIFO test.
  u.outb(LCR, 0xbf);
  u.outb(FCR, 0);
  u.outb(LCR, 0);
  u.outb(FCR, 0x01);
  EXPECT_EQ(u.in(IIR) >> 6, 3) << "16550A";
  // autoconfig_16550a: no EFR (IIR reads non-zero in both config modes), not a 16750.
  u.outb(LCR, 0x80);
  EXPECT_NE(u.in(IIR), 0);
  u.outb(LCR, 0xbf);
  EXPECT_NE(u.in(IIR), 0);
  u.outb(LCR, 0);
  u.outb(FCR, 0x21);
  EXPECT_EQ(u.in(IIR) >> 5, 6) << "no 64-byte FIFO bit";
  u.outb(FCR, 0x01);
  // size_fifo: loopback 256 bytes, count what comes back.
  u.outb(FCR, 0x07);
  u.outb(MCR, kLoop);
  u.outb(LCR, 0x80);
  u.outb(DLL, 1);
  u.outb(DLM, 0);
  u.outb(LCR, 0x03);
  for (int c = 0; c < 256; ++c) u.outb(THR, static_cast<uint8_t>(c));
  int count = 0;
  for (; (u.in(LSR) & 0x01) && count < 256; ++count) u.in(RBR);
  EXPECT_EQ(count, 16);
  EXPECT_TRUE(u.out.empty()) << "loopback bytes never reach the sink";
}

TEST(Serial, Loopback) {
  Uart u;
  u.outb(MCR, kLoop | 0x0a);  // loop, RTS, OUT2
  u.outb(THR, 0x42);
  EXPECT_TRUE(u.out.empty());
  EXPECT_EQ(u.in(LSR) & 1, 1);
  EXPECT_EQ(u.in(RBR), 0x42);
  EXPECT_EQ(u.in(MSR) & 0xf0, 0x90);  // CTS (from RTS) and DCD (from OUT2)
  u.outb(MCR, kLoop | 0x05);          // DTR, OUT1
  EXPECT_EQ(u.in(MSR) & 0xf0, 0x60);  // DSR (from DTR) and RI (from OUT1)
  u.outb(MCR, kLoop);
  EXPECT_EQ(u.in(MSR), 0x06) << "DSR changed (DDSR) and RI fell (TERI)";
  u.outb(MCR, 0x00);
  EXPECT_EQ(u.in(MSR) & 0xb0, 0xb0);  // a connected terminal outside loopback
  u.outb(THR, 0x43);
  EXPECT_EQ(u.out, "\x43");
}

TEST(Serial, LoopbackMasksTheInterruptAndHoldsConsoleInput) {
  Uart u;
  u.outb(IER, 0x01);
  u.outb(MCR, kOut2 | kLoop);
  u.outb(THR, 'L');
  EXPECT_EQ(u.iir_id(), kRxData);
  EXPECT_FALSE(u.irq->level()) << "loopback forces the OUT2 pin inactive";
  EXPECT_EQ(u.in(RBR), 'L');
  u.input("console");
  EXPECT_EQ(u.in(LSR) & 1, 0) << "the receiver is disconnected from the line";
  u.outb(MCR, kOut2);
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(RBR), 'c');
}

TEST(Serial, InputBackPressure) {
  Uart u;
  u.outb(FCR, 0x01);
  EXPECT_EQ(u.s.input_room(), Serial::kInputCapacity);
  std::string big(Serial::kInputCapacity + Serial::kFifoSize + 10, 'x');
  EXPECT_EQ(u.input(big), Serial::kInputCapacity) << "what fits in the queue";
  EXPECT_EQ(u.s.input_room(), Serial::kFifoSize) << "16 moved on into the FIFO";
  EXPECT_EQ(u.input(big), Serial::kFifoSize);
  EXPECT_EQ(u.s.input_room(), 0u);
  EXPECT_EQ(u.input("more"), 0u) << "full: the console keeps it";
  u.in(RBR);
  EXPECT_EQ(u.s.input_room(), 1u);
  EXPECT_EQ(u.drain().size(), Serial::kInputCapacity + Serial::kFifoSize - 1);
  EXPECT_EQ(u.s.input_room(), Serial::kInputCapacity);
}

TEST(Serial, InputOrderSurvivesChunks) {
  Uart u;
  std::string want;
  for (int i = 0; i < 300; ++i) want.push_back(static_cast<char>(i));
  std::string got;
  size_t pos = 0;
  while (pos < want.size() || (u.in(LSR) & 1)) {
    if (pos < want.size()) pos += u.input(want.substr(pos, 7));
    if (u.in(LSR) & 1) got.push_back(static_cast<char>(u.in(RBR)));
  }
  EXPECT_EQ(got, want);
}

TEST(Serial, WideAccessesTouchConsecutiveRegisters) {
  Uart u;
  const uint8_t mcr_lsr[2] = {0x0b, 0xff};  // MCR, then LSR (read-only)
  u.s.write(MCR, mcr_lsr);
  EXPECT_EQ(u.in(MCR), 0x0b);
  uint8_t r[4];
  u.s.read(LSR, r);  // LSR MSR SCR, then past the end
  EXPECT_EQ(r[0] & 0x60, 0x60);
  EXPECT_EQ(r[3], 0xff);
}

TEST(Serial, ConcurrentConsoleAndGuest) {
  Uart u;
  u.outb(FCR, 0x01);
  u.outb(MCR, kOut2);
  u.outb(IER, 0x01);
  const size_t total = 20000;
  std::thread console([&] {
    size_t sent = 0;
    while (sent < total) {
      uint8_t b = static_cast<uint8_t>(sent);
      sent += u.s.enqueue_input(std::span<const uint8_t>(&b, 1));
    }
  });
  size_t received = 0;
  bool in_order = true;
  while (received < total) {
    uint8_t lsr, v;
    u.s.read(LSR, std::span<uint8_t>(&lsr, 1));
    if (!(lsr & 1)) continue;
    u.s.read(RBR, std::span<uint8_t>(&v, 1));
    in_order &= v == static_cast<uint8_t>(received);
    ++received;
  }
  console.join();
  EXPECT_TRUE(in_order);
  EXPECT_FALSE(u.irq->level());
}

// The console takes output outside the device lock; a console that does not take any
// (a stalled terminal) fills the buffer, and the guest sees a busy transmitter instead of
// a vCPU blocked in the VMM.
TEST(Serial, OutputWaitsInABoundedBuffer) {
  Uart u;
  auto put = [&](uint8_t v) { u.s.write(THR, std::span<const uint8_t>(&v, 1)); };
  put('a');
  EXPECT_EQ(u.wakes, 1) << "the first byte in an empty buffer wakes the console";
  put('b');
  EXPECT_EQ(u.wakes, 1) << "later bytes join the same wake";
  u.take();
  EXPECT_EQ(u.out, "ab");
  put('c');
  EXPECT_EQ(u.wakes, 2);
  u.take();
  for (size_t i = 0; i < Serial::kOutputCapacity; ++i) put('x');
  EXPECT_EQ(u.in(LSR) & 0x60, 0) << "THRE and TEMT read 0 while the buffer is full";
  put('y');  // a driver that ignores THRE: the byte is lost and counted
  EXPECT_EQ(u.s.output_dropped(), 1u);
  uint8_t one;
  ASSERT_EQ(u.s.take_output(std::span<uint8_t>(&one, 1)), 1u);
  EXPECT_EQ(u.in(LSR) & 0x60, 0x60) << "room again";
  u.take();
  EXPECT_EQ(u.out.size(), 3 + Serial::kOutputCapacity - 1);
  EXPECT_EQ(u.out.find('y'), std::string::npos);
}

TEST(Serial, ThrInterruptWhenTheFullBufferDrains) {
  Uart u;
  u.outb(MCR, kOut2);
  u.outb(IER, 0x02);
  EXPECT_EQ(u.iir_id(), kThre);  // acknowledges the ETBEI-enable interrupt
  auto put = [&](uint8_t v) { u.s.write(THR, std::span<const uint8_t>(&v, 1)); };
  for (size_t i = 0; i < Serial::kOutputCapacity; ++i) put('x');
  EXPECT_EQ(u.iir_id(), kNone) << "no THR-empty interrupt while the buffer is full";
  EXPECT_FALSE(u.irq->level());
  u.take();
  EXPECT_TRUE(u.irq->level()) << "draining a full buffer raises THR empty";
  EXPECT_EQ(u.iir_id(), kThre);
}

TEST(Serial, WakesWhenInputRoomReturns) {
  Uart u;
  std::string big(Serial::kInputCapacity + 20, 'k');
  EXPECT_EQ(u.input(big), Serial::kInputCapacity);
  EXPECT_EQ(u.input("k"), 1u) << "the receiver took a byte from the queue";
  EXPECT_EQ(u.input("k"), 0u);
  const int before = u.wakes;
  (void)u.in(LSR);
  EXPECT_EQ(u.wakes, before) << "no room yet";
  (void)u.in(RBR);  // the guest takes a byte: room for one more
  EXPECT_EQ(u.wakes, before + 1);
  (void)u.in(RBR);
  EXPECT_EQ(u.wakes, before + 1) << "one wake per refusal";
}

TEST(Serial, ResetKeepsTheHostSideOfTheLine) {
  Uart u;
  u.outb(LCR, 0x03);
  u.outb(IER, 0x01);
  u.s.write(THR, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>("p"), 1));
  u.input("in");
  u.s.reset();
  auto st = u.s.state();
  EXPECT_EQ(st.lcr, 0);
  EXPECT_EQ(st.ier, 0);
  EXPECT_EQ(st.output.size(), 1u) << "unsent output survives a guest reboot";
  // Typed input still queued survives; the byte already in the receiver is lost, as on
  // the hardware.
  EXPECT_EQ(st.rx.size() + st.input.size(), 1u);
  EXPECT_EQ(st.rx.front(), 'n');
}

}  // namespace
}  // namespace vireo::devices
