// The virtio-pci transport as a driver finds and programs it: identity, capabilities that
// match the BAR layout, feature negotiation, queue setup and DRIVER_OK, notifications,
// MSI-X (vectors, masking, pending bits), the ISR, DEVICE_NEEDS_RESET, the PCI_CFG
// window, resets, save/restore, a hostile guest, and BAR 0 moving on a root bus.
#include "virtio/pci_transport.h"

#include <gtest/gtest.h>

#include <chrono>

#include "fake_virtio_device.h"
#include "pci/root_bus.h"
#include "pci_driver.h"
#include "test_driver.h"
#include "unit/pci/fake_msi_vector.h"

namespace vireo::virtio {
namespace {

namespace L = pci_layout;
using pci::test::FakeMsiVector;
using test::FakeVirtioDevice;
using test::PciDriver;
namespace cc = test::common_cfg;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);
constexpr uint16_t kConfigVector = 2, kQueue0Vector = 0, kQueue1Vector = 1;

struct Fixture {
  explicit Fixture(std::shared_ptr<FakeVirtioDevice> d = std::make_shared<FakeVirtioDevice>())
      : dev(std::move(d)) {
    auto r = PciTransport::create(dev, drv.mem());
    EXPECT_TRUE(r.ok()) << r.error().message();
    t = *r;
    std::vector<std::shared_ptr<pci::MsiVector>> v;
    for (int i = 0; i < 3; ++i) {
      vectors.push_back(std::make_shared<FakeMsiVector>());
      v.push_back(vectors.back());
    }
    t->msix().attach(v);
    pci.emplace(*t);
  }
  PciDriver& drv_pci() { return *pci; }
  // MSI-X on, vectors 0-2 programmed and unmasked; queue 0 with vector 0, the
  // configuration vector 2; DRIVER_OK.
  void bring_up(uint64_t features = kVersion1, bool msix = true) {
    auto& p = *pci;
    if (msix) {
      p.set_msix_control(pci::Msix::kControlEnable);
      for (uint16_t v = 0; v < 3; ++v) p.program_vector(v, 0xfee0'0000, 0x40 + v);
    }
    ASSERT_TRUE(p.negotiate(features));
    if (msix) p.common_write(cc::kConfigMsixVector, kConfigVector, 2);
    p.setup_queue(0, drv.size(), drv.desc_addr(), drv.avail_addr(), drv.used_addr(),
                  msix ? kQueue0Vector : pci::kNoVector);
    p.driver_ok();
  }
  Interrupts& irq() { return *dev->last.interrupts; }

  test::TestDriver drv{16};
  std::shared_ptr<FakeVirtioDevice> dev;
  std::shared_ptr<PciTransport> t;
  std::vector<std::shared_ptr<FakeMsiVector>> vectors;
  std::optional<PciDriver> pci;
};

// A different virtio device (type 43, one queue) for restores that must be refused.
class OtherFakeDevice : public FakeVirtioDevice {
 public:
  uint32_t device_type() const override { return 43; }
  std::vector<uint16_t> queue_max_sizes() const override { return {16}; }
};

TEST(PciTransport, Identity) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.cfg_read(pci::reg::kVendorId, 2), 0x1af4u);
  EXPECT_EQ(p.cfg_read(pci::reg::kDeviceId, 2), 0x1040u + FakeVirtioDevice::kType);
  EXPECT_EQ(p.cfg_read(pci::reg::kRevision, 1), 1u) << "modern-only";
  EXPECT_EQ(p.cfg_read(pci::reg::kSubsystemVendorId, 2), 0x1af4u);
  EXPECT_EQ(p.cfg_read(pci::reg::kSubsystemId, 2), 0x1040u + FakeVirtioDevice::kType);
  EXPECT_EQ(p.cfg_read(pci::reg::kClassCode, 4) & 0xffffff, 0xff0000u) << "other";
  EXPECT_EQ(p.cfg_read(pci::reg::kHeaderType, 1), 0u);
  EXPECT_EQ(p.cfg_read(pci::reg::kInterruptPin, 1), 0u) << "no INTx";
  EXPECT_EQ(p.cfg_read(pci::reg::kCommand, 2), 0u);
  EXPECT_EQ(f.t->name(), "virtio-fake");
  // BAR 0: 64-bit, 32 KiB; nothing else.
  EXPECT_EQ(p.cfg_read(pci::reg::kBar0), 0x4u);
  p.cfg_write(pci::reg::kBar0, 0xffffffff);
  p.cfg_write(pci::reg::kBar0 + 4, 0xffffffff);
  EXPECT_EQ(p.cfg_read(pci::reg::kBar0), 0xffff'8004u);
  EXPECT_EQ(p.cfg_read(pci::reg::kBar0 + 4), 0xffff'ffffu);
  for (unsigned i = 2; i < pci::kBarCount; ++i) {
    p.cfg_write(pci::reg::kBar0 + 4 * i, 0xffffffff);
    EXPECT_EQ(p.cfg_read(pci::reg::kBar0 + 4 * i), 0u) << "BAR " << i;
    EXPECT_FALSE(f.t->bar(i)) << i;
  }
  ASSERT_TRUE(f.t->bar(0));
  EXPECT_EQ(f.t->bar(0)->size, L::kBarSize);
  EXPECT_EQ(f.t->bar(0)->kind, pci::BarKind::kMemory64);
  EXPECT_FALSE(f.t->bar(6));
  EXPECT_FALSE(f.t->bar(100));
}

TEST(PciTransport, ClassCodesByDeviceType) {
  struct Typed : FakeVirtioDevice {
    explicit Typed(uint32_t t) : type(t) {}
    uint32_t device_type() const override { return type; }
    uint32_t type;
  };
  for (auto [type, cls] : {std::pair<uint32_t, uint32_t>{device_id::kNet, 0x020000},
                           {device_id::kBlock, 0x018000},
                           {device_id::kConsole, 0x078000}}) {
    Fixture f(std::make_shared<Typed>(type));
    EXPECT_EQ(f.pci->cfg_read(pci::reg::kClassCode, 4) & 0xffffff, cls) << type;
    EXPECT_EQ(f.pci->cfg_read(pci::reg::kDeviceId, 2), 0x1040u + type);
  }
}

TEST(PciTransport, CapabilitiesMatchTheBarLayout) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_NE(p.cfg_read(pci::reg::kStatus, 2) & pci::kStatusCapabilityList, 0u);
  EXPECT_EQ(p.cap_count, 6) << "common, notify, ISR, device, PCI_CFG, MSI-X";
  ASSERT_TRUE(p.common);
  EXPECT_EQ(p.common.bar, 0);
  EXPECT_EQ(p.common.offset, L::kCommon);
  EXPECT_EQ(p.common.length, L::kCommonSize);
  EXPECT_EQ(p.common.cap_len, 16);
  ASSERT_TRUE(p.notify);
  EXPECT_EQ(p.notify.bar, 0);
  EXPECT_EQ(p.notify.offset, L::kNotify);
  EXPECT_EQ(p.notify.length, 2 * L::kNotifyMultiplier) << "two queues";
  EXPECT_EQ(p.notify.cap_len, 20) << "with notify_off_multiplier";
  EXPECT_EQ(p.notify_multiplier, L::kNotifyMultiplier);
  ASSERT_TRUE(p.isr);
  EXPECT_EQ(p.isr.offset, L::kIsr);
  EXPECT_EQ(p.isr.length, L::kIsrSize);
  ASSERT_TRUE(p.device);
  EXPECT_EQ(p.device.offset, L::kDeviceConfig);
  EXPECT_EQ(p.device.length, 8u) << "the fake device's configuration";
  ASSERT_TRUE(p.pci_cfg);
  EXPECT_EQ(p.pci_cfg.cap_len, 20);
  EXPECT_EQ(p.pci_cfg.offset, 0u);
  EXPECT_EQ(p.pci_cfg.length, 0u);
  // Every structure lies inside BAR 0, and none overlaps another or the MSI-X parts.
  for (const auto* r : {&p.common, &p.notify, &p.isr, &p.device})
    EXPECT_LE(uint64_t{r->offset} + r->length, L::kBarSize);
  // MSI-X: one vector per queue and one for the configuration.
  ASSERT_NE(p.msix_cap, 0u);
  EXPECT_EQ(p.msix_table_size(), 3);
  EXPECT_EQ(f.t->msix().count(), 3);
  EXPECT_EQ(p.cfg_read(p.msix_cap + 4), L::kMsixTable | 0) << "BIR 0";
  EXPECT_EQ(p.cfg_read(p.msix_cap + 8), L::kMsixPba | 0);
  EXPECT_LE(L::kMsixTable + f.t->msix().table_bytes(), L::kMsixPba);
  EXPECT_LE(L::kMsixPba + f.t->msix().pba_bytes(), L::kBarSize);
  // The capabilities are read-only apart from the PCI_CFG window and MSI-X control.
  const uint64_t before = p.cfg_read(p.common.cap + 8);
  p.cfg_write(p.common.cap + 8, 0x1234);
  EXPECT_EQ(p.cfg_read(p.common.cap + 8), before);
  p.cfg_write(p.msix_cap + 2, 0xffff, 2);
  EXPECT_EQ(p.msix_control(), 0xc000 | 2) << "enable, function mask; table size read-only";
}

TEST(PciTransport, FeatureNegotiation) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.device_features(), kVersion1 | feature::bit(feature::kEventIdx) | 2u);
  p.common_write(cc::kDeviceFeatureSelect, 2, 4);
  EXPECT_EQ(p.common_read(cc::kDeviceFeature, 4), 0u);
  EXPECT_EQ(p.common_read(cc::kNumQueues, 2), 2u);

  EXPECT_TRUE(p.negotiate(kVersion1 | feature::bit(feature::kEventIdx)));
  p.common_write(cc::kDriverFeatureSelect, 1, 4);
  EXPECT_EQ(p.common_read(cc::kDriverFeature, 4), 1u);
  p.common_write(cc::kDriverFeatureSelect, 0, 4);
  EXPECT_EQ(p.common_read(cc::kDriverFeature, 4), 1u << feature::kEventIdx);
  // After FEATURES_OK the features are fixed.
  p.common_write(cc::kDriverFeature, 2, 4);
  EXPECT_EQ(p.common_read(cc::kDriverFeature, 4), 1u << feature::kEventIdx);

  EXPECT_FALSE(p.negotiate(feature::bit(feature::kEventIdx))) << "VERSION_1 is required";
  EXPECT_FALSE(p.negotiate(kVersion1 | feature::bit(feature::kRingPacked))) << "not offered";
  EXPECT_FALSE(p.negotiate(kVersion1 | (uint64_t{1} << 40))) << "not offered";
  EXPECT_TRUE(p.negotiate(kVersion1));
  // Features written before DRIVER are dropped.
  p.set_status(0);
  p.common_write(cc::kDriverFeatureSelect, 1, 4);
  p.common_write(cc::kDriverFeature, 1, 4);
  p.set_status(status::kAcknowledge | status::kDriver);
  p.set_status(status::kAcknowledge | status::kDriver | status::kFeaturesOk);
  EXPECT_EQ(p.status() & status::kFeaturesOk, 0);
}

TEST(PciTransport, RegisterWidthsAreChecked) {
  Fixture f;
  auto& p = *f.pci;
  // Status is a byte; other widths are ignored.
  p.common_write(cc::kDeviceStatus, status::kAcknowledge, 2);
  p.common_write(cc::kDeviceStatus, status::kAcknowledge, 4);
  EXPECT_EQ(p.status(), 0);
  // Selectors take only their own width.
  p.common_write(cc::kQueueSelect, 1, 4);
  EXPECT_EQ(p.common_read(cc::kQueueSelect, 2), 0u);
  p.common_write(cc::kDeviceFeatureSelect, 1, 2);
  EXPECT_EQ(p.common_read(cc::kDeviceFeatureSelect, 4), 0u);
  // Any read inside the structure reads its bytes: the status and generation as a word.
  p.set_status(status::kAcknowledge);
  EXPECT_EQ(p.common_read(cc::kDeviceStatus, 2), status::kAcknowledge);
  EXPECT_EQ(p.common_read(cc::kNumQueues, 4), 2u | uint32_t{status::kAcknowledge} << 16);
}

TEST(PciTransport, QueueSizeReadsTheMaximumUntilSet) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.queue_size(0), 16);
  EXPECT_EQ(p.queue_size(1), 32);
  EXPECT_EQ(p.queue_size(2), 0) << "no such queue";
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), 0u) << "no such queue: zeros";
  ASSERT_TRUE(p.negotiate(kVersion1));
  p.select_queue(1);
  p.common_write(cc::kQueueSize, 8, 2);
  EXPECT_EQ(p.queue_size(1), 8);
  p.common_write(cc::kQueueSize, 16, 4);  // wrong width
  EXPECT_EQ(p.queue_size(1), 8);
  EXPECT_EQ(p.common_read(cc::kQueueNotifyOff, 2), 1u);
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), pci::kNoVector);
  EXPECT_EQ(p.common_read(cc::kQueueEnable, 2), 0u);
}

TEST(PciTransport, QueueSetupIgnoredBeforeFeaturesOk) {
  Fixture f;
  auto& p = *f.pci;
  p.set_status(status::kAcknowledge | status::kDriver);
  p.select_queue(0);
  p.common_write(cc::kQueueSize, 8, 2);
  p.common_write64(cc::kQueueDesc, 0x5000);
  p.common_write(cc::kQueueEnable, 1, 2);
  EXPECT_EQ(p.queue_size(0), 16);
  EXPECT_EQ(p.common_read64(cc::kQueueDesc), 0u);
  EXPECT_EQ(p.common_read(cc::kQueueEnable, 2), 0u);
}

TEST(PciTransport, QueueAddressesIn4ByteHalvesOr8Bytes) {
  Fixture f;
  auto& p = *f.pci;
  ASSERT_TRUE(p.negotiate(kVersion1));
  p.select_queue(1);
  p.common_write64(cc::kQueueDesc, 0x1'2345'6000);
  p.common_write64(cc::kQueueDriver, 0xabcd'0000'0000'1000);
  p.common_write(cc::kQueueDevice, 0x7'0000'2000, 8);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0x1'2345'6000u);
  EXPECT_EQ(p.common_read64(cc::kQueueDesc), 0x1'2345'6000u);
  EXPECT_EQ(p.common_read(cc::kQueueDesc + 4, 4), 0x1u);
  EXPECT_EQ(p.common_read(cc::kQueueDriver, 8), 0xabcd'0000'0000'1000u);
  EXPECT_EQ(p.common_read(cc::kQueueDevice, 8), 0x7'0000'2000u);
  // Halves in either order; the other half stays.
  p.common_write(cc::kQueueDesc + 4, 0x2, 4);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0x2'2345'6000u);
  p.common_write(cc::kQueueDesc, 0x7000, 4);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0x2'0000'7000u);
  // Narrow or misaligned writes are ignored.
  p.common_write(cc::kQueueDesc, 0xff, 2);
  p.common_write(cc::kQueueDesc + 2, 0xffff'ffff, 4);
  p.common_write(cc::kQueueDesc + 4, 0xffff'ffff'ffff'ffff, 8);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0x2'0000'7000u);
  // Queue 0 untouched.
  p.select_queue(0);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0u);
}

TEST(PciTransport, DriverOkActivatesWithTheQueues) {
  Fixture f;
  f.bring_up(kVersion1 | feature::bit(feature::kEventIdx));
  ASSERT_TRUE(f.dev->active);
  EXPECT_TRUE(f.t->active());
  EXPECT_EQ(f.dev->activations, 1);
  EXPECT_EQ(f.dev->last.features, kVersion1 | feature::bit(feature::kEventIdx));
  ASSERT_EQ(f.dev->last.queues.size(), 2u);
  const auto& q0 = f.dev->last.queues[0].state();
  EXPECT_TRUE(q0.ready);
  EXPECT_TRUE(q0.event_idx);
  EXPECT_EQ(q0.size, 16);
  EXPECT_EQ(q0.desc, f.drv.desc_addr());
  EXPECT_EQ(q0.avail, f.drv.avail_addr());
  EXPECT_EQ(q0.used, f.drv.used_addr());
  EXPECT_FALSE(f.dev->last.queues[1].state().ready);
  EXPECT_EQ(f.dev->last.kicks.size(), 2u);
  EXPECT_EQ(f.dev->last.mem, &f.drv.mem());
  EXPECT_EQ(f.pci->status(), status::kAcknowledge | status::kDriver | status::kFeaturesOk |
                                 status::kDriverOk);
}

TEST(PciTransport, QueueFieldsIgnoredAfterEnableAndAfterDriverOk) {
  Fixture f;
  auto& p = *f.pci;
  ASSERT_TRUE(p.negotiate(kVersion1));
  p.setup_queue(0, 16, f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
  // Enabled: frozen, and it cannot be disabled by writing 0.
  p.select_queue(0);
  p.common_write(cc::kQueueSize, 8, 2);
  p.common_write64(cc::kQueueDesc, 0x9000);
  p.common_write(cc::kQueueDriver, 0x9000, 8);
  p.common_write(cc::kQueueEnable, 0, 2);
  EXPECT_EQ(p.queue_size(0), 16);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), f.drv.desc_addr());
  EXPECT_EQ(p.common_read(cc::kQueueDriver, 8), f.drv.avail_addr());
  EXPECT_EQ(p.common_read(cc::kQueueEnable, 2), 1u);
  // After DRIVER_OK even a disabled queue is frozen.
  p.driver_ok();
  ASSERT_TRUE(f.dev->active);
  p.select_queue(1);
  p.common_write(cc::kQueueSize, 8, 2);
  p.common_write64(cc::kQueueDesc, 0x9000);
  p.common_write(cc::kQueueEnable, 1, 2);
  EXPECT_EQ(p.queue_size(1), 32);
  EXPECT_EQ(p.common_read(cc::kQueueDesc, 8), 0u);
  EXPECT_EQ(p.common_read(cc::kQueueEnable, 2), 0u);
  EXPECT_EQ(f.dev->activations, 1);
  // Status bits are only added: clearing one is ignored.
  p.set_status(status::kAcknowledge);
  EXPECT_NE(p.status() & status::kDriverOk, 0);
  EXPECT_TRUE(f.dev->active);
}

TEST(PciTransport, NotifySignalsTheKick) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.notify_address(0), f.t->notify_offset(0));
  EXPECT_EQ(p.notify_address(1), f.t->notify_offset(1));
  EXPECT_EQ(PciTransport::notify_offset(1), L::kNotify + 4);
  p.kick(1);
  p.bar_write(PciTransport::notify_offset(1), 1, 4);  // any width
  p.bar_write(PciTransport::notify_offset(1) + 2, 0, 1);
  EXPECT_EQ(f.t->kick(1).drain(), 3u);
  EXPECT_EQ(f.t->kick(0).drain(), 0u);
  p.kick(0);
  EXPECT_EQ(f.t->kick(0).drain(), 1u);
  // Past the queues: nothing.
  p.bar_write(PciTransport::notify_offset(2), 2, 2);
  p.bar_write(L::kMsixTable - 2, 2, 2);
  EXPECT_EQ(f.t->kick(0).drain(), 0u);
  EXPECT_EQ(f.t->kick(1).drain(), 0u);
  // Reads of the notification area read zeros and notify nothing.
  EXPECT_EQ(p.bar_read(PciTransport::notify_offset(0), 4), 0u);
  EXPECT_EQ(f.t->kick(0).drain(), 0u);
}

TEST(PciTransport, QueuesServedOnTheVcpuAreNotifiedInline) {
  Fixture f;
  f.dev->vcpu_queue = 1;
  f.pci->kick(1);
  EXPECT_TRUE(f.dev->vcpu_notified.empty()) << "not before DRIVER_OK";
  f.bring_up();
  f.pci->kick(1);
  f.pci->kick(0);
  EXPECT_EQ(f.dev->vcpu_notified, std::vector<uint16_t>{1});
  EXPECT_EQ(f.t->kick(1).drain(), 0u) << "no kick for it";
  EXPECT_EQ(f.t->kick(0).drain(), 1u);
}

TEST(PciTransport, MsixVectorAssignment) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), pci::kNoVector);
  p.common_write(cc::kConfigMsixVector, 2, 2);
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), 2u);
  p.common_write(cc::kConfigMsixVector, 3, 2);
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), pci::kNoVector) << "a vector it lacks";
  p.common_write(cc::kConfigMsixVector, 0x7fff, 2);
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), pci::kNoVector);
  p.common_write(cc::kConfigMsixVector, 1, 4);  // wrong width
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), pci::kNoVector);
  p.select_queue(1);
  p.common_write(cc::kQueueMsixVector, 1, 2);
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), 1u);
  p.common_write(cc::kQueueMsixVector, 3, 2);
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), pci::kNoVector);
  p.select_queue(0);
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), pci::kNoVector) << "per queue";
  p.select_queue(7);
  p.common_write(cc::kQueueMsixVector, 1, 2);  // no such queue: ignored, no crash
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), 0u);
}

TEST(PciTransport, MsixInterruptsReachTheirVectors) {
  Fixture f;
  f.bring_up();
  auto& p = *f.pci;
  ASSERT_TRUE(f.t->msix().enabled());
  EXPECT_EQ(f.vectors[0]->configured,
            (std::vector<FakeMsiVector::Message>{{0xfee0'0000, 0x40}}));
  f.irq().used_buffers(0);
  EXPECT_EQ(f.vectors[kQueue0Vector]->triggers, 1);
  EXPECT_EQ(f.vectors[kQueue1Vector]->triggers, 0);
  EXPECT_EQ(f.vectors[kConfigVector]->triggers, 0);
  f.irq().config_changed();
  EXPECT_EQ(f.vectors[kConfigVector]->triggers, 1);
  EXPECT_EQ(f.vectors[kQueue0Vector]->triggers, 1);
  // Queue 1 has no vector: nothing is sent.
  f.irq().used_buffers(1);
  f.irq().used_buffers(77);  // no such queue
  for (auto& v : f.vectors) EXPECT_LE(v->triggers, 1);
  EXPECT_EQ(f.vectors[kQueue1Vector]->triggers, 0);
  // Queue 1 given vector 1 (while running, as Linux may).
  p.select_queue(1);
  p.common_write(cc::kQueueMsixVector, kQueue1Vector, 2);
  f.irq().used_buffers(1);
  EXPECT_EQ(f.vectors[kQueue1Vector]->triggers, 1);
}

TEST(PciTransport, MaskedVectorIsPendingUntilUnmasked) {
  Fixture f;
  f.bring_up();
  auto& p = *f.pci;
  p.mask_vector(kQueue0Vector, true);
  f.irq().used_buffers(0);
  EXPECT_EQ(f.vectors[kQueue0Vector]->triggers, 0);
  EXPECT_EQ(p.pending_bits(), 1u << kQueue0Vector);
  EXPECT_EQ(p.bar_read(p.msix_pba_offset(), 4), 1u << kQueue0Vector);
  p.mask_vector(kQueue0Vector, false);
  EXPECT_EQ(f.vectors[kQueue0Vector]->triggers, 1);
  EXPECT_EQ(p.pending_bits(), 0u);
  // Function mask through configuration space.
  p.set_msix_control(pci::Msix::kControlEnable | pci::Msix::kControlFunctionMask);
  f.irq().config_changed();
  EXPECT_EQ(f.vectors[kConfigVector]->triggers, 0);
  EXPECT_EQ(p.pending_bits(), 1u << kConfigVector);
  p.set_msix_control(pci::Msix::kControlEnable);
  EXPECT_EQ(f.vectors[kConfigVector]->triggers, 1);
  // The MSI-X table through BAR 0 reads what the driver wrote.
  EXPECT_EQ(p.bar_read(L::kMsixTable + 16 * 1, 8), 0xfee0'0000u);
  EXPECT_EQ(p.bar_read(L::kMsixTable + 16 * 1 + 8, 4), 0x41u);
}

TEST(PciTransport, NoDeliveryWithoutMsixButTheIsrIsSet) {
  Fixture f;
  f.bring_up(kVersion1, /*msix=*/false);
  auto& p = *f.pci;
  p.common_write(cc::kConfigMsixVector, 0, 2);
  f.irq().used_buffers(0);
  f.irq().config_changed();
  for (auto& v : f.vectors) EXPECT_EQ(v->triggers, 0);
  EXPECT_EQ(p.read_isr(), 3u);
  // Enabling later does not deliver what fired while disabled.
  p.set_msix_control(pci::Msix::kControlEnable);
  for (uint16_t v = 0; v < 3; ++v) p.program_vector(v, 0xfee0'0000, v);
  for (auto& v : f.vectors) EXPECT_EQ(v->triggers, 0);
}

TEST(PciTransport, IsrIsReadToClear) {
  Fixture f;
  f.bring_up();
  auto& p = *f.pci;
  EXPECT_EQ(p.read_isr(), 0u);
  f.irq().used_buffers(0);
  EXPECT_EQ(p.read_isr(), 1u);
  EXPECT_EQ(p.read_isr(), 0u) << "the read cleared it";
  f.irq().config_changed();
  f.irq().used_buffers(0);
  EXPECT_EQ(p.bar_read(L::kIsr, 4), 3u) << "a 4-byte read clears it too";
  EXPECT_EQ(p.read_isr(), 0u);
  f.irq().used_buffers(0);
  EXPECT_EQ(p.bar_read(L::kIsr + 1, 1), 0u) << "only its first byte";
  EXPECT_EQ(p.bar_read(L::kIsr + 2, 4), 0u) << "past the register";
  EXPECT_EQ(p.read_isr(), 1u) << "not cleared by those";
  // Writes do nothing.
  f.irq().used_buffers(0);
  p.bar_write(L::kIsr, 0, 1);
  EXPECT_EQ(p.read_isr(), 1u);
}

TEST(PciTransport, DeviceConfigThroughTheBar) {
  Fixture f;
  auto& p = *f.pci;
  f.dev->config[3] = 0xab;
  EXPECT_EQ(p.bar_read(p.device.offset + 3, 1), 0xabu);
  EXPECT_EQ(p.bar_read(p.device.offset, 8), uint64_t{0xab} << 24);
  EXPECT_EQ(p.bar_read(p.device.offset + 4, 8), 0u) << "past the end reads zeros";
  p.bar_write(p.device.offset + 6, 0x1234, 2);
  EXPECT_EQ(f.dev->config[6], 0x34);
  EXPECT_EQ(f.dev->config[7], 0x12);
  p.bar_write(p.device.offset + 7, 0x5678, 2);
  EXPECT_EQ(f.dev->config[7], 0x12) << "a write past the end changes nothing";
  p.bar_write(p.device.offset + 0x800, 1, 1);
  EXPECT_EQ(p.common_read(cc::kConfigGeneration, 1), 0u);
}

TEST(PciTransport, BadQueueAtDriverOkNeedsReset) {
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
    auto& p = *f.pci;
    p.set_msix_control(pci::Msix::kControlEnable);
    p.program_vector(kConfigVector, 0xfee0'0000, 0x50);
    ASSERT_TRUE(p.negotiate(kVersion1));
    p.common_write(cc::kConfigMsixVector, kConfigVector, 2);
    p.setup_queue(0, bad.size, bad.desc, f.drv.avail_addr(), f.drv.used_addr());
    p.driver_ok();
    EXPECT_FALSE(f.dev->active) << bad.what;
    EXPECT_FALSE(f.t->active()) << bad.what;
    EXPECT_NE(p.status() & status::kDeviceNeedsReset, 0) << bad.what;
    EXPECT_EQ(f.vectors[kConfigVector]->triggers, 1) << bad.what << ": a configuration interrupt";
    EXPECT_EQ(p.read_isr(), 2u) << bad.what;
    // The driver's reset clears it.
    p.set_status(0);
    EXPECT_EQ(p.status(), 0) << bad.what;
    ASSERT_TRUE(p.negotiate(kVersion1)) << bad.what;
    p.setup_queue(0, 16, f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
    p.driver_ok();
    EXPECT_TRUE(f.dev->active) << bad.what;
  }
}

TEST(PciTransport, DriverOkBeforeFeaturesOkAndFailedActivationNeedReset) {
  {
    Fixture f;
    f.pci->set_status(status::kAcknowledge | status::kDriver);
    f.pci->set_status(status::kAcknowledge | status::kDriver | status::kDriverOk);
    EXPECT_FALSE(f.dev->active);
    EXPECT_NE(f.pci->status() & status::kDeviceNeedsReset, 0);
    EXPECT_EQ(f.pci->status() & status::kDriverOk, 0);
  }
  {
    Fixture f;
    f.dev->fail_activation = true;
    f.bring_up();
    EXPECT_FALSE(f.t->active());
    EXPECT_NE(f.pci->status() & status::kDeviceNeedsReset, 0);
    EXPECT_EQ(f.vectors[kConfigVector]->triggers, 1);
  }
  {
    Fixture f;
    f.bring_up();
    f.irq().needs_reset("test");
    f.irq().needs_reset("test again");
    EXPECT_EQ(f.vectors[kConfigVector]->triggers, 1) << "one interrupt for needing a reset";
    EXPECT_NE(f.pci->status() & status::kDeviceNeedsReset, 0);
  }
}

TEST(PciTransport, PciCfgWindowReachesTheCommonConfig) {
  Fixture f;
  auto& p = *f.pci;
  EXPECT_EQ(p.window_read(L::kCommon + cc::kNumQueues, 2), 2u);
  const auto features = p.device_features();
  p.common_write(cc::kDeviceFeatureSelect, 0, 4);
  EXPECT_EQ(p.window_read(L::kCommon + cc::kDeviceFeature, 4), static_cast<uint32_t>(features));
  // A driver without BAR access (Linux's early console, some firmware) sets status.
  p.window_write(L::kCommon + cc::kDeviceStatus, 1, status::kAcknowledge);
  EXPECT_EQ(p.status(), status::kAcknowledge);
  EXPECT_EQ(p.window_read(L::kCommon + cc::kDeviceStatus, 1), status::kAcknowledge);
  p.window_write(L::kCommon + cc::kQueueSelect, 2, 1);
  EXPECT_EQ(p.common_read(cc::kQueueSelect, 2), 1u);
  EXPECT_EQ(p.window_read(L::kCommon + cc::kQueueSize, 2), 32u);
  // The device configuration through the window.
  f.dev->config[1] = 0x5a;
  EXPECT_EQ(p.window_read(L::kDeviceConfig, 4), 0x5a00u);
  // Bad windows read zeros and write nothing: wrong BAR, lengths 0, 3, 8, misaligned,
  // past the BAR.
  const uint8_t before = p.status();
  for (auto [bar, off, len] : {std::tuple<uint8_t, uint32_t, uint32_t>{1, 0x14, 1},
                               {0, 0x14, 0},
                               {0, 0x14, 3},
                               {0, 0x10, 8},
                               {0, 0x13, 2},
                               {0, 0x8000, 1},
                               {0, 0xffff'fffc, 4}}) {
    p.window(bar, off, len);
    EXPECT_EQ(p.cfg_read(p.pci_cfg.cap + 16), 0u) << off << "/" << len;
    p.cfg_write(p.pci_cfg.cap + 16, 0xff);
  }
  EXPECT_EQ(p.status(), before);
  // The window's registers are the driver's to write; the capability header is not.
  p.window(0, 0x1234, 4);
  EXPECT_EQ(p.cfg_read(p.pci_cfg.cap + 8), 0x1234u);
  EXPECT_EQ(p.cfg_read(p.pci_cfg.cap + 12), 4u);
  p.cfg_write(p.pci_cfg.cap, 0);
  EXPECT_EQ(p.cfg_read(p.pci_cfg.cap + 2, 1), 20u);
  // An ISR read through the window clears it too.
  f.bring_up();
  f.irq().used_buffers(0);
  EXPECT_EQ(p.window_read(L::kIsr, 1), 1u);
  EXPECT_EQ(p.read_isr(), 0u);
}

TEST(PciTransport, ResetByStatusZero) {
  Fixture f;
  f.bring_up();
  auto& p = *f.pci;
  p.common_write(cc::kDeviceFeatureSelect, 1, 4);
  f.irq().used_buffers(1);  // ISR set
  ASSERT_TRUE(f.dev->active);
  p.set_status(0);
  EXPECT_FALSE(f.dev->active);
  EXPECT_FALSE(f.t->active());
  EXPECT_EQ(p.status(), 0);
  EXPECT_EQ(p.common_read(cc::kDeviceFeatureSelect, 4), 0u);
  EXPECT_EQ(p.common_read(cc::kConfigMsixVector, 2), pci::kNoVector);
  EXPECT_EQ(p.common_read(cc::kQueueMsixVector, 2), pci::kNoVector);
  EXPECT_EQ(p.common_read(cc::kQueueEnable, 2), 0u);
  EXPECT_EQ(p.queue_size(0), 16);
  EXPECT_EQ(p.read_isr(), 0u);
  // A device reset is not a function reset: MSI-X stays as the driver set it.
  EXPECT_TRUE(f.t->msix().enabled());
  EXPECT_EQ(p.bar_read(L::kMsixTable + 8, 4), 0x40u);
  // And it comes up again.
  f.bring_up();
  EXPECT_EQ(f.dev->activations, 2);
}

TEST(PciTransport, BusDeviceResetEqualsFresh) {
  Fixture fresh;
  Fixture f;
  f.pci->cfg_write(pci::reg::kCommand, pci::command::kMemorySpace, 2);
  f.bring_up();
  f.pci->mask_vector(0, true);
  f.irq().used_buffers(0);
  ASSERT_NE(f.t->save(), fresh.t->save());
  f.t->reset();
  EXPECT_FALSE(f.dev->active);
  EXPECT_EQ(f.t->save(), fresh.t->save());
  EXPECT_FALSE(f.t->msix().enabled());
  EXPECT_EQ(f.pci->cfg_read(pci::reg::kCommand, 2), 0u);
}

TEST(PciTransport, PlaceBarIsWhatResetRestores) {
  Fixture f;
  f.t->place_bar(0, 0x40'0000'0000);
  EXPECT_EQ(f.pci->cfg_read(pci::reg::kBar0), 0x4u);
  EXPECT_EQ(f.pci->cfg_read(pci::reg::kBar0 + 4), 0x40u);
  EXPECT_FALSE(f.t->decoded_bar(0)) << "decoding off";
  f.pci->cfg_write(pci::reg::kCommand, pci::command::kMemorySpace, 2);
  EXPECT_EQ(f.t->decoded_bar(0), 0x40'0000'0000u);
  f.pci->cfg_write(pci::reg::kBar0 + 4, 0x50);
  EXPECT_EQ(f.t->decoded_bar(0), 0x50'0000'0000u);
  f.t->reset();
  EXPECT_EQ(f.pci->cfg_read(pci::reg::kBar0 + 4), 0x40u);
  EXPECT_FALSE(f.t->decoded_bar(0));
}

TEST(PciTransport, SaveRestoreOfARunningDevice) {
  Fixture a;
  a.t->place_bar(0, 0x40'0000'0000);
  a.pci->cfg_write(pci::reg::kCommand, pci::command::kMemorySpace | pci::command::kBusMaster, 2);
  a.bring_up(kVersion1 | feature::bit(feature::kEventIdx));
  a.pci->mask_vector(kConfigVector, true);
  a.irq().config_changed();  // pending
  a.irq().used_buffers(0);   // ISR
  a.dev->config[0] = 9;
  a.pci->select_queue(1);
  const auto saved = a.t->save();
  EXPECT_EQ(saved.version, PciTransport::kStateVersion);

  Fixture b;
  b.t->place_bar(0, 0x40'0000'0000);
  auto r = b.t->restore(saved);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(b.t->save(), saved);
  EXPECT_TRUE(b.dev->active) << "a running device runs again after restore";
  EXPECT_TRUE(b.t->active());
  EXPECT_EQ(b.dev->config[0], 9);
  EXPECT_EQ(b.pci->status(), a.pci->status());
  EXPECT_EQ(b.t->kick(0).drain(), 1u) << "restore kicks, for chains made available meanwhile";
  EXPECT_EQ(b.t->decoded_bar(0), 0x40'0000'0000u);
  EXPECT_TRUE(b.t->msix().enabled());
  EXPECT_EQ(b.pci->common_read(cc::kQueueSelect, 2), 1u);
  EXPECT_EQ(b.pci->common_read(cc::kConfigMsixVector, 2), kConfigVector);
  // The restored vectors learnt their messages; the pending one waits for its unmask.
  EXPECT_EQ(b.vectors[0]->configured,
            (std::vector<FakeMsiVector::Message>{{0xfee0'0000, 0x40}}));
  EXPECT_EQ(b.pci->pending_bits(), 1u << kConfigVector);
  b.pci->mask_vector(kConfigVector, false);
  EXPECT_EQ(b.vectors[kConfigVector]->triggers, 1);
  b.irq().used_buffers(0);
  EXPECT_EQ(b.vectors[kQueue0Vector]->triggers, 1);
  EXPECT_EQ(b.pci->read_isr(), 3u) << "the ISR came along";
}

TEST(PciTransport, RestoreRefusesAnotherDevicesState) {
  Fixture a;
  a.bring_up();
  const auto saved = a.t->save();

  Fixture other(std::make_shared<OtherFakeDevice>());
  other.pci->cfg_write(pci::reg::kInterruptLine, 5, 1);
  const auto mine = other.t->save();
  EXPECT_FALSE(other.t->restore(saved).ok()) << "another device ID, queue count";
  EXPECT_EQ(other.t->save(), mine);
  EXPECT_FALSE(other.dev->active);

  Fixture b;
  b.pci->cfg_write(pci::reg::kInterruptLine, 5, 1);
  const auto b_mine = b.t->save();
  EXPECT_FALSE(b.t->restore(other.t->save()).ok());
  EXPECT_EQ(b.t->save(), b_mine);
  auto bad = saved;
  bad.version = 2;
  EXPECT_FALSE(b.t->restore(bad).ok());
  bad = saved;
  bad.bytes.push_back(0);
  EXPECT_FALSE(b.t->restore(bad).ok()) << "trailing bytes";
  bad = saved;
  bad.bytes.resize(bad.bytes.size() - 3);
  EXPECT_FALSE(b.t->restore(bad).ok()) << "truncated";
  EXPECT_EQ(b.t->save(), b_mine) << "a refused restore changes nothing";
}

TEST(PciTransport, RestoreWhoseDeviceStateIsRefusedChangesNothing) {
  // Everything checks out but the device's own state (its version, the last word but
  // the length and bytes): the transport must stay as it was, running.
  Fixture a;
  a.pci->cfg_write(pci::reg::kInterruptLine, 7, 1);
  a.bring_up();
  auto bad = a.t->save();
  const size_t device_version_at = bad.bytes.size() - 8 - 4 - 4;  // version, length, 8 bytes
  ASSERT_EQ(bad.bytes[device_version_at], 1);
  bad.bytes[device_version_at] = 9;

  Fixture b;
  b.pci->cfg_write(pci::reg::kCommand, pci::command::kMemorySpace, 2);
  b.bring_up();
  const auto mine = b.t->save();
  EXPECT_FALSE(b.t->restore(bad).ok());
  EXPECT_EQ(b.t->save(), mine) << "a refused restore changes nothing";
  EXPECT_TRUE(b.dev->active) << "the device still runs";
  EXPECT_TRUE(b.t->active());
}

TEST(PciTransport, NotifyMoverFollowsBar0OnTheRootBus) {
  Fixture f;
  std::vector<std::pair<std::optional<uint64_t>, std::optional<uint64_t>>> moves;
  f.t->set_notify_mover([&](std::optional<uint64_t> before, std::optional<uint64_t> now) {
    moves.emplace_back(before, now);
  });
  devices::Bus mmio;
  pci::RootBus root(mmio);
  f.t->place_bar(0, 0x40'0000'0000);
  ASSERT_TRUE(root.add(f.t).ok());
  EXPECT_TRUE(moves.empty()) << "not decoded yet";
  const uint16_t on = pci::command::kMemorySpace;
  const auto cmd = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&on), 2);
  root.write(0, 0, 0, pci::reg::kCommand, cmd);
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0], std::make_pair(std::optional<uint64_t>{},
                                     std::optional<uint64_t>{0x40'0000'0000}));
  // Through the MMIO bus: the common configuration and a notification.
  uint16_t nq = 0;
  ASSERT_TRUE(mmio.read(0x40'0000'0000 + cc::kNumQueues,
                        std::span<uint8_t>(reinterpret_cast<uint8_t*>(&nq), 2)));
  EXPECT_EQ(nq, 2);
  const uint16_t q1 = 1;
  mmio.write(0x40'0000'0000 + PciTransport::notify_offset(1),
             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&q1), 2));
  EXPECT_EQ(f.t->kick(1).drain(), 1u);
  // The guest moves it, then turns decoding off.
  const uint32_t hi = 0x41;
  root.write(0, 0, 0, pci::reg::kBar0 + 4,
             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&hi), 4));
  ASSERT_EQ(moves.size(), 2u);
  EXPECT_EQ(moves[1], std::make_pair(std::optional<uint64_t>{0x40'0000'0000},
                                     std::optional<uint64_t>{0x41'0000'0000}));
  const uint16_t off = 0;
  root.write(0, 0, 0, pci::reg::kCommand,
             std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&off), 2));
  ASSERT_EQ(moves.size(), 3u);
  EXPECT_EQ(moves[2], std::make_pair(std::optional<uint64_t>{0x41'0000'0000},
                                     std::optional<uint64_t>{}));
  EXPECT_EQ(mmio.size(), 0u);
}

// A hostile guest: every offset and width of BAR 0 (and the BARs that do not exist) and
// of configuration space, reads and writes, on a running device, must be safe and quick.
TEST(PciTransport, EveryBarAndConfigAccessIsSafe) {
  const auto start = std::chrono::steady_clock::now();
  Fixture f;
  f.bring_up();
  uint64_t junk = 0x0123'4567'89ab'cdef;
  for (uint64_t off = 0; off <= L::kBarSize + 8; ++off) {
    for (size_t width : {1, 2, 4, 8}) {
      uint64_t v = 0;
      f.t->read_bar(0, off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
      junk = junk * 6364136223846793005ull + 1442695040888963407ull;
      // Keep the device reset-free often enough that the running paths are exercised.
      const uint64_t w = (off >= L::kCommon + cc::kDeviceStatus &&
                          off <= L::kCommon + cc::kDeviceStatus)
                             ? 0x0f
                             : junk;
      f.t->write_bar(0, off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&w), width));
    }
  }
  for (unsigned bar : {1u, 2u, 5u, 6u, 0xffffffffu}) {
    uint64_t v = 0;
    f.t->read_bar(bar, 0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    EXPECT_EQ(v, ~uint64_t{0}) << "BAR " << bar;
    f.t->write_bar(bar, 0x14, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
  }
  for (uint64_t off : {~uint64_t{0}, ~uint64_t{0} - 3, uint64_t{1} << 40}) {
    uint64_t v = 0;
    f.t->read_bar(0, off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    f.t->write_bar(0, off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
  }
  for (uint64_t off = 0; off <= pci::kConfigSize + 8; ++off) {
    for (size_t width : {1, 2, 4, 8}) {
      uint64_t v = 0;
      f.t->read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
      junk = junk * 6364136223846793005ull + 1442695040888963407ull;
      f.t->write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&junk), width));
    }
  }
  for (uint64_t off : {~uint64_t{0}, ~uint64_t{0} - 3, uint64_t{1} << 32}) {
    uint64_t v = 0;
    f.t->read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    EXPECT_EQ(v, ~uint64_t{0});
    f.t->write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
  }
  // Still a device that saves and restores.
  const auto s = f.t->save();
  Fixture g;
  auto r = g.t->restore(s);
  EXPECT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(g.t->save(), s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace vireo::virtio
