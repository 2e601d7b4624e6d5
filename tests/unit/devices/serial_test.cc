#include "devices/legacy/serial.h"

#include <gtest/gtest.h>

#include <string>

#include "fake_irq.h"

namespace vireo::devices {
namespace {

constexpr uint64_t THR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

struct Uart {
  std::shared_ptr<FakeIrq> irq = std::make_shared<FakeIrq>();
  std::string out;
  Serial s{irq, [this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); }};
  uint8_t in(uint64_t reg) {
    uint8_t v;
    s.read(reg, std::span<uint8_t>(&v, 1));
    return v;
  }
  void outb(uint64_t reg, uint8_t v) { s.write(reg, std::span<const uint8_t>(&v, 1)); }
  void input(const std::string& t) {
    s.enqueue_input(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(t.data()), t.size()));
  }
};

TEST(Serial, TransmitsToSink) {
  Uart u;
  for (char c : std::string("hi\n")) u.outb(THR, static_cast<uint8_t>(c));
  EXPECT_EQ(u.out, "hi\n");
  EXPECT_EQ(u.in(LSR) & 0x60, 0x60);  // THRE | TEMT
}

TEST(Serial, DivisorLatch) {
  Uart u;
  u.outb(LCR, 0x83);
  u.outb(THR, 0x01);
  u.outb(IER, 0x00);
  EXPECT_EQ(u.in(THR), 0x01);
  EXPECT_EQ(u.in(IER), 0x00);
  u.outb(LCR, 0x03);
  EXPECT_TRUE(u.out.empty()) << "divisor writes are not data";
  u.outb(SCR, 0x5a);
  EXPECT_EQ(u.in(SCR), 0x5a);
}

TEST(Serial, ReceiveRaisesAndClearsInterrupt) {
  Uart u;
  u.outb(MCR, 0x0b);  // DTR RTS OUT2
  u.outb(IER, 0x01);
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x01);
  u.input("ab");
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x04);
  EXPECT_EQ(u.in(LSR) & 1, 1);
  EXPECT_EQ(u.in(THR), 'a');
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(THR), 'b');
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.in(LSR) & 1, 0);
  EXPECT_EQ(u.in(THR), 0);  // empty FIFO reads 0
}

TEST(Serial, Out2GatesTheInterruptLine) {
  Uart u;
  u.outb(IER, 0x01);
  u.input("x");
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x04) << "pending internally";
  u.outb(MCR, 0x08);
  EXPECT_TRUE(u.irq->level());
}

TEST(Serial, ThrEmptyInterruptAsLinuxExpects) {
  Uart u;
  u.outb(MCR, 0x08);
  // Enabling THRI with an empty THR raises it; reading IIR acknowledges it.
  u.outb(IER, 0x02);
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x02);
  EXPECT_FALSE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x01);
  // Disabling and re-enabling raises it again (the 8250 driver's UART_BUG_THRE test).
  u.outb(IER, 0x00);
  u.outb(IER, 0x02);
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x02);
  // Each transmitted byte raises it again.
  u.outb(THR, 'z');
  EXPECT_TRUE(u.irq->level());
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x02);
}

TEST(Serial, InterruptPriorities) {
  Uart u;
  u.outb(MCR, 0x08);
  u.outb(IER, 0x03);
  u.input("q");
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x04) << "received data beats THR empty";
  u.in(THR);
  EXPECT_EQ(u.in(IIR) & 0x0f, 0x02);
}

TEST(Serial, FifoBitsIn16550AMode) {
  Uart u;
  EXPECT_EQ(u.in(IIR) & 0xc0, 0x00);
  u.outb(IIR, 0x07);  // FCR: enable and clear FIFOs
  EXPECT_EQ(u.in(IIR) & 0xc0, 0xc0);
  u.input("abc");
  u.outb(IIR, 0x03);  // clear RX
  EXPECT_EQ(u.in(LSR) & 1, 0);
}

TEST(Serial, Loopback) {
  Uart u;
  u.outb(MCR, 0x10 | 0x0a);  // loop, RTS, OUT2
  u.outb(THR, 0x42);
  EXPECT_TRUE(u.out.empty());
  EXPECT_EQ(u.in(LSR) & 1, 1);
  EXPECT_EQ(u.in(THR), 0x42);
  uint8_t msr = u.in(MSR);
  EXPECT_EQ(msr & 0xf0, 0x90);  // CTS (from RTS) and DCD (from OUT2)
  u.outb(MCR, 0x10);
  EXPECT_EQ(u.in(MSR) & 0xf0, 0x00);
  u.outb(MCR, 0x00);
  EXPECT_EQ(u.in(MSR) & 0xb0, 0xb0);  // a connected terminal outside loopback
}

TEST(Serial, InputBackPressure) {
  Uart u;
  EXPECT_EQ(u.s.input_room(), Serial::kInputCapacity);
  u.input(std::string(Serial::kInputCapacity + 10, 'x'));
  EXPECT_EQ(u.s.input_room(), 0u);
  u.in(THR);
  EXPECT_EQ(u.s.input_room(), 1u);
}

}  // namespace
}  // namespace vireo::devices
