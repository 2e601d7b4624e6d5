// ConfigSpace: the header a function is built with, the write masks that make read-only
// bytes read-only and BAR sizing work, firmware placement and decoding, the capability
// list, and save/restore (which refuses bytes the space could not hold).
#include "pci/config_space.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace vireo::pci {
namespace {

constexpr Identity kId{.vendor_id = 0x1af4,
                       .device_id = 0x1041,
                       .revision = 1,
                       .class_code = 0x020000,
                       .subsystem_vendor_id = 0x1af4,
                       .subsystem_id = 0x0041};

// Guest-style accesses through read()/write().
uint32_t rd(const ConfigSpace& c, uint32_t off, size_t width = 4) {
  uint32_t v = 0;
  c.read(off, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), width));
  return v;
}
void wr(ConfigSpace& c, uint32_t off, uint32_t v, size_t width = 4) {
  c.write(off, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&v), width));
}

std::vector<uint8_t> saved(const ConfigSpace& c) {
  StateWriter w;
  c.save(w);
  return w.take();
}
Result<void> restore_from(ConfigSpace& c, const std::vector<uint8_t>& bytes) {
  StateReader r(bytes, "test");
  VIREO_TRY(c.restore(r));
  return r.finish();
}

TEST(ConfigSpace, IdentityFields) {
  ConfigSpace c(kId);
  EXPECT_EQ(rd(c, reg::kVendorId, 2), 0x1af4u);
  EXPECT_EQ(rd(c, reg::kDeviceId, 2), 0x1041u);
  EXPECT_EQ(rd(c, reg::kVendorId), 0x1041'1af4u);
  EXPECT_EQ(rd(c, reg::kRevision, 1), 1u);
  EXPECT_EQ(rd(c, reg::kClassCode, 1), 0x00u) << "programming interface";
  EXPECT_EQ(rd(c, reg::kClassCode + 1, 1), 0x00u) << "subclass";
  EXPECT_EQ(rd(c, reg::kClassCode + 2, 1), 0x02u) << "class";
  EXPECT_EQ(rd(c, reg::kRevision), 0x0200'0001u);
  EXPECT_EQ(rd(c, reg::kHeaderType, 1), 0u) << "type 0, single function";
  EXPECT_EQ(rd(c, reg::kSubsystemVendorId, 2), 0x1af4u);
  EXPECT_EQ(rd(c, reg::kSubsystemId, 2), 0x0041u);
  EXPECT_EQ(rd(c, reg::kCommand, 2), 0u) << "decoding off at power-on";
  EXPECT_EQ(rd(c, reg::kStatus, 2), 0u) << "no capabilities yet";
  EXPECT_EQ(rd(c, reg::kCapabilities, 1), 0u);
  EXPECT_EQ(rd(c, reg::kInterruptPin, 1), 0u);
  EXPECT_EQ(c.u16(reg::kVendorId), 0x1af4u);
  EXPECT_EQ(c.u32(reg::kVendorId), 0x1041'1af4u);
}

TEST(ConfigSpace, ReadOnlyBytesIgnoreWrites) {
  ConfigSpace c(kId);
  for (uint32_t off : {reg::kVendorId, reg::kRevision, reg::kHeaderType & ~3u,
                       reg::kSubsystemVendorId, reg::kCapabilities, uint32_t{0x100},
                       uint32_t{0xffc}}) {
    const uint32_t before = rd(c, off);
    wr(c, off, 0xffffffff);
    wr(c, off, 0);
    EXPECT_EQ(rd(c, off), before) << "offset " << off;
  }
  // The interrupt line is scratch space for the driver; the pin next to it is not.
  wr(c, reg::kInterruptLine, 0xffff, 2);
  EXPECT_EQ(rd(c, reg::kInterruptLine, 1), 0xffu);
  EXPECT_EQ(rd(c, reg::kInterruptPin, 1), 0u);
  // Byte writes into a read-only word.
  wr(c, reg::kVendorId + 1, 0x12, 1);
  EXPECT_EQ(rd(c, reg::kVendorId, 2), 0x1af4u);
}

TEST(ConfigSpace, CommandRegisterMask) {
  ConfigSpace c(kId);
  wr(c, reg::kCommand, 0xffff, 2);
  EXPECT_EQ(c.command(), command::kMemorySpace | command::kBusMaster | command::kIntxDisable)
      << "no I/O space (no I/O BARs), no other bits";
  EXPECT_EQ(c.command() & command::kIoSpace, 0);
  // A 4-byte write to command+status leaves status alone.
  wr(c, reg::kCommand, 0xffff'0000);
  EXPECT_EQ(c.command(), 0u);
  EXPECT_EQ(rd(c, reg::kStatus, 2), 0u);
  // Byte access to the high half (INTx disable is bit 10).
  wr(c, reg::kCommand + 1, 0x04, 1);
  EXPECT_EQ(c.command(), command::kIntxDisable);
}

TEST(ConfigSpace, Bar32Sizing) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(1, {0x4000, BarKind::kMemory32, false}).ok());
  const uint32_t at = reg::kBar0 + 4;
  EXPECT_EQ(rd(c, at), 0u) << "32-bit, not prefetchable, not placed";
  wr(c, at, 0xffffffff);
  EXPECT_EQ(rd(c, at), 0xffffc000u) << "~(size - 1), type bits 0";
  wr(c, at, 0xfebc'1234);
  EXPECT_EQ(rd(c, at), 0xfebc'0000u) << "the low bits are fixed";
  EXPECT_EQ(c.bar_address(1), 0xfebc'0000u);
  // The neighbouring registers are not BARs.
  wr(c, reg::kBar0, 0xffffffff);
  wr(c, reg::kBar0 + 8, 0xffffffff);
  EXPECT_EQ(rd(c, reg::kBar0), 0u);
  EXPECT_EQ(rd(c, reg::kBar0 + 8), 0u);
}

TEST(ConfigSpace, Bar32PrefetchableAndLargest) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(0, {1ull << 31, BarKind::kMemory32, true}).ok());
  EXPECT_EQ(rd(c, reg::kBar0), 0x8u) << "prefetchable bit";
  wr(c, reg::kBar0, 0xffffffff);
  EXPECT_EQ(rd(c, reg::kBar0), 0x8000'0008u);
}

TEST(ConfigSpace, Bar64SizingTakesBothDwords) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(2, {0x8000, BarKind::kMemory64, true}).ok());
  const uint32_t lo = reg::kBar0 + 8, hi = reg::kBar0 + 12;
  EXPECT_EQ(rd(c, lo), 0xcu) << "64-bit (0x4) | prefetchable (0x8)";
  EXPECT_EQ(rd(c, hi), 0u);
  wr(c, lo, 0xffffffff);
  wr(c, hi, 0xffffffff);
  EXPECT_EQ(rd(c, lo), 0xffff'800cu);
  EXPECT_EQ(rd(c, hi), 0xffffffffu) << "a 32 KiB BAR may go anywhere in 64 bits";
  wr(c, lo, 0x1234'5000);
  wr(c, hi, 0x10);
  EXPECT_EQ(c.bar_address(2), 0x10'1234'0000u);
  EXPECT_EQ(c.bar(2)->size, 0x8000u);
  EXPECT_FALSE(c.bar(3).has_value()) << "the upper half is not a BAR of its own";
  EXPECT_EQ(c.bar_address(3), 0u);
}

TEST(ConfigSpace, Bar64LargerThan4GiBMasksTheHighDword) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(0, {1ull << 33, BarKind::kMemory64, false}).ok());
  wr(c, reg::kBar0, 0xffffffff);
  wr(c, reg::kBar0 + 4, 0xffffffff);
  EXPECT_EQ(rd(c, reg::kBar0), 0x4u);
  EXPECT_EQ(rd(c, reg::kBar0 + 4), 0xffff'fffeu);
}

TEST(ConfigSpace, SetBarAddressAndDecoding) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(0, {0x8000, BarKind::kMemory64, false}).ok());
  ASSERT_TRUE(c.add_bar(2, {0x1000, BarKind::kMemory32, true}).ok());
  c.set_bar_address(0, 0x40'0000'8000);
  c.set_bar_address(2, 0xc000'1000);
  EXPECT_EQ(c.bar_address(0), 0x40'0000'8000u);
  EXPECT_EQ(c.bar_address(2), 0xc000'1000u);
  EXPECT_EQ(rd(c, reg::kBar0), 0x8004u) << "type bits kept";
  EXPECT_EQ(rd(c, reg::kBar0 + 4), 0x40u);
  EXPECT_EQ(rd(c, reg::kBar0 + 8), 0xc000'1008u);
  // Not decoded until memory decoding is on.
  EXPECT_FALSE(c.decoded_bar(0));
  EXPECT_FALSE(c.decoded_bar(2));
  wr(c, reg::kCommand, command::kMemorySpace, 2);
  EXPECT_EQ(c.decoded_bar(0), 0x40'0000'8000u);
  EXPECT_EQ(c.decoded_bar(2), 0xc000'1000u);
  EXPECT_FALSE(c.decoded_bar(1)) << "no BAR 1";
  EXPECT_FALSE(c.decoded_bar(6)) << "no BAR 6";
  // An address of 0 is a function the guest has not placed.
  c.set_bar_address(2, 0);
  EXPECT_FALSE(c.decoded_bar(2));
  // A BAR that would wrap around the address space does not decode.
  wr(c, reg::kBar0, 0xffffffff);
  wr(c, reg::kBar0 + 4, 0xffffffff);
  EXPECT_FALSE(c.decoded_bar(0));
  wr(c, reg::kCommand, 0, 2);
  c.set_bar_address(2, 0xc000'1000);
  EXPECT_FALSE(c.decoded_bar(2)) << "decoding off";
  // set_bar_address on a BAR that does not exist changes nothing.
  const auto before = saved(c);
  c.set_bar_address(1, 0x1234'0000);  // the upper half of BAR 0
  c.set_bar_address(3, 0x1234'0000);
  c.set_bar_address(9, 0x1234'0000);
  EXPECT_EQ(saved(c), before);
  EXPECT_EQ(c.bar_address(9), 0u);
}

TEST(ConfigSpace, AddBarErrors) {
  ConfigSpace c(kId);
  EXPECT_FALSE(c.add_bar(6, {0x1000, BarKind::kMemory32, false}).ok()) << "no BAR 6";
  EXPECT_FALSE(c.add_bar(5, {0x1000, BarKind::kMemory64, false}).ok()) << "no BAR 6 for the top";
  EXPECT_FALSE(c.add_bar(0, {0x800, BarKind::kMemory32, false}).ok()) << "below 4 KiB";
  EXPECT_FALSE(c.add_bar(0, {0x3000, BarKind::kMemory32, false}).ok()) << "not a power of two";
  EXPECT_FALSE(c.add_bar(0, {0, BarKind::kMemory32, false}).ok());
  EXPECT_FALSE(c.add_bar(0, {1ull << 32, BarKind::kMemory32, false}).ok())
      << "a 32-bit BAR of 4 GiB";
  ASSERT_TRUE(c.add_bar(1, {0x1000, BarKind::kMemory64, false}).ok());
  EXPECT_FALSE(c.add_bar(1, {0x1000, BarKind::kMemory32, false}).ok()) << "taken";
  EXPECT_FALSE(c.add_bar(2, {0x1000, BarKind::kMemory32, false}).ok())
      << "the upper half of BAR 1";
  EXPECT_FALSE(c.add_bar(0, {0x1000, BarKind::kMemory64, false}).ok())
      << "its upper half would be BAR 1";
  EXPECT_TRUE(c.add_bar(0, {0x1000, BarKind::kMemory32, false}).ok());
  EXPECT_TRUE(c.add_bar(3, {1ull << 40, BarKind::kMemory64, false}).ok());
  // Failed declarations wrote nothing.
  EXPECT_EQ(rd(c, reg::kBar0 + 4 * 5), 0u);
}

TEST(ConfigSpace, CapabilityChain) {
  ConfigSpace c(kId);
  const std::vector<uint8_t> body_a = {1, 2, 3};  // 5 bytes in all: the next is 4-aligned
  const std::vector<uint8_t> mask_a = {0x00, 0xff, 0x0f};
  auto a = c.add_capability(0x09, body_a, mask_a);
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ(*a, reg::kFirstCapability);
  EXPECT_NE(rd(c, reg::kStatus, 2) & kStatusCapabilityList, 0u);
  EXPECT_EQ(rd(c, reg::kCapabilities, 1), 0x40u);
  EXPECT_EQ(rd(c, 0x40, 1), 0x09u);
  EXPECT_EQ(rd(c, 0x41, 1), 0u) << "the end of the list";
  EXPECT_EQ(rd(c, 0x42, 1), 1u);
  EXPECT_EQ(rd(c, 0x44, 1), 3u);

  const std::vector<uint8_t> body_b(10, 0xaa);
  auto b = c.add_capability(0x11, body_b);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 0x48u) << "after 0x40 + 5, aligned to 4";
  EXPECT_EQ(rd(c, 0x41, 1), 0x48u) << "the first points at the second";
  EXPECT_EQ(rd(c, 0x49, 1), 0u);
  EXPECT_EQ(rd(c, reg::kCapabilities, 1), 0x40u) << "the head stays";

  // Walk it as a driver does.
  std::vector<uint8_t> ids;
  for (uint32_t p = rd(c, reg::kCapabilities, 1); p; p = rd(c, p + 1, 1)) {
    ids.push_back(static_cast<uint8_t>(rd(c, p, 1)));
    ASSERT_LT(ids.size(), 10u);
  }
  EXPECT_EQ(ids, (std::vector<uint8_t>{0x09, 0x11}));

  // Write masks: the ID and next pointer are read-only; the body as declared.
  wr(c, 0x40, 0xffffffff);
  wr(c, 0x44, 0xff, 1);
  EXPECT_EQ(rd(c, 0x40), 0xff'01'48'09u) << "byte 2 fixed, byte 3 writable";
  EXPECT_EQ(rd(c, 0x44, 1), 0x0fu) << "byte 4: only the low nibble";
  wr(c, 0x48, 0);
  wr(c, 0x4c, 0);
  EXPECT_EQ(rd(c, 0x48), 0xaa'aa'00'11u) << "a read-only capability";
  EXPECT_EQ(rd(c, 0x4c), 0xaa'aa'aa'aau);
  // The status register's capability bit is read-only too.
  wr(c, reg::kStatus, 0, 2);
  EXPECT_NE(rd(c, reg::kStatus, 2) & kStatusCapabilityList, 0u);
}

TEST(ConfigSpace, AddCapabilityErrors) {
  ConfigSpace c(kId);
  const std::vector<uint8_t> body(4, 0);
  const std::vector<uint8_t> short_mask(3, 0xff);
  EXPECT_FALSE(c.add_capability(0x09, body, short_mask).ok()) << "mask of the wrong size";
  EXPECT_EQ(rd(c, reg::kCapabilities, 1), 0u) << "a refused capability is not linked";
  EXPECT_EQ(rd(c, reg::kStatus, 2), 0u);
  // 0x40..0xff holds 192 bytes.
  const std::vector<uint8_t> big(190, 0);
  EXPECT_TRUE(c.add_capability(0x09, big).ok()) << "exactly fills the legacy space";
  EXPECT_FALSE(c.add_capability(0x09, {}).ok()) << "full";
  ConfigSpace d(kId);
  const std::vector<uint8_t> too_big(191, 0);
  EXPECT_FALSE(d.add_capability(0x09, too_big).ok());
}

TEST(ConfigSpace, OutOfRangeReadsOnesAndWritesAreDropped) {
  ConfigSpace c(kId);
  EXPECT_EQ(rd(c, kConfigSize), 0xffffffffu);
  EXPECT_EQ(rd(c, 0xffffffff, 1), 0xffu);
  EXPECT_EQ(rd(c, 0xfffffffe), 0xffffffffu) << "no wrap-around to offset 0";
  // A read straddling the end: the bytes inside, then ones.
  EXPECT_EQ(rd(c, kConfigSize - 2), 0xffff'0000u);
  wr(c, kConfigSize - 2, 0xffffffff);
  wr(c, 0xffffffff, 0xffffffff);
  EXPECT_EQ(rd(c, kConfigSize - 4), 0u);
  uint64_t v = 0;
  c.read(kConfigSize - 4, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&v), 8));
  EXPECT_EQ(v, 0xffffffff'00000000u);
}

TEST(ConfigSpace, SaveRestoreRoundTrip) {
  ConfigSpace a(kId);
  ASSERT_TRUE(a.add_bar(0, {0x8000, BarKind::kMemory64, false}).ok());
  const std::vector<uint8_t> body = {0, 0, 0, 0};
  const std::vector<uint8_t> mask = {0xff, 0xff, 0, 0};
  ASSERT_TRUE(a.add_capability(0x09, body, mask).ok());
  a.set_bar_address(0, 0x40'0000'0000);
  a.commit_initial();
  ConfigSpace b = a;  // the same device, not yet touched by the guest

  wr(a, reg::kCommand, command::kMemorySpace | command::kBusMaster, 2);
  wr(a, reg::kBar0, 0xfe00'0000);
  wr(a, reg::kInterruptLine, 11, 1);
  wr(a, 0x42, 0xbeef, 2);
  const auto s = saved(a);
  ASSERT_EQ(s.size(), saved(b).size());
  auto r = restore_from(b, s);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(saved(b), s);
  EXPECT_EQ(b.decoded_bar(0), 0x40'fe00'0000u);
  EXPECT_EQ(rd(b, 0x42, 2), 0xbeefu);
  EXPECT_EQ(rd(b, reg::kInterruptLine, 1), 11u);
}

TEST(ConfigSpace, RestoreRefusesAChangedReadOnlyByteAndChangesNothing) {
  ConfigSpace a(kId);
  ASSERT_TRUE(a.add_bar(0, {0x1000, BarKind::kMemory32, false}).ok());
  wr(a, reg::kCommand, command::kMemorySpace, 2);
  wr(a, reg::kBar0, 0xc000'0000);
  const auto good = saved(a);

  ConfigSpace b(kId);
  ASSERT_TRUE(b.add_bar(0, {0x1000, BarKind::kMemory32, false}).ok());
  wr(b, reg::kInterruptLine, 5, 1);
  const auto mine = saved(b);
  ASSERT_TRUE(restore_from(b, good).ok());
  ASSERT_TRUE(restore_from(b, mine).ok());

  // Each of these is a space this function could never hold.
  struct Bad {
    const char* what;
    uint32_t offset;
    uint8_t value;
  };
  for (const Bad& bad : {Bad{"vendor ID", reg::kVendorId, 0x86},
                         Bad{"BAR type bits", reg::kBar0, 0x04},
                         Bad{"BAR low bits below the size", reg::kBar0 + 1, 0x01},
                         Bad{"command I/O bit", reg::kCommand, 0x03},
                         Bad{"extended space", 0x800, 1}}) {
    auto s = good;
    s[s.size() - kConfigSize + bad.offset] = bad.value;  // the bytes come last
    EXPECT_FALSE(restore_from(b, s).ok()) << bad.what;
    EXPECT_EQ(saved(b), mine) << bad.what << ": a refused restore changes nothing";
  }
  // Another function's space.
  ConfigSpace other(Identity{.vendor_id = 0x8086, .device_id = 0x1234});
  EXPECT_FALSE(restore_from(b, saved(other)).ok());
  EXPECT_EQ(saved(b), mine);
  // Truncated.
  auto cut = good;
  cut.resize(cut.size() - 1);
  EXPECT_FALSE(restore_from(b, cut).ok());
  EXPECT_EQ(saved(b), mine);
}

TEST(ConfigSpace, ResetRestoresThePowerOnContentsWithFirmwarePlacement) {
  ConfigSpace c(kId);
  ASSERT_TRUE(c.add_bar(0, {0x1000, BarKind::kMemory32, false}).ok());
  c.set_bar_address(0, 0xc000'0000);
  c.commit_initial();
  const auto fresh = saved(c);
  wr(c, reg::kCommand, command::kMemorySpace, 2);
  wr(c, reg::kBar0, 0xd000'0000);
  wr(c, reg::kInterruptLine, 3, 1);
  c.reset();
  EXPECT_EQ(saved(c), fresh);
  EXPECT_EQ(c.bar_address(0), 0xc000'0000u);
  EXPECT_FALSE(c.decoded_bar(0));
}

}  // namespace
}  // namespace vireo::pci
