// virtio-balloon behind the virtio-mmio transport, with its real I/O thread, over a small
// real guest memory (a memfd, as in a VM): inflated pages and reported free runs are
// given back to the host (they read as zeros afterwards, their neighbours keep their
// data), the statistics buffer is held and returned on request, queue numbering follows
// the negotiated features, and a hostile driver cannot reach outside guest RAM.
#include "virtio/balloon.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);
constexpr uint64_t kStats = feature::bit(balloon::kStatsVq);
constexpr uint64_t kReporting = feature::bit(balloon::kPageReporting);
constexpr uint64_t kPage = 4096;
constexpr uint64_t kMem = 0x800000;  // 8 MiB

struct BalloonFixture {
  explicit BalloonFixture(BalloonOptions o = {.target_bytes = 1 << 20, .stats_seconds = 0})
      : dev(std::make_shared<Balloon>(o)), t(*MmioTransport::create(dev, inflate.mem())),
        regs(*t) {
    t->attach_irq(irq);
  }
  // Queues: inflate, deflate, then `third` (stats or reporting), then `fourth`.
  void bring_up(uint64_t features = kVersion1) {
    ASSERT_TRUE(regs.negotiate(features));
    regs.setup_queue(0, inflate.size(), inflate.desc_addr(), inflate.avail_addr(), inflate.used_addr());
    regs.setup_queue(1, deflate.size(), deflate.desc_addr(), deflate.avail_addr(), deflate.used_addr());
    regs.setup_queue(2, third.size(), third.desc_addr(), third.avail_addr(), third.used_addr());
    regs.setup_queue(3, fourth.size(), fourth.desc_addr(), fourth.avail_addr(), fourth.used_addr());
    regs.driver_ok();
    ASSERT_TRUE(t->active());
  }
  void kick(uint32_t q) { regs.write(mmio::kQueueNotify, q); }
  void fill(uint64_t gpa, uint64_t len, uint8_t value) {
    std::vector<uint8_t> v(len, value);
    ASSERT_TRUE(inflate.mem().write(gpa, v).ok());
  }
  bool all(uint64_t gpa, uint64_t len, uint8_t value) {
    std::vector<uint8_t> v(len);
    EXPECT_TRUE(inflate.mem().read(gpa, v).ok());
    return std::all_of(v.begin(), v.end(), [&](uint8_t b) { return b == value; });
  }
  // A buffer holding `pfns` as le32, for the inflate or deflate queue.
  uint64_t pfn_array(const std::vector<uint32_t>& pfns) {
    const uint64_t a = inflate.alloc(4 * pfns.size(), 4);
    EXPECT_TRUE(inflate.mem()
                    .write(a, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pfns.data()),
                                                       4 * pfns.size()))
                    .ok());
    return a;
  }

  test::TestDriver inflate{16, kMem};
  test::ExtraQueue deflate{inflate};
  test::ExtraQueue third{inflate};
  test::ExtraQueue fourth{inflate};
  std::shared_ptr<Balloon> dev;
  std::shared_ptr<MmioTransport> t;
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs;
};

TEST(VirtioBalloon, OffersWhatItShould) {
  Balloon plain({.target_bytes = 0});
  EXPECT_EQ(plain.device_type(), 5u);
  EXPECT_TRUE(plain.offered_features() & kVersion1);
  EXPECT_TRUE(plain.offered_features() & kReporting);
  EXPECT_FALSE(plain.offered_features() & kStats);
  EXPECT_FALSE(plain.offered_features() & feature::bit(balloon::kDeflateOnOom));
  Balloon full({.target_bytes = 0, .deflate_on_oom = true, .stats_seconds = 5});
  EXPECT_TRUE(full.offered_features() & kStats);
  EXPECT_TRUE(full.offered_features() & feature::bit(balloon::kDeflateOnOom));
}

TEST(VirtioBalloon, ConfigHasTheTargetAndTakesActual) {
  BalloonFixture f;
  EXPECT_EQ(f.regs.read(mmio::kConfig), 256u);  // 1 MiB in 4 KiB pages
  f.regs.write(mmio::kConfig + 4, 100);
  EXPECT_EQ(f.dev->actual_pages(), 100u);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 4), 100u);
  f.regs.write(mmio::kConfig, 7);  // num_pages is the device's
  EXPECT_EQ(f.regs.read(mmio::kConfig), 256u);
  f.bring_up();
  const uint64_t before = f.irq->triggers.load();
  f.dev->set_target(2 << 20);
  EXPECT_EQ(f.regs.read(mmio::kConfig), 512u);
  EXPECT_GT(f.irq->triggers.load(), before) << "a new target is a configuration interrupt";
}

// PATCH /balloon/statistics: the interval changes; statistics cannot be switched on or off.
TEST(VirtioBalloon, StatisticsIntervalChangesButStaysOnOrOff) {
  Balloon with({.target_bytes = 1 << 20, .stats_seconds = 1});
  EXPECT_TRUE(with.set_stats_interval(5).ok());
  EXPECT_EQ(with.stats_seconds(), 5u);
  auto off = with.set_stats_interval(0);
  ASSERT_FALSE(off.ok());
  EXPECT_EQ(off.error().message(), "Cannot enable/disable the statistics after boot.");
  EXPECT_EQ(with.stats_seconds(), 5u);
  Balloon without({.target_bytes = 1 << 20});
  EXPECT_FALSE(without.set_stats_interval(1).ok());
  EXPECT_TRUE(without.set_stats_interval(0).ok());
  EXPECT_FALSE(without.offered_features() & feature::bit(balloon::kStatsVq));
}

TEST(VirtioBalloon, InflatedPagesGoBackToTheHost) {
  BalloonFixture f;
  f.bring_up();
  const uint64_t base = 0x400000;
  f.fill(base, 8 * kPage, 0xab);
  // Pages 1-3 (one run), 5, and one outside RAM; 0, 4, 6, 7 stay.
  const uint32_t p = base / kPage;
  const uint64_t arr = f.pfn_array({p + 1, p + 2, p + 3, p + 5, 0x100000});
  f.inflate.add_chain({{arr, 20, false}});
  f.kick(0);
  ASSERT_TRUE(eventually([&] { return f.inflate.used_idx() == 1; }));
  EXPECT_TRUE(f.all(base, kPage, 0xab));
  EXPECT_TRUE(f.all(base + kPage, 3 * kPage, 0));
  EXPECT_TRUE(f.all(base + 4 * kPage, kPage, 0xab));
  EXPECT_TRUE(f.all(base + 5 * kPage, kPage, 0));
  EXPECT_TRUE(f.all(base + 6 * kPage, 2 * kPage, 0xab));
  const auto c = f.dev->counters();
  EXPECT_EQ(c.inflated_pages, 5u);
  EXPECT_EQ(c.bad_pages, 1u);
  EXPECT_FALSE(f.t->status() & status::kDeviceNeedsReset) << "a bad page number fails alone";
}

TEST(VirtioBalloon, DeflateIsCountedAndReturned) {
  BalloonFixture f;
  f.bring_up();
  const uint64_t arr = f.pfn_array({1, 2, 3});
  f.deflate.add_chain({{arr, 12, false}});
  f.kick(1);
  ASSERT_TRUE(eventually([&] { return f.deflate.used_idx() == 1; }));
  EXPECT_EQ(f.dev->counters().deflated_pages, 3u);
}

TEST(VirtioBalloon, StatisticsBufferIsHeldUntilTheDeviceAsks) {
  BalloonFixture f({.target_bytes = 0, .stats_seconds = 3600});
  f.bring_up(kVersion1 | kStats);
  struct __attribute__((packed)) Stat {
    uint16_t tag;
    uint64_t val;
  } stats[2] = {{balloon::kStatFreeMemory, 12345}, {balloon::kStatTotalMemory, 99999}};
  const uint64_t buf = f.inflate.alloc(sizeof stats);
  ASSERT_TRUE(f.inflate.mem()
                  .write(buf, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(stats), sizeof stats))
                  .ok());
  f.third.add_chain({{buf, sizeof stats, false}});
  f.kick(2);
  ASSERT_TRUE(eventually([&] { return f.dev->counters().stats_updates == 1; }));
  EXPECT_EQ(f.third.used_idx(), 0) << "the device keeps the buffer";
  EXPECT_EQ(f.dev->stats().at(balloon::kStatFreeMemory), 12345u);
  EXPECT_EQ(f.dev->stats().at(balloon::kStatTotalMemory), 99999u);
  f.dev->pause();  // request_stats() runs on this thread now
  f.dev->request_stats();
  EXPECT_EQ(f.third.used_idx(), 1) << "asking for statistics returns the buffer";
  f.dev->request_stats();
  EXPECT_EQ(f.third.used_idx(), 1) << "nothing held, nothing returned";
  f.dev->resume();
}

TEST(VirtioBalloon, StatisticsAreAskedForPeriodically) {
  BalloonFixture f({.target_bytes = 0, .stats_seconds = 1});
  f.bring_up(kVersion1 | kStats);
  const uint64_t buf = f.inflate.alloc(10);
  f.third.add_chain({{buf, 10, false}});
  f.kick(2);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_TRUE(eventually([&] { return f.third.used_idx() == 1; }))
      << "the timer gives the buffer back after a second";
}

TEST(VirtioBalloon, ReportingQueueNumberFollowsTheFeatures) {
  // Without the statistics queue, reporting is queue 2; with it, queue 3.
  for (bool with_stats : {false, true}) {
    BalloonFixture f({.target_bytes = 0, .stats_seconds = 60});
    f.bring_up(kVersion1 | kReporting | (with_stats ? kStats : 0));
    test::ExtraQueue& reporting = with_stats ? f.fourth : f.third;
    const uint64_t base = 0x600000;
    f.fill(base, 4 * kPage, 0xcd);
    // A run that starts and ends mid-page: only the whole pages inside it go.
    reporting.add_chain({{base + 100, static_cast<uint32_t>(3 * kPage), true}});
    f.kick(with_stats ? 3 : 2);
    ASSERT_TRUE(eventually([&] { return reporting.used_idx() == 1; })) << with_stats;
    EXPECT_TRUE(f.all(base, kPage, 0xcd)) << with_stats;
    EXPECT_TRUE(f.all(base + kPage, 2 * kPage, 0)) << with_stats;
    EXPECT_TRUE(f.all(base + 3 * kPage, kPage, 0xcd)) << with_stats;
    EXPECT_EQ(f.dev->counters().reported_bytes, 2 * kPage);
  }
}

TEST(VirtioBalloon, HugeInflateRequestIsCapped) {
  BalloonFixture f;
  f.bring_up();
  // 64 KiB of page numbers (16384), all of page 0x500: only the first 4096 are taken.
  std::vector<uint32_t> pfns(16384, 0x500);
  const uint64_t arr = f.pfn_array(pfns);
  f.inflate.add_chain({{arr, static_cast<uint32_t>(4 * pfns.size()), false}});
  f.kick(0);
  ASSERT_TRUE(eventually([&] { return f.inflate.used_idx() == 1; }));
  EXPECT_EQ(f.dev->counters().inflated_pages, 4096u);
}

TEST(VirtioBalloon, BrokenQueueNeedsReset) {
  BalloonFixture f;
  f.bring_up();
  // A descriptor that loops on itself.
  f.inflate.write_desc(0, 0x1000, 4, split::kDescNext, 0);
  f.inflate.make_available(0);
  f.kick(0);
  ASSERT_TRUE(eventually([&] { return (f.t->status() & status::kDeviceNeedsReset) != 0; }));
}

TEST(VirtioBalloon, SaveRestoreKeepsTargetActualAndTheHeldBuffer) {
  BalloonFixture f({.target_bytes = 1 << 20, .stats_seconds = 3600});
  f.bring_up(kVersion1 | kStats);
  const uint64_t buf = f.inflate.alloc(10);
  f.third.add_chain({{buf, 10, false}});
  f.kick(2);
  ASSERT_TRUE(eventually([&] { return f.dev->counters().stats_updates == 1; }));
  f.regs.write(mmio::kConfig + 4, 42);
  f.dev->set_target(3 << 20);
  f.t->pause();
  const auto saved = f.t->save();
  f.t->resume();

  // Back to power-on, then the saved state again (same guest memory, as in a restore).
  // The target is the host's setting, not the driver's: the latest one survives a reset
  // (a guest reboot keeps what PATCH /balloon asked for).
  f.t->reset();
  EXPECT_EQ(f.dev->target_pages(), 768u);
  EXPECT_EQ(f.dev->actual_pages(), 0u);
  ASSERT_TRUE(f.t->restore(saved).ok());
  EXPECT_EQ(f.dev->target_pages(), 768u);
  EXPECT_EQ(f.dev->actual_pages(), 42u);
  EXPECT_TRUE(f.t->active());
  f.t->pause();
  EXPECT_EQ(f.t->save(), saved);
  f.dev->request_stats();
  EXPECT_EQ(f.third.used_idx(), 1) << "the held buffer came along";
  EXPECT_FALSE(Balloon({}).restore({2, {}}).ok());
}

}  // namespace
}  // namespace vireo::virtio
