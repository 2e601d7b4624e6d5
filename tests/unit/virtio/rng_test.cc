// virtio-rng behind the virtio-mmio transport, with its real I/O thread, over a small
// real guest memory: requests filled, many in flight, the per-request cap, interrupts,
// and a hostile driver (loops, buffers outside RAM) that gets DEVICE_NEEDS_RESET and
// can reset and go on.
#include "virtio/rng.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);

struct RngFixture {
  RngFixture() { t->attach_irq(irq); }
  void bring_up(uint64_t features = kVersion1) {
    ASSERT_TRUE(regs.negotiate(features));
    regs.setup_queue(0, drv.size(), drv.desc_addr(), drv.avail_addr(), drv.used_addr());
    regs.driver_ok();
    ASSERT_TRUE(t->active());
  }
  void kick() { regs.write(mmio::kQueueNotify, 0); }
  bool used_reaches(uint16_t n) {
    return eventually([&] { return drv.used_idx() == n; });
  }
  std::vector<uint8_t> bytes(uint64_t addr, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_TRUE(drv.mem().read(addr, v).ok());
    return v;
  }

  test::TestDriver drv{16, 0x400000};
  std::shared_ptr<Rng> rng = std::make_shared<Rng>();
  std::shared_ptr<MmioTransport> t = *MmioTransport::create(rng, drv.mem());
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs{*t};
};

bool all_zero(const std::vector<uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

TEST(VirtioRng, OffersWhatItShould) {
  Rng rng;
  EXPECT_EQ(rng.device_type(), 4u);
  EXPECT_TRUE(rng.offered_features() & kVersion1);
  EXPECT_EQ(rng.queue_max_sizes(), std::vector<uint16_t>{Rng::kQueueSize});
}

TEST(VirtioRng, FillsWritableBuffers) {
  RngFixture f;
  f.bring_up();
  const uint64_t a = f.drv.alloc(4096), b = f.drv.alloc(100);
  f.drv.add_chain({{a, 4096, true}});
  f.drv.add_chain({{b, 60, true}, {b + 60, 40, true}});
  f.kick();
  ASSERT_TRUE(f.used_reaches(2));
  EXPECT_EQ(f.drv.used_elem(0), (std::pair<uint32_t, uint32_t>{0, 4096}));
  EXPECT_EQ(f.drv.used_elem(1), (std::pair<uint32_t, uint32_t>{1, 100}));
  EXPECT_FALSE(all_zero(f.bytes(a, 4096)));
  EXPECT_NE(f.bytes(a, 100), f.bytes(b, 100));
  EXPECT_TRUE(eventually([&] { return f.irq->triggers.load() >= 1; }));
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus), mmio::kInterruptUsedBuffer);
  EXPECT_EQ(f.rng->requests(), 2u);
}

TEST(VirtioRng, ManyInFlightAndIndirect) {
  RngFixture f;
  f.bring_up(kVersion1 | feature::bit(feature::kIndirectDesc) | feature::bit(feature::kEventIdx));
  uint16_t made = 0;
  for (int round = 0; round < 20; ++round) {
    const uint16_t before = f.drv.avail_idx();
    for (int i = 0; i < 8; ++i, ++made) {
      const uint64_t at = f.drv.alloc(64);
      if (i % 2) {
        f.drv.add_chain({{at, 64, true}});
      } else {
        f.drv.add_indirect({{at, 32, true}, {at + 32, 32, true}});
      }
    }
    // Kick only when a real driver would: the device must keep avail_event moving.
    ASSERT_TRUE(f.drv.would_kick(before, true)) << "round " << round;
    f.kick();
    ASSERT_TRUE(f.used_reaches(made)) << "round " << round;
    f.drv.set_used_event(made - 1);  // EVENT_IDX: interrupt for each batch
  }
  EXPECT_EQ(f.rng->bytes(), uint64_t{made} * 64);
}

TEST(VirtioRng, OneRequestGetsAtMostTheCap) {
  RngFixture f;
  f.bring_up();
  const uint64_t big = f.drv.alloc(2 * Rng::kMaxBytesPerRequest);
  f.drv.add_chain({{big, Rng::kMaxBytesPerRequest, true}, {big + Rng::kMaxBytesPerRequest, Rng::kMaxBytesPerRequest, true}});
  f.kick();
  ASSERT_TRUE(f.used_reaches(1));
  EXPECT_EQ(f.drv.used_elem(0).second, Rng::kMaxBytesPerRequest);
}

TEST(VirtioRng, ReadableBuffersAreNotWritten) {
  RngFixture f;
  f.bring_up();
  const uint64_t a = f.drv.alloc(64);
  f.drv.add_chain({{a, 64, false}});
  f.kick();
  ASSERT_TRUE(f.used_reaches(1));
  EXPECT_EQ(f.drv.used_elem(0).second, 0u);
  EXPECT_TRUE(all_zero(f.bytes(a, 64)));
}

TEST(VirtioRng, KicksBeforeDriverOkAreServedAfter) {
  RngFixture f;
  ASSERT_TRUE(f.regs.negotiate(kVersion1));
  f.regs.setup_queue(0, f.drv.size(), f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
  const uint64_t a = f.drv.alloc(16);
  f.drv.add_chain({{a, 16, true}});
  f.kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(f.drv.used_idx(), 0) << "nothing before DRIVER_OK";
  f.regs.driver_ok();
  EXPECT_TRUE(f.used_reaches(1));
}

TEST(VirtioRng, HostileChainsNeedResetAndTheDriverCanRecover) {
  struct Case {
    const char* what;
    std::function<void(test::TestDriver&)> make;
  };
  const std::vector<Case> cases = {
      {"descriptor loop",
       [](test::TestDriver& d) {
         d.write_desc(0, d.alloc(16), 16, split::kDescNext | split::kDescWrite, 1);
         d.write_desc(1, d.alloc(16), 16, split::kDescNext | split::kDescWrite, 0);
         d.make_available(0);
       }},
      {"buffer past the end of RAM",
       [](test::TestDriver& d) { d.add_chain({{0x3ff000, 0x2000, true}}); }},
      {"huge length", [](test::TestDriver& d) { d.add_chain({{0x10000, 0xffffffff, true}}); }},
      {"head out of range", [](test::TestDriver& d) { d.make_available(999); }},
      {"available index jumps",
       [](test::TestDriver& d) { d.set_avail_idx(1000); }},
  };
  for (const auto& c : cases) {
    RngFixture f;
    f.bring_up();
    c.make(f.drv);
    f.kick();
    ASSERT_TRUE(eventually([&] { return (f.regs.status() & status::kDeviceNeedsReset) != 0; }))
        << c.what;
    EXPECT_TRUE(eventually([&] { return f.irq->triggers.load() >= 1; })) << c.what;
    EXPECT_NE(f.regs.read(mmio::kInterruptStatus) & mmio::kInterruptConfigChange, 0u) << c.what;
    // A second kick does nothing more.
    f.kick();
    // The driver resets and starts over with fresh rings.
    f.regs.write(mmio::kStatus, 0);
    EXPECT_EQ(f.regs.status(), 0u) << c.what;
    ASSERT_TRUE(f.regs.negotiate(kVersion1));
    // Clear the rings the hostile chain left behind.
    std::vector<uint8_t> zeros(0x1000, 0);
    ASSERT_TRUE(f.drv.mem().write(f.drv.desc_addr(), zeros).ok());
    test::TestDriver& d = f.drv;
    d.set_avail_idx(0);
    f.regs.setup_queue(0, d.size(), d.desc_addr(), d.avail_addr(), d.used_addr());
    f.regs.driver_ok();
    const uint64_t a = d.alloc(32);
    d.write_desc(5, a, 32, split::kDescWrite, 0);
    d.make_available(5);
    f.kick();
    EXPECT_TRUE(f.used_reaches(1)) << c.what;
    EXPECT_EQ(f.regs.status() & status::kDeviceNeedsReset, 0u) << c.what;
  }
}

TEST(VirtioRng, ResetDuringOutstandingRequests) {
  RngFixture f;
  f.bring_up();
  for (int round = 0; round < 50; ++round) {
    const uint64_t a = f.drv.alloc(64);
    f.drv.add_chain({{a, 64, true}});
    f.kick();
    f.regs.write(mmio::kStatus, 0);  // maybe before, maybe after the thread served it
    EXPECT_FALSE(f.t->active());
    f.drv.set_avail_idx(0);
    std::vector<uint8_t> zeros(split::used_bytes(16), 0);
    ASSERT_TRUE(f.drv.mem().write(f.drv.used_addr(), zeros).ok());
    f.bring_up();
  }
}

TEST(VirtioRng, PauseStopsServingAndResumeGoesOn) {
  RngFixture f;
  f.bring_up();
  f.t->pause();
  const uint64_t a = f.drv.alloc(16);
  f.drv.add_chain({{a, 16, true}});
  f.kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(f.drv.used_idx(), 0) << "paused: guest memory unchanged";
  f.t->resume();
  EXPECT_TRUE(f.used_reaches(1));
}

}  // namespace
}  // namespace vireo::virtio
