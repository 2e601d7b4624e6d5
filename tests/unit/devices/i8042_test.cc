#include "devices/legacy/i8042.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "fake_irq.h"

namespace vireo::devices {
namespace {

struct Kbc {
  int resets = 0;
  I8042 dev{[this] { ++resets; }};
  void cmd(uint8_t c) { dev.write(I8042::kStatusOffset, std::span<const uint8_t>(&c, 1)); }
  void data(uint8_t d) { dev.write(I8042::kDataOffset, std::span<const uint8_t>(&d, 1)); }
  uint8_t status() {
    uint8_t v;
    dev.read(I8042::kStatusOffset, std::span<uint8_t>(&v, 1));
    return v;
  }
  uint8_t read_data() {
    uint8_t v;
    dev.read(I8042::kDataOffset, std::span<uint8_t>(&v, 1));
    return v;
  }
  bool obf() { return status() & I8042::kStatusOutputFull; }
  // Linux's i8042_command: command, parameters, then wait for each answer (give up at
  // once here instead of after 0.5 s).
  bool command(uint8_t c, std::vector<uint8_t> params, std::vector<uint8_t>* answers,
               size_t n_answers, bool aux_loop = false) {
    if (status() & I8042::kStatusInputFull) return false;
    cmd(c);
    for (uint8_t p : params) {
      if (status() & I8042::kStatusInputFull) return false;
      data(p);
    }
    for (size_t i = 0; i < n_answers; ++i) {
      if (!obf()) return false;  // timeout
      if (aux_loop && !(status() & I8042::kStatusAuxData)) return false;  // auxerr
      answers->push_back(read_data());
    }
    return true;
  }
};

TEST(I8042, PulseResetCallsBack) {
  Kbc k;
  k.cmd(I8042::kCmdPulseReset);
  EXPECT_EQ(k.resets, 1);
  k.cmd(0xfe);
  EXPECT_EQ(k.resets, 2);
}

TEST(I8042, OnlyPulsesOfBitZeroReset) {
  Kbc k;
  for (int c = 0xf0; c <= 0xff; ++c) {
    int before = k.resets;
    k.cmd(static_cast<uint8_t>(c));
    EXPECT_EQ(k.resets - before, (c & 1) ? 0 : 1) << std::hex << c;
  }
}

TEST(I8042, OutputPortResetLine) {
  Kbc k;
  k.cmd(I8042::kCmdReadOutputPort);
  EXPECT_EQ(k.read_data() & 0x03, 0x03) << "reset inactive, A20 on";
  k.cmd(I8042::kCmdWriteOutputPort);
  k.data(0x01);  // reset line high: nothing; A20 off
  EXPECT_EQ(k.resets, 0);
  k.cmd(I8042::kCmdReadOutputPort);
  EXPECT_EQ(k.read_data(), 0x01);
  k.cmd(I8042::kCmdEnableA20);
  k.cmd(I8042::kCmdReadOutputPort);
  EXPECT_EQ(k.read_data(), 0x03);
  k.cmd(I8042::kCmdWriteOutputPort);
  k.data(0x02);
  EXPECT_EQ(k.resets, 1);
}

TEST(I8042, ResetCallbackRunsOutsideTheLock) {
  int status_in_callback = -1;
  std::unique_ptr<I8042> dev;
  dev = std::make_unique<I8042>([&] {
    uint8_t v;
    dev->read(I8042::kStatusOffset, std::span<uint8_t>(&v, 1));  // would deadlock inside
    status_in_callback = v;
  });
  const uint8_t c = 0xfe;
  dev->write(I8042::kStatusOffset, std::span<const uint8_t>(&c, 1));
  EXPECT_NE(status_in_callback, -1);
}

TEST(I8042, EmptyCallbackIsFine) {
  I8042 dev(nullptr);
  const uint8_t c = 0xfe;
  dev.write(I8042::kStatusOffset, std::span<const uint8_t>(&c, 1));
}

TEST(I8042, StatusRegister) {
  Kbc k;
  uint8_t s = k.status();
  EXPECT_EQ(s & I8042::kStatusOutputFull, 0);
  EXPECT_EQ(s & I8042::kStatusInputFull, 0);
  EXPECT_EQ(s & I8042::kStatusSystem, I8042::kStatusSystem);
  EXPECT_EQ(s & I8042::kStatusNotLocked, I8042::kStatusNotLocked) << "no keylock warning";
  EXPECT_EQ(s & 0xe0, 0) << "no aux data, timeout or parity error";
  k.cmd(I8042::kCmdDisableKbd);
  EXPECT_EQ(k.status() & I8042::kStatusCommand, I8042::kStatusCommand);
  k.data(0x00);
  EXPECT_EQ(k.status() & I8042::kStatusCommand, 0);
  // The system flag follows the command byte.
  k.cmd(I8042::kCmdWriteCommandByte);
  k.data(0x00);
  EXPECT_EQ(k.status() & I8042::kStatusSystem, 0);
}

TEST(I8042, SelfTestsAndCommandByte) {
  Kbc k;
  EXPECT_FALSE(k.obf());
  k.cmd(I8042::kCmdSelfTest);
  EXPECT_TRUE(k.obf());
  EXPECT_EQ(k.read_data(), 0x55);
  EXPECT_FALSE(k.obf());
  k.cmd(I8042::kCmdKbdInterfaceTest);
  EXPECT_EQ(k.read_data(), 0x00);
  k.cmd(I8042::kCmdReadCommandByte);
  EXPECT_EQ(k.read_data(), 0x45);
  k.cmd(I8042::kCmdWriteCommandByte);
  k.data(0x47);
  k.cmd(I8042::kCmdReadCommandByte);
  EXPECT_EQ(k.read_data(), 0x47);
  EXPECT_EQ(k.read_data(), 0x47) << "an empty buffer reads the last byte again";
  EXPECT_EQ(k.resets, 0);
}

TEST(I8042, PortEnablesFlipCommandByteBits) {
  Kbc k;
  auto ctr = [&] {
    k.cmd(I8042::kCmdReadCommandByte);
    return k.read_data();
  };
  k.cmd(I8042::kCmdDisableKbd);
  EXPECT_EQ(ctr() & 0x10, 0x10);
  k.cmd(I8042::kCmdEnableKbd);
  EXPECT_EQ(ctr() & 0x10, 0x00);
  k.cmd(I8042::kCmdDisableAux);
  EXPECT_EQ(ctr() & 0x20, 0x20);
  k.cmd(I8042::kCmdEnableAux);
  EXPECT_EQ(ctr() & 0x20, 0x00);
}

TEST(I8042, KeyboardOutputBufferWrite) {
  Kbc k;
  k.cmd(I8042::kCmdWriteKbdOutput);
  k.data(0x1c);
  EXPECT_TRUE(k.obf());
  EXPECT_EQ(k.status() & I8042::kStatusAuxData, 0);
  EXPECT_EQ(k.read_data(), 0x1c);
}

TEST(I8042, NoMouseIsAttached) {
  Kbc k;
  for (int c : {0xad, 0xae, 0xa7, 0xa8, 0xff, 0x00, 0x90, 0xc0}) k.cmd(static_cast<uint8_t>(c));
  k.cmd(I8042::kCmdWriteAux);
  k.data(0xf4);  // mouse enable: no mouse
  k.cmd(I8042::kCmdWriteAux);
  k.data(0xff);  // mouse reset
  EXPECT_EQ(k.resets, 0);
  EXPECT_FALSE(k.obf());
}

// What Linux's atkbd does (ps2_command: a byte to the keyboard, its answers by interrupt)
// to find the keyboard and turn it on; every answer raises IRQ 1 once.
struct KbcWithIrq : Kbc {
  std::shared_ptr<FakeIrq> irq = std::make_shared<FakeIrq>();
  I8042 dev2{nullptr, irq};
  void data2(uint8_t d) { dev2.write(I8042::kDataOffset, std::span<const uint8_t>(&d, 1)); }
  void cmd2(uint8_t c) { dev2.write(I8042::kStatusOffset, std::span<const uint8_t>(&c, 1)); }
  uint8_t read2() {
    uint8_t v;
    dev2.read(I8042::kDataOffset, std::span<uint8_t>(&v, 1));
    return v;
  }
  bool obf2() {
    uint8_t v;
    dev2.read(I8042::kStatusOffset, std::span<uint8_t>(&v, 1));
    return v & I8042::kStatusOutputFull;
  }
  // Everything the keyboard has said, as the interrupt handler would read it.
  std::vector<uint8_t> drain() {
    std::vector<uint8_t> got;
    while (obf2()) got.push_back(read2());
    return got;
  }
};

TEST(I8042, LinuxAtkbdFindsAndEnablesTheKeyboard) {
  KbcWithIrq k;
  using V = std::vector<uint8_t>;
  k.data2(0xf2);  // ATKBD_CMD_GETID (translated: the second ID byte reads 0x41)
  EXPECT_EQ(k.irq->rising_edges(), 1u);
  EXPECT_EQ(k.drain(), (V{0xfa, 0xab, 0x41}));
  EXPECT_EQ(k.irq->rising_edges(), 3u) << "one interrupt per byte";
  EXPECT_FALSE(k.irq->level());
  k.data2(0xf5);  // ATKBD_CMD_RESET_DIS
  k.data2(0xed);  // ATKBD_CMD_SETLEDS and its argument
  k.data2(0x00);
  k.data2(0xf3);  // ATKBD_CMD_SETREP and its argument
  k.data2(0x20);
  k.data2(0xf4);  // ATKBD_CMD_ENABLE
  EXPECT_EQ(k.drain(), (V{0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa}));
  k.data2(0xf0);  // which scancode set?
  k.data2(0x00);
  EXPECT_EQ(k.drain(), (V{0xfa, 0xfa, 0x02}));
  k.data2(0xff);  // reset: ACK, then the self-test result
  k.data2(0xee);  // echo
  EXPECT_EQ(k.drain(), (V{0xfa, 0xaa, 0xee}));
  // Untranslated, the identity is the keyboard's own.
  k.cmd2(I8042::kCmdWriteCommandByte);
  k.data2(0x05);
  k.data2(0xf2);
  EXPECT_EQ(k.drain(), (V{0xfa, 0xab, 0x83}));
}

TEST(I8042, CtrlAltDelIsTypedWhileTheKeyboardScans) {
  KbcWithIrq k;
  using V = std::vector<uint8_t>;
  ASSERT_TRUE(k.dev2.send_ctrl_alt_del());
  EXPECT_TRUE(k.irq->level());
  // Set 1 while translating: Ctrl, Alt, Del pressed, then released in reverse.
  EXPECT_EQ(k.drain(), (V{0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d}));
  EXPECT_EQ(k.irq->rising_edges(), 8u);
  // Set 2 otherwise.
  k.cmd2(I8042::kCmdWriteCommandByte);
  k.data2(0x05);
  ASSERT_TRUE(k.dev2.send_ctrl_alt_del());
  EXPECT_EQ(k.drain(), (V{0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14}));
  // A keyboard the guest disabled types nothing; a full buffer takes nothing.
  k.data2(0xf5);
  k.drain();
  EXPECT_FALSE(k.dev2.send_ctrl_alt_del());
  EXPECT_FALSE(k.obf2());
  k.data2(0xf4);
  k.drain();
  ASSERT_TRUE(k.dev2.send_ctrl_alt_del());
  EXPECT_FALSE(k.dev2.send_ctrl_alt_del()) << "16 bytes of buffer: 11 + 11 do not fit";
}

TEST(I8042, KeyboardInterruptFollowsTheCommandByte) {
  KbcWithIrq k;
  k.cmd2(I8042::kCmdWriteCommandByte);
  k.data2(0x44);  // keyboard interrupt off
  ASSERT_TRUE(k.dev2.send_ctrl_alt_del());
  EXPECT_FALSE(k.irq->level()) << "polled, not interrupting";
  EXPECT_TRUE(k.obf2());
  k.cmd2(I8042::kCmdWriteCommandByte);
  k.data2(0x45);  // on again: the waiting byte interrupts now
  EXPECT_TRUE(k.irq->level());
  // A controller answer neither interrupts nor loses the keyboard's byte.
  k.cmd2(I8042::kCmdSelfTest);
  EXPECT_FALSE(k.irq->level());
  EXPECT_EQ(k.read2(), 0x55);
  EXPECT_TRUE(k.irq->level());
  EXPECT_EQ(k.read2(), 0x1d) << "Ctrl comes back after the controller's answer";
}

TEST(I8042, GapPortsFloat) {
  Kbc k;
  for (uint64_t off = 1; off < 4; ++off) {
    uint8_t v = 0;
    k.dev.read(off, std::span<uint8_t>(&v, 1));
    EXPECT_EQ(v, 0xff);
    const uint8_t fe = 0xfe;
    k.dev.write(off, std::span<const uint8_t>(&fe, 1));
  }
  EXPECT_EQ(k.resets, 0);
}

// What Linux's i8042 driver does at probe (i8042_controller_check/selftest/init,
// i8042_check_aux): every step answers at once, and the aux port is found missing.
TEST(I8042, LinuxProbeFindsNoAuxPortWithoutWaiting) {
  Kbc k;
  // i8042_flush
  for (int i = 0; k.obf() && i < 16; ++i) k.read_data();
  ASSERT_FALSE(k.obf());
  // i8042_controller_selftest
  std::vector<uint8_t> a;
  ASSERT_TRUE(k.command(0xaa, {}, &a, 1));
  EXPECT_EQ(a.back(), 0x55);
  // i8042_controller_init: stable CTR reads, then write it back.
  ASSERT_TRUE(k.command(0x20, {}, &a, 1));
  ASSERT_TRUE(k.command(0x20, {}, &a, 1));
  uint8_t ctr = a.back();
  EXPECT_EQ(a[a.size() - 2], ctr);
  EXPECT_TRUE(k.status() & I8042::kStatusNotLocked);
  ctr = static_cast<uint8_t>((ctr | 0x10) & ~0x01);
  ASSERT_TRUE(k.command(0x60, {ctr}, &a, 0));
  // i8042_check_aux: flush, AUX_LOOP fails fast (auxerr), AUX_TEST reports an error.
  for (int i = 0; k.obf() && i < 16; ++i) k.read_data();
  std::vector<uint8_t> loop;
  EXPECT_FALSE(k.command(0xd3, {0x5a}, &loop, 1, /*aux_loop=*/true)) << "auxerr";
  EXPECT_TRUE(k.obf()) << "the answer came at once (no 0.5 s timeout)";
  std::vector<uint8_t> test;
  ASSERT_TRUE(k.command(0xa9, {}, &test, 1));
  EXPECT_TRUE(test[0] != 0 && test[0] != 0xfa && test[0] != 0xff) << "port judged absent";
  EXPECT_FALSE(k.obf());
  // Restore CTR with the aux port disabled; enable the keyboard port.
  ctr |= 0x20;
  ASSERT_TRUE(k.command(0x60, {ctr}, &a, 0));
  ctr = static_cast<uint8_t>((ctr & ~0x10) | 0x01);
  ASSERT_TRUE(k.command(0x60, {ctr}, &a, 0));
  ASSERT_TRUE(k.command(0x20, {}, &a, 1));
  EXPECT_EQ(a.back(), ctr);
  EXPECT_EQ(ctr, 0x65);
  EXPECT_EQ(k.resets, 0);
}

// reboot=k: Linux waits for an empty input buffer, then writes 0xfe, up to 10 times.
TEST(I8042, LinuxKeyboardReboot) {
  Kbc k;
  for (int i = 0; i < 10; ++i) {
    for (int spin = 0; (k.status() & I8042::kStatusInputFull) && spin < 0x10000; ++spin) {}
    ASSERT_EQ(k.status() & I8042::kStatusInputFull, 0);
    k.cmd(0xfe);
  }
  EXPECT_EQ(k.resets, 10) << "each pulse calls back; the VMM stops at the first";
}

}  // namespace
}  // namespace vireo::devices
