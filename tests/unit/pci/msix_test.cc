// Msix: delivery only while enabled and unmasked, pending bits while masked, one
// configure() per message change, the table and PBA as a driver reads and writes them,
// and save/restore.
#include "pci/msix.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "fake_msi_vector.h"

namespace vireo::pci {
namespace {

using FakeVector = test::FakeMsiVector;

constexpr uint16_t kCount = 4;

struct Fixture {
  Fixture() {
    std::vector<std::shared_ptr<MsiVector>> v(vectors.begin(), vectors.end());
    msix.attach(v);
  }
  void write32(uint64_t off, uint32_t v) {
    msix.write_table(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 4));
  }
  void write64(uint64_t off, uint64_t v) {
    msix.write_table(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), 8));
  }
  uint32_t read32(uint64_t off) {
    uint32_t v = 0;
    msix.read_table(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 4));
    return v;
  }
  uint64_t read64(uint64_t off) {
    uint64_t v = 0;
    msix.read_table(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  uint64_t pba() {
    uint64_t v = 0;
    msix.read_pba(0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
    return v;
  }
  // Programs vector `i` as Linux does: address, data, then unmask.
  void program(uint16_t i, uint64_t address, uint32_t data, bool unmask = true) {
    write32(16 * i, static_cast<uint32_t>(address));
    write32(16 * i + 4, static_cast<uint32_t>(address >> 32));
    write32(16 * i + 8, data);
    write32(16 * i + 12, unmask ? 0 : Msix::kEntryMasked);
  }
  void mask(uint16_t i, bool masked) { write32(16 * i + 12, masked ? Msix::kEntryMasked : 0); }
  std::vector<uint8_t> saved() {
    StateWriter w;
    msix.save(w);
    return w.take();
  }

  Msix msix{kCount, 0, 0x4000, 0, 0x6000};
  std::vector<std::shared_ptr<FakeVector>> vectors = {
      std::make_shared<FakeVector>(), std::make_shared<FakeVector>(),
      std::make_shared<FakeVector>(), std::make_shared<FakeVector>()};
};

TEST(Msix, CapabilityLayout) {
  Msix m(kCount, 2, 0x4000, 3, 0x6000);
  const auto body = m.capability_body();
  ASSERT_EQ(body.size(), 10u);
  uint16_t ctl;
  uint32_t table, pba;
  std::memcpy(&ctl, &body[0], 2);
  std::memcpy(&table, &body[2], 4);
  std::memcpy(&pba, &body[6], 4);
  EXPECT_EQ(ctl, kCount - 1) << "table size is N - 1";
  EXPECT_EQ(table, 0x4000u | 2);
  EXPECT_EQ(pba, 0x6000u | 3);
  const auto mask = m.capability_mask();
  ASSERT_EQ(mask.size(), 10u);
  EXPECT_EQ(mask[0], 0);
  EXPECT_EQ(mask[1], 0xc0) << "enable and function mask only";
  for (size_t i = 2; i < 10; ++i) EXPECT_EQ(mask[i], 0) << i;
  EXPECT_EQ(m.table_bytes(), 64u);
  EXPECT_EQ(m.pba_bytes(), 8u);
  EXPECT_EQ(Msix(65, 0, 0, 0, 0).pba_bytes(), 16u);
  EXPECT_EQ(Msix(0, 0, 0, 0, 0).count(), 1) << "at least one vector";
  EXPECT_EQ(Msix(4000, 0, 0, 0, 0).count(), 2048) << "at most 2048";
}

TEST(Msix, PowerOnState) {
  Fixture f;
  EXPECT_FALSE(f.msix.enabled());
  EXPECT_EQ(f.msix.control(), 0);
  for (uint16_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(f.read32(16 * i + 12), Msix::kEntryMasked) << "vectors start masked";
    EXPECT_EQ(f.read64(16 * i), 0u);
  }
  EXPECT_EQ(f.pba(), 0u);
}

TEST(Msix, NothingDeliveredWhileDisabled) {
  Fixture f;
  f.program(0, 0xfee0'0000, 0x41);
  f.msix.notify(0);
  EXPECT_EQ(f.vectors[0]->triggers, 0);
  EXPECT_TRUE(f.vectors[0]->configured.empty()) << "not deliverable: no routing yet";
  EXPECT_EQ(f.pba(), 0u) << "a disabled function sets no pending bits";
  f.msix.write_control(Msix::kControlEnable);
  EXPECT_EQ(f.vectors[0]->triggers, 0) << "what fired while disabled is lost";
  EXPECT_EQ(f.vectors[0]->configured,
            (std::vector<FakeVector::Message>{{0xfee0'0000, 0x41}}));
  f.msix.notify(0);
  EXPECT_EQ(f.vectors[0]->triggers, 1);
  EXPECT_EQ(f.vectors[1]->triggers, 0);
  EXPECT_TRUE(f.msix.enabled());
  // Disabled again: nothing.
  f.msix.write_control(0);
  f.msix.notify(0);
  EXPECT_EQ(f.vectors[0]->triggers, 1);
}

TEST(Msix, MaskedVectorIsPendingAndDeliveredOnUnmask) {
  Fixture f;
  f.msix.write_control(Msix::kControlEnable);
  f.program(2, 0xfee0'0000, 0x42, /*unmask=*/false);
  f.msix.notify(2);
  f.msix.notify(2);
  EXPECT_EQ(f.vectors[2]->triggers, 0);
  EXPECT_EQ(f.pba(), 0b100u);
  uint32_t pba32 = 0;
  f.msix.read_pba(0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&pba32), 4));
  EXPECT_EQ(pba32, 0b100u);
  f.mask(2, false);
  EXPECT_EQ(f.vectors[2]->triggers, 1) << "one delivery for what was pending";
  EXPECT_EQ(f.pba(), 0u);
  f.msix.notify(2);
  EXPECT_EQ(f.vectors[2]->triggers, 2);
  EXPECT_EQ(f.pba(), 0u);
  // Others untouched.
  for (int i : {0, 1, 3}) EXPECT_EQ(f.vectors[i]->triggers, 0);
}

TEST(Msix, FunctionMask) {
  Fixture f;
  f.program(1, 0xfee0'0000, 0x51);
  f.msix.write_control(Msix::kControlEnable | Msix::kControlFunctionMask);
  EXPECT_TRUE(f.vectors[1]->configured.empty());
  f.msix.notify(1);
  EXPECT_EQ(f.vectors[1]->triggers, 0);
  EXPECT_EQ(f.pba(), 0b10u);
  f.msix.write_control(Msix::kControlEnable);
  EXPECT_EQ(f.vectors[1]->triggers, 1);
  EXPECT_EQ(f.vectors[1]->configured.size(), 1u);
  EXPECT_EQ(f.pba(), 0u);
  // Control keeps only the two bits a driver may write.
  f.msix.write_control(0xffff);
  EXPECT_EQ(f.msix.control(), Msix::kControlEnable | Msix::kControlFunctionMask);
}

TEST(Msix, ConfigureOnlyWhenTheMessageChanges) {
  Fixture f;
  f.msix.write_control(Msix::kControlEnable);
  f.program(0, 0xfee0'0000, 0x30);
  ASSERT_EQ(f.vectors[0]->configured.size(), 1u);
  // Linux's irq affinity change: mask, rewrite, unmask. Same message: no new routing.
  f.mask(0, true);
  f.mask(0, false);
  f.write32(8, 0x30);
  EXPECT_EQ(f.vectors[0]->configured.size(), 1u);
  f.msix.write_control(0);
  f.msix.write_control(Msix::kControlEnable);
  EXPECT_EQ(f.vectors[0]->configured.size(), 1u) << "re-enabling with the same message";
  // A new message while masked is handed over at the unmask, once.
  f.mask(0, true);
  f.write32(0, 0xfee0'1000);
  f.write32(8, 0x31);
  EXPECT_EQ(f.vectors[0]->configured.size(), 1u) << "not while masked";
  f.mask(0, false);
  ASSERT_EQ(f.vectors[0]->configured.size(), 2u);
  EXPECT_EQ(f.vectors[0]->configured.back(), (FakeVector::Message{0xfee0'1000, 0x31}));
  // A write to an unmasked vector's message is handed over at once (the driver's problem
  // that it is torn; the vector must not keep the old one).
  f.write32(8, 0x32);
  ASSERT_EQ(f.vectors[0]->configured.size(), 3u);
  EXPECT_EQ(f.vectors[0]->configured.back(), (FakeVector::Message{0xfee0'1000, 0x32}));
  EXPECT_EQ(f.vectors[0]->triggers, 0) << "configuring is not delivering";
}

TEST(Msix, OutOfRangeVectorsAreIgnored) {
  Fixture f;
  f.msix.write_control(Msix::kControlEnable);
  for (uint16_t i = 0; i < kCount; ++i) f.program(i, 0xfee0'0000, i);
  f.msix.notify(kCount);
  f.msix.notify(1000);
  f.msix.notify(kNoVector);
  for (auto& v : f.vectors) EXPECT_EQ(v->triggers, 0);
  EXPECT_EQ(f.pba(), 0u);
  // Table accesses past the table: ones, and nothing written.
  EXPECT_EQ(f.read32(16 * kCount), 0xffffffffu);
  EXPECT_EQ(f.read64(0x1000), ~uint64_t{0});
  const auto before = f.saved();
  f.write32(16 * kCount + 8, 7);
  f.write64(~uint64_t{0} - 7, 0);
  EXPECT_EQ(f.saved(), before);
  // PBA bits past the vectors read 0.
  uint64_t hi = ~uint64_t{0};
  f.msix.read_pba(8, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&hi), 8));
  EXPECT_EQ(hi, 0u);
}

TEST(Msix, VectorsWithoutAnMsiVectorAreSafe) {
  Msix m(kCount, 0, 0, 0, 0);
  m.attach({std::make_shared<FakeVector>()});  // fewer than count(): the rest are null
  m.write_control(Msix::kControlEnable);
  uint32_t zero = 0;
  m.write_table(16 * 3 + 12, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&zero), 4));
  m.notify(3);
  Msix none(kCount, 0, 0, 0, 0);  // never attached
  none.write_control(Msix::kControlEnable);
  none.write_table(12, std::span<const uint8_t>(reinterpret_cast<uint8_t*>(&zero), 4));
  none.notify(0);
}

TEST(Msix, TableAccessWidths) {
  Fixture f;
  // 8-byte writes of the address and of data + control.
  f.write64(16, 0x1'fee0'2000);
  f.write64(24, uint64_t{Msix::kEntryMasked} << 32 | 0x77);
  EXPECT_EQ(f.read64(16), 0x1'fee0'2000u);
  EXPECT_EQ(f.read32(16), 0xfee0'2000u);
  EXPECT_EQ(f.read32(20), 0x1u);
  EXPECT_EQ(f.read32(24), 0x77u);
  EXPECT_EQ(f.read32(28), Msix::kEntryMasked);
  EXPECT_EQ(f.read64(24), uint64_t{Msix::kEntryMasked} << 32 | 0x77);
  // Reserved vector-control bits read 0.
  f.write32(28, 0xffff'fffe);
  EXPECT_EQ(f.read32(28), 0u);
  f.write32(28, 0xffff'ffff);
  EXPECT_EQ(f.read32(28), Msix::kEntryMasked);
  // Other widths and misaligned accesses: reads are ones, writes ignored.
  const auto before = f.saved();
  for (size_t width : {1, 2, 3, 16}) {
    std::vector<uint8_t> v(width, 0);
    f.msix.read_table(16, v);
    for (auto b : v) EXPECT_EQ(b, 0xff) << width;
    f.msix.write_table(16, v);
  }
  f.write32(18, 0);
  f.write64(20, 0);
  EXPECT_EQ(f.read32(18), 0xffffffffu);
  EXPECT_EQ(f.read64(20), ~uint64_t{0});
  EXPECT_EQ(f.saved(), before);
  // PBA: 4 and 8 bytes aligned; the rest read 0.
  uint16_t w = 0xffff;
  f.msix.read_pba(0, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&w), 2));
  EXPECT_EQ(w, 0u);
}

TEST(Msix, Reset) {
  Fixture f;
  const auto fresh = f.saved();
  f.msix.write_control(Msix::kControlEnable);
  f.program(0, 0xfee0'0000, 0x60);
  f.program(3, 0xfee0'0000, 0x61, false);
  f.msix.notify(3);
  ASSERT_NE(f.saved(), fresh);
  f.msix.reset();
  EXPECT_EQ(f.saved(), fresh);
  EXPECT_FALSE(f.msix.enabled());
  EXPECT_EQ(f.pba(), 0u);
  EXPECT_EQ(f.read32(12), Msix::kEntryMasked);
  // After reset the same message is handed over again (the VMM may have torn its route
  // down), once the guest makes the vector deliverable.
  f.msix.write_control(Msix::kControlEnable);
  f.program(0, 0xfee0'0000, 0x60);
  EXPECT_EQ(f.vectors[0]->configured.size(), 2u);
}

TEST(Msix, SaveRestoreRoundTrip) {
  Fixture a;
  a.msix.write_control(Msix::kControlEnable);
  a.program(0, 0xfee0'0000, 0x20);
  a.program(1, 0x1'fee0'1000, 0x21, false);
  a.msix.notify(1);
  const auto s = a.saved();

  Fixture b;
  StateReader r(s, "msix");
  ASSERT_TRUE(b.msix.restore(r).ok());
  ASSERT_TRUE(r.finish().ok());
  EXPECT_EQ(b.saved(), s);
  EXPECT_TRUE(b.msix.enabled());
  EXPECT_EQ(b.pba(), 0b10u);
  EXPECT_EQ(b.read64(16), 0x1'fee0'1000u);
  // The restored deliverable vector learnt its message; the masked one did not yet.
  EXPECT_EQ(b.vectors[0]->configured, (std::vector<FakeVector::Message>{{0xfee0'0000, 0x20}}));
  EXPECT_TRUE(b.vectors[1]->configured.empty());
  EXPECT_EQ(b.vectors[1]->triggers, 0);
  b.mask(1, false);
  EXPECT_EQ(b.vectors[1]->triggers, 1) << "the pending one is delivered on unmask";
  b.msix.notify(0);
  EXPECT_EQ(b.vectors[0]->triggers, 1);
}

TEST(Msix, RestoreDeliversWhatIsPendingAndDeliverable) {
  Fixture a;
  a.msix.write_control(Msix::kControlEnable | Msix::kControlFunctionMask);
  a.program(2, 0xfee0'0000, 0x22);
  a.msix.notify(2);
  // Saved with the function masked, then the function mask cleared in the saved bytes
  // would be a state the device can hold: pending and now deliverable.
  StateWriter w;
  w.u16(Msix::kControlEnable);
  w.u32(kCount);
  for (uint16_t i = 0; i < kCount; ++i) {
    w.u64(i == 2 ? 0xfee0'0000 : 0);
    w.u32(i == 2 ? 0x22 : 0);
    w.u32(i == 2 ? 0 : Msix::kEntryMasked);
    w.boolean(i == 2);
  }
  Fixture b;
  const auto bytes = w.take();
  StateReader r(bytes, "msix");
  ASSERT_TRUE(b.msix.restore(r).ok());
  EXPECT_EQ(b.vectors[2]->triggers, 1);
  EXPECT_EQ(b.pba(), 0u);
}

TEST(Msix, RestoreRefusesBadStateAndChangesNothing) {
  Fixture a;
  a.msix.write_control(Msix::kControlEnable);
  a.program(0, 0xfee0'0000, 0x20);
  const auto good = a.saved();

  Fixture b;
  b.program(3, 0xfee0'0000, 0x33, false);
  const auto mine = b.saved();
  auto refused = [&](std::vector<uint8_t> bytes, const char* what) {
    StateReader r(bytes, "msix");
    auto res = b.msix.restore(r);
    const bool ok = res.ok() && r.finish().ok();
    EXPECT_FALSE(ok) << what;
    EXPECT_EQ(b.saved(), mine) << what << ": changes nothing";
  };
  auto bad = good;
  bad[1] = 0x20;  // control bit 13
  refused(bad, "control bits a driver cannot set");
  bad = good;
  bad[2] = kCount + 1;  // vector count
  refused(bad, "another function's vector count");
  bad = good;
  bad[2 + 4 + 8 + 4] = 0x02;  // vector 0's control
  refused(bad, "reserved vector control bits");
  bad = good;
  bad.resize(bad.size() - 1);
  refused(bad, "truncated");
  Msix bigger(8, 0, 0, 0, 0);
  StateWriter w;
  bigger.save(w);
  refused(w.take(), "eight vectors");
}

}  // namespace
}  // namespace vireo::pci
