// The virtio-mmio transport against a driver that follows the protocol and one that
// does not: registers, feature negotiation in and out of order, queue setup, DRIVER_OK,
// DEVICE_NEEDS_RESET, reset while running, kicks, save/restore.
#include "virtio/mmio_transport.h"

#include <gtest/gtest.h>

#include "fake_virtio_device.h"
#include "test_driver.h"

namespace vireo::virtio {
namespace {

using test::FakeVirtioDevice;
using test::MmioDriver;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);

struct Fixture {
  Fixture() { t->attach_irq(irq); }
  // Queue 0 laid out by the TestDriver (16 entries), queue 1 left disabled.
  void bring_up(uint64_t features = kVersion1) {
    ASSERT_TRUE(regs.negotiate(features));
    regs.setup_queue(0, drv.size(), drv.desc_addr(), drv.avail_addr(), drv.used_addr());
    regs.driver_ok();
  }
  test::TestDriver drv{16};
  std::shared_ptr<FakeVirtioDevice> dev = std::make_shared<FakeVirtioDevice>();
  std::shared_ptr<MmioTransport> t = *MmioTransport::create(dev, drv.mem());
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  MmioDriver regs{*t};
};

TEST(MmioTransport, IdentifiesItself) {
  Fixture f;
  EXPECT_EQ(f.regs.read(mmio::kMagicValue), 0x74726976u);
  EXPECT_EQ(f.regs.read(mmio::kVersion), 2u);
  EXPECT_EQ(f.regs.read(mmio::kDeviceId), FakeVirtioDevice::kType);
  EXPECT_EQ(f.regs.read(mmio::kDeviceFeatures), 0x2000'0002u);  // EVENT_IDX, feature A
  f.regs.write(mmio::kDeviceFeaturesSel, 1);
  EXPECT_EQ(f.regs.read(mmio::kDeviceFeatures), 1u);  // VERSION_1
  f.regs.write(mmio::kDeviceFeaturesSel, 2);
  EXPECT_EQ(f.regs.read(mmio::kDeviceFeatures), 0u);
  f.regs.write(mmio::kQueueSel, 1);
  EXPECT_EQ(f.regs.read(mmio::kQueueNumMax), 32u);
  f.regs.write(mmio::kQueueSel, 2);
  EXPECT_EQ(f.regs.read(mmio::kQueueNumMax), 0u) << "no such queue";
  EXPECT_EQ(f.regs.read(mmio::kShmLenLow), 0xffffffffu) << "no shared memory";
  EXPECT_EQ(f.t->name(), "virtio-fake");
}

TEST(MmioTransport, NarrowOrMisalignedRegisterAccessesAreIgnored) {
  Fixture f;
  uint8_t b[2] = {0xff, 0xff};
  f.t->read(mmio::kMagicValue, std::span<uint8_t>(b, 2));
  EXPECT_EQ(b[0], 0);
  const uint8_t one = status::kAcknowledge;
  f.t->write(mmio::kStatus, std::span<const uint8_t>(&one, 1));
  EXPECT_EQ(f.regs.status(), 0u);
  EXPECT_EQ(f.regs.read(mmio::kMagicValue + 2), 0u);
}

TEST(MmioTransport, ConfigSpaceAnyWidthInsideOnly) {
  Fixture f;
  f.dev->config[3] = 0xab;
  uint8_t b = 0;
  f.t->read(mmio::kConfig + 3, std::span<uint8_t>(&b, 1));
  EXPECT_EQ(b, 0xab);
  uint64_t q = ~uint64_t{0};
  f.t->read(mmio::kConfig + 4, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&q), 8));
  EXPECT_EQ(q, 0u) << "a read past the end of the 8-byte space reads zeros";
  const uint16_t w = 0x1234;
  f.t->write(mmio::kConfig + 6, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&w), 2));
  EXPECT_EQ(f.dev->config[6], 0x34);
  f.t->write(mmio::kConfig + 7, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&w), 2));
  EXPECT_EQ(f.dev->config[7], 0x12) << "a write past the end changes nothing";
}

TEST(MmioTransport, FeatureNegotiation) {
  Fixture f;
  EXPECT_TRUE(f.regs.negotiate(kVersion1 | feature::bit(feature::kEventIdx)));
  EXPECT_FALSE(f.regs.negotiate(0)) << "legacy drivers (no VERSION_1) are refused";
  EXPECT_FALSE(f.regs.negotiate(kVersion1 | feature::bit(feature::kRingPacked)))
      << "a feature not offered";
}

TEST(MmioTransport, FeaturesOutOfOrderAreIgnored) {
  Fixture f;
  // Before DRIVER: the write is dropped, so FEATURES_OK is refused.
  f.regs.write(mmio::kDriverFeaturesSel, 1);
  f.regs.write(mmio::kDriverFeatures, 1);
  f.regs.write(mmio::kStatus, status::kAcknowledge);
  f.regs.write(mmio::kStatus, status::kAcknowledge | status::kDriver);
  f.regs.write(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kFeaturesOk);
  EXPECT_EQ(f.regs.status() & status::kFeaturesOk, 0u);
  // After FEATURES_OK the features are fixed.
  ASSERT_TRUE(f.regs.negotiate(kVersion1));
  f.regs.write(mmio::kDriverFeaturesSel, 0);
  f.regs.write(mmio::kDriverFeatures, 1u << 29);
  f.regs.setup_queue(0, f.drv.size(), f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
  f.regs.driver_ok();
  ASSERT_TRUE(f.dev->active);
  EXPECT_EQ(f.dev->last.features, kVersion1);
  // Status bits are only ever added: clearing one is ignored.
  f.regs.write(mmio::kStatus, status::kAcknowledge);
  EXPECT_NE(f.regs.status() & status::kDriverOk, 0u);
}

TEST(MmioTransport, DriverOkActivatesWithTheQueues) {
  Fixture f;
  f.bring_up(kVersion1 | feature::bit(feature::kEventIdx));
  ASSERT_TRUE(f.dev->active);
  EXPECT_EQ(f.dev->activations, 1);
  ASSERT_EQ(f.dev->last.queues.size(), 2u);
  const auto& q0 = f.dev->last.queues[0].state();
  EXPECT_TRUE(q0.ready);
  EXPECT_TRUE(q0.event_idx);
  EXPECT_EQ(q0.size, 16);
  EXPECT_EQ(q0.desc, f.drv.desc_addr());
  EXPECT_FALSE(f.dev->last.queues[1].state().ready);
  EXPECT_EQ(f.dev->last.kicks.size(), 2u);
  EXPECT_EQ(f.dev->last.mem, &f.drv.mem());
  EXPECT_TRUE(f.t->active());
  // Queue registers are frozen while the device runs.
  f.regs.write(mmio::kQueueSel, 0);
  f.regs.write(mmio::kQueueDescLow, 0x5000);
  EXPECT_EQ(f.dev->last.queues[0].state().desc, f.drv.desc_addr());
}

TEST(MmioTransport, DriverOkBeforeFeaturesOkNeedsReset) {
  Fixture f;
  f.regs.write(mmio::kStatus, status::kAcknowledge | status::kDriver);
  f.regs.write(mmio::kStatus, status::kAcknowledge | status::kDriver | status::kDriverOk);
  EXPECT_FALSE(f.dev->active);
  EXPECT_NE(f.regs.status() & status::kDeviceNeedsReset, 0u);
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus), mmio::kInterruptConfigChange);
  EXPECT_EQ(f.irq->triggers.load(), 1u);
  // The driver's reset clears it all.
  f.regs.write(mmio::kStatus, 0);
  EXPECT_EQ(f.regs.status(), 0u);
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus), 0u);
}

TEST(MmioTransport, BadQueueSetupNeedsResetAtDriverOk) {
  struct Bad {
    const char* what;
    uint16_t size;
    uint64_t desc;
  };
  for (const Bad& bad : {Bad{"size not a power of two", 12, 0x1000},
                         Bad{"size above the maximum", 64, 0x1000},
                         Bad{"size zero", 0, 0x1000},
                         Bad{"table outside RAM", 16, 0xffff'ffff'0000},
                         Bad{"misaligned table", 16, 0x1001}}) {
    Fixture f;
    ASSERT_TRUE(f.regs.negotiate(kVersion1));
    f.regs.setup_queue(0, bad.size, bad.desc, f.drv.avail_addr(), f.drv.used_addr());
    f.regs.driver_ok();
    EXPECT_FALSE(f.dev->active) << bad.what;
    EXPECT_NE(f.regs.status() & status::kDeviceNeedsReset, 0u) << bad.what;
  }
}

TEST(MmioTransport, QueueNumAbove16BitsIsInvalid) {
  Fixture f;
  ASSERT_TRUE(f.regs.negotiate(kVersion1));
  f.regs.setup_queue(0, 16, f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
  f.regs.write(mmio::kQueueReady, 0);
  f.regs.write(mmio::kQueueNum, 0x10010);
  f.regs.write(mmio::kQueueReady, 1);
  f.regs.driver_ok();
  EXPECT_FALSE(f.dev->active);
}

TEST(MmioTransport, FailedActivationNeedsReset) {
  Fixture f;
  f.dev->fail_activation = true;
  f.bring_up();
  EXPECT_FALSE(f.t->active());
  EXPECT_NE(f.regs.status() & status::kDeviceNeedsReset, 0u);
}

TEST(MmioTransport, ResetWhileRunningStopsTheDevice) {
  Fixture f;
  f.bring_up();
  ASSERT_TRUE(f.dev->active);
  f.regs.write(mmio::kStatus, 0);
  EXPECT_FALSE(f.dev->active);
  EXPECT_FALSE(f.t->active());
  f.regs.write(mmio::kQueueSel, 0);
  EXPECT_EQ(f.regs.read(mmio::kQueueReady), 0u);
  // And it comes up again.
  f.bring_up();
  EXPECT_EQ(f.dev->activations, 2);
}

TEST(MmioTransport, QueueNotifySignalsTheKick) {
  Fixture f;
  f.regs.write(mmio::kQueueNotify, 1);
  f.regs.write(mmio::kQueueNotify, 1);
  f.regs.write(mmio::kQueueNotify, 7);  // no such queue: ignored
  EXPECT_EQ(f.t->kick(1).drain(), 2u);
  EXPECT_EQ(f.t->kick(0).drain(), 0u);
}

TEST(MmioTransport, QueuesServedOnTheVcpuAreNotifiedInline) {
  Fixture f;
  f.dev->vcpu_queue = 1;
  f.regs.write(mmio::kQueueNotify, 1);
  EXPECT_TRUE(f.dev->vcpu_notified.empty()) << "not before DRIVER_OK";
  f.bring_up();
  f.regs.write(mmio::kQueueNotify, 1);
  f.regs.write(mmio::kQueueNotify, 0);
  EXPECT_EQ(f.dev->vcpu_notified, std::vector<uint16_t>{1});
  EXPECT_EQ(f.t->kick(1).drain(), 0u) << "no kick for it";
  EXPECT_EQ(f.t->kick(0).drain(), 1u) << "the other queue is kicked as usual";
}

TEST(MmioTransport, InterruptsFromTheDevice) {
  Fixture f;
  f.bring_up();
  Interrupts* irq = f.dev->last.interrupts;
  irq->used_buffers(0);
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus), mmio::kInterruptUsedBuffer);
  EXPECT_EQ(f.irq->triggers.load(), 1u);
  f.regs.write(mmio::kInterruptAck, mmio::kInterruptUsedBuffer);
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus), 0u);
  irq->needs_reset("test");
  irq->needs_reset("test again");
  EXPECT_EQ(f.irq->triggers.load(), 2u) << "one interrupt for needing a reset";
  EXPECT_NE(f.regs.status() & status::kDeviceNeedsReset, 0u);
}

TEST(MmioTransport, SaveRestoreOfARunningDevice) {
  Fixture a;
  a.bring_up(kVersion1 | feature::bit(feature::kEventIdx));
  a.dev->config[0] = 9;
  const auto saved = a.t->save();

  Fixture b;
  ASSERT_TRUE(b.t->restore(saved).ok());
  EXPECT_TRUE(b.dev->active) << "a running device runs again after restore";
  EXPECT_EQ(b.dev->config[0], 9);
  EXPECT_EQ(b.regs.status(), a.regs.status());
  EXPECT_EQ(b.t->save(), saved);
  EXPECT_EQ(b.t->kick(0).drain(), 1u) << "restore kicks, for chains made available meanwhile";
}

TEST(MmioTransport, RestoreRefusesAnotherDevicesState) {
  Fixture a;
  a.bring_up();
  auto saved = a.t->save();
  // Flip the queue count.
  Fixture b;
  auto other = saved;
  other.bytes[1 + 1 + 4 + 4 + 8 + 4 + 4 + 4 + 1] = 3;
  EXPECT_FALSE(b.t->restore(other).ok());
  EXPECT_FALSE(b.dev->active);
}

TEST(MmioTransport, RestoreWhoseDeviceStateIsRefusedKeepsTheDeviceRunning) {
  Fixture a;
  a.bring_up();
  auto bad = a.t->save();
  const size_t device_version_at = bad.bytes.size() - 8 - 4 - 4;  // version, length, 8 bytes
  ASSERT_EQ(bad.bytes[device_version_at], 1);
  bad.bytes[device_version_at] = 9;
  Fixture b;
  b.bring_up();
  const auto mine = b.t->save();
  EXPECT_FALSE(b.t->restore(bad).ok());
  EXPECT_EQ(b.t->save(), mine) << "a refused restore changes nothing";
  EXPECT_TRUE(b.dev->active) << "the device still runs";
}

TEST(MmioTransport, CommandLineTokenAndAml) {
  devices::Placement where{devices::BusKind::kMmio, 0xd0001000, 0x1000, 6, 0};
  EXPECT_EQ(MmioTransport::cmdline_token(where), "virtio_mmio.device=4K@0xd0001000:6");
  Fixture f;
  const auto aml = f.t->aml(where);
  const std::string s(aml.begin(), aml.end());
  EXPECT_NE(s.find("LNRO0005"), std::string::npos);
  EXPECT_NE(s.find("V001"), std::string::npos);
}

}  // namespace
}  // namespace vireo::virtio
