// virtio-console behind the virtio-mmio transport, with its real I/O thread: what the
// guest transmits reaches take_output() in order, a full output buffer leaves chains in
// the queue until the console loop takes output, and input waits for receive buffers.
#include "virtio/console.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;

struct ConsoleFixture {
  ConsoleFixture() { t->attach_irq(irq); }
  void bring_up() {
    ASSERT_TRUE(regs.negotiate(feature::bit(feature::kVersion1)));
    regs.setup_queue(Console::kRxQueue, rx.size(), rx.desc_addr(), rx.avail_addr(), rx.used_addr());
    regs.setup_queue(Console::kTxQueue, tx.size(), tx.desc_addr(), tx.avail_addr(), tx.used_addr());
    regs.driver_ok();
    ASSERT_TRUE(t->active());
  }
  void send(const std::string& text) {
    const uint64_t a = rx.alloc(text.size());
    ASSERT_TRUE(rx.mem().write(a, std::span<const uint8_t>(
                                      reinterpret_cast<const uint8_t*>(text.data()), text.size())).ok());
    tx.add_chain({{a, static_cast<uint32_t>(text.size()), false}});
    regs.write(mmio::kQueueNotify, Console::kTxQueue);
  }
  std::string output() {
    std::string s;
    uint8_t buf[4096];
    size_t n;
    while ((n = dev->take_output(buf)) > 0) s.append(reinterpret_cast<char*>(buf), n);
    return s;
  }

  test::TestDriver rx{16, 0x400000};
  test::ExtraQueue tx{rx};
  std::atomic<int> wakes{0};
  std::shared_ptr<Console> dev = *Console::create([this] { wakes.fetch_add(1); });
  std::shared_ptr<MmioTransport> t = *MmioTransport::create(dev, rx.mem());
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs{*t};
};

TEST(VirtioConsole, GuestOutputReachesTheConsoleInOrder) {
  ConsoleFixture f;
  EXPECT_EQ(f.regs.read(mmio::kDeviceId), 3u);
  f.bring_up();
  f.send("hello ");
  f.send("from hvc0\n");
  ASSERT_TRUE(eventually([&] { return f.tx.used_idx() == 2; }));
  EXPECT_GE(f.wakes.load(), 1);
  EXPECT_EQ(f.output(), "hello from hvc0\n");
}

TEST(VirtioConsole, FullOutputHoldsChainsUntilTaken) {
  ConsoleFixture f;
  f.bring_up();
  const std::string block(Console::kOutputCapacity, 'x');
  f.send(block);  // fills the buffer
  ASSERT_TRUE(eventually([&] { return f.tx.used_idx() == 1; }));
  f.send("tail");
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(f.tx.used_idx(), 1) << "no room: the chain waits in the queue";
  std::string out = f.output();
  ASSERT_TRUE(eventually([&] { return f.tx.used_idx() == 2; })) << "taking output woke the device";
  ASSERT_TRUE(eventually([&] {
    out += f.output();
    return out.size() == block.size() + 4;
  }));
  EXPECT_EQ(out.substr(block.size()), "tail");
}

TEST(VirtioConsole, InputWaitsForReceiveBuffers) {
  ConsoleFixture f;
  f.bring_up();
  const std::string typed = "ls -l\n";
  EXPECT_EQ(f.dev->enqueue_input(std::span<const uint8_t>(
                reinterpret_cast<const uint8_t*>(typed.data()), typed.size())),
            typed.size());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(f.rx.used_idx(), 0);
  const uint64_t b = f.rx.alloc(64);
  f.rx.add_chain({{b, 64, true}});
  f.regs.write(mmio::kQueueNotify, Console::kRxQueue);
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 1; }));
  EXPECT_EQ(f.rx.used_elem(0).second, typed.size());
  std::string got(typed.size(), 0);
  ASSERT_TRUE(f.rx.mem().read(b, std::span<uint8_t>(reinterpret_cast<uint8_t*>(got.data()), got.size())).ok());
  EXPECT_EQ(got, typed);
}

TEST(VirtioConsole, InputIsBoundedAndRefusedInputWakesWhenThereIsRoom) {
  ConsoleFixture f;
  f.bring_up();
  const std::vector<uint8_t> lots(Console::kInputCapacity + 100, 'a');
  EXPECT_EQ(f.dev->enqueue_input(lots), Console::kInputCapacity);
  EXPECT_EQ(f.dev->input_room(), 0u);
  const int before = f.wakes.load();
  const uint64_t b = f.rx.alloc(512);
  f.rx.add_chain({{b, 512, true}});
  f.regs.write(mmio::kQueueNotify, Console::kRxQueue);
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 1; }));
  EXPECT_TRUE(eventually([&] { return f.wakes.load() > before; })) << "room appeared: wake";
  EXPECT_EQ(f.dev->input_room(), 512u);
}

TEST(VirtioConsole, HugeTransmitChainCostsNoMemory) {
  ConsoleFixture f;
  f.bring_up();
  // 3 MiB of guest memory in one chain: at most the buffer's capacity is kept.
  f.tx.add_chain({{0x100000, 0x300000, false}});
  f.regs.write(mmio::kQueueNotify, Console::kTxQueue);
  ASSERT_TRUE(eventually([&] { return f.tx.used_idx() == 1; }));
  EXPECT_EQ(f.output().size(), Console::kOutputCapacity);
  EXPECT_EQ(f.dev->output_dropped(), 0x300000u - Console::kOutputCapacity);
}

}  // namespace
}  // namespace vireo::virtio
