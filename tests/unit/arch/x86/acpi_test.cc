#include "arch/x86/acpi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "arch/x86/acpi_tables.h"
#include "arch/x86/layout.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"

namespace vireo::arch::x86 {
namespace {

using Blob = std::vector<uint8_t>;

// Independent little parsers (the tests do not reuse the builder's writer).
uint64_t le(const Blob& b, size_t at, int n) {
  EXPECT_LE(at + n, b.size());
  uint64_t v = 0;
  for (int i = 0; i < n && at + i < b.size(); ++i) v |= uint64_t(b[at + i]) << (8 * i);
  return v;
}
std::string str(const Blob& b, size_t at, size_t n) {
  if (at + n > b.size()) return {};
  return std::string(reinterpret_cast<const char*>(b.data() + at), n);
}
uint8_t sum(const Blob& b, size_t at, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + b.at(at + i));
  return s;
}
bool contains(const Blob& hay, const Blob& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

AcpiTables build(uint32_t cpus, uint64_t base = layout::kAcpiStart) {
  auto r = build_acpi_tables({cpus}, base);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(*r) : AcpiTables{};
}

// Offset in the blob of a table at guest address `gpa`, after checking that the whole
// table lies in the blob, has signature `sig` and sums to 0.
size_t table_at(const AcpiTables& t, uint64_t gpa, const std::string& sig) {
  EXPECT_GE(gpa, t.base_gpa);
  const size_t off = gpa - t.base_gpa;
  EXPECT_LE(off + 36, t.blob.size()) << sig;
  if (off + 36 > t.blob.size()) return 0;
  EXPECT_EQ(str(t.blob, off, 4), sig);
  const uint32_t len = le(t.blob, off + 4, 4);
  EXPECT_LE(off + len, t.blob.size()) << sig;
  EXPECT_EQ(sum(t.blob, off, len), 0) << sig << " checksum";
  EXPECT_EQ(str(t.blob, off + 10, 6), "VIREO ") << sig;
  EXPECT_EQ(off % 8, 0u) << sig;
  return off;
}

struct Parsed {
  size_t rsdp = 0, xsdt = 0, rsdt = 0, fadt = 0, madt = 0, dsdt = 0;
};

Parsed parse(const AcpiTables& t) {
  Parsed p;
  const Blob& b = t.blob;
  EXPECT_EQ(t.rsdp_gpa, t.base_gpa);  // RSDP first
  p.rsdp = t.rsdp_gpa - t.base_gpa;
  EXPECT_EQ(str(b, p.rsdp, 8), "RSD PTR ");
  EXPECT_EQ(sum(b, p.rsdp, 20), 0) << "RSDP checksum";
  EXPECT_EQ(b[p.rsdp + 15], 2) << "RSDP revision";
  EXPECT_EQ(le(b, p.rsdp + 20, 4), 36u) << "RSDP length";
  EXPECT_EQ(sum(b, p.rsdp, 36), 0) << "RSDP extended checksum";
  EXPECT_EQ(str(b, p.rsdp + 9, 6), "VIREO ");

  p.xsdt = table_at(t, le(b, p.rsdp + 24, 8), "XSDT");
  p.rsdt = table_at(t, le(b, p.rsdp + 16, 4), "RSDT");
  const uint32_t xlen = le(b, p.xsdt + 4, 4);
  const uint32_t rlen = le(b, p.rsdt + 4, 4);
  EXPECT_EQ((xlen - 36) % 8, 0u);
  EXPECT_EQ((rlen - 36) % 4, 0u);
  EXPECT_EQ((xlen - 36) / 8, (rlen - 36) / 4);
  std::map<std::string, uint64_t> by_sig;
  for (size_t i = 0; 36 + 8 * i < xlen; ++i) {
    const uint64_t gpa = le(b, p.xsdt + 36 + 8 * i, 8);
    EXPECT_EQ(le(b, p.rsdt + 36 + 4 * i, 4), gpa) << "RSDT and XSDT differ at " << i;
    const size_t off = gpa - t.base_gpa;
    by_sig[str(b, off, 4)] = gpa;
  }
  EXPECT_EQ(by_sig.size(), 2u);
  p.fadt = table_at(t, by_sig["FACP"], "FACP");
  p.madt = table_at(t, by_sig["APIC"], "APIC");
  p.dsdt = table_at(t, le(b, p.fadt + 140, 8), "DSDT");
  return p;
}

TEST(Acpi, RejectsBadConfig) {
  EXPECT_FALSE(build_acpi_tables({0}).ok());
  EXPECT_FALSE(build_acpi_tables({kAcpiMaxCpus + 1}).ok());
  EXPECT_FALSE(build_acpi_tables({1}, layout::kAcpiStart + 8).ok());
  EXPECT_FALSE(build_acpi_tables({1}, 0xfffffff0).ok());
  EXPECT_TRUE(build_acpi_tables({kAcpiMaxCpus}).ok());
}

TEST(Acpi, AllTablesChecksumAndLinkForVariousCpuCounts) {
  for (uint32_t cpus : {1u, 2u, 64u, kAcpiMaxCpus}) {
    SCOPED_TRACE(cpus);
    auto t = build(cpus);
    EXPECT_EQ(t.base_gpa, layout::kAcpiStart);
    EXPECT_LE(t.blob.size(), layout::kAcpiSize);
    parse(t);
  }
}

TEST(Acpi, TablesFollowTheBaseAddress) {
  auto t = build(2, 0xf0000);
  EXPECT_EQ(t.rsdp_gpa, 0xf0000u);
  auto p = parse(t);
  EXPECT_GT(p.dsdt, 0u);
}

TEST(Acpi, LegacyScanFindsRsdp) {
  // Linux and other OSes look for "RSD PTR " on 16-byte boundaries in 0xe0000-0xfffff and
  // accept the first one whose first 20 bytes sum to 0.
  auto t = build(4);
  Blob bios(0x100000 - 0xe0000, 0);
  ASSERT_LE(t.base_gpa - 0xe0000 + t.blob.size(), bios.size());
  std::copy(t.blob.begin(), t.blob.end(), bios.begin() + (t.base_gpa - 0xe0000));
  uint64_t found = 0;
  for (size_t off = 0; off + 36 <= bios.size(); off += 16) {
    if (str(bios, off, 8) == "RSD PTR " && sum(bios, off, 20) == 0) {
      found = 0xe0000 + off;
      break;
    }
  }
  EXPECT_EQ(found, t.rsdp_gpa);
}

TEST(Acpi, FadtIsHardwareReducedAndPointsAtThePmDevice) {
  auto t = build(2);
  auto p = parse(t);
  const Blob& b = t.blob;
  const size_t f = p.fadt;
  EXPECT_EQ(le(b, f + 4, 4), 276u);  // FADT revision 6 length
  EXPECT_EQ(b[f + 8], 6);            // revision
  EXPECT_EQ(le(b, f + 46, 2), layout::kIrqAcpiSci);
  EXPECT_EQ(le(b, f + 46, 2), 9u);

  const uint32_t flags = le(b, f + 112, 4);
  EXPECT_TRUE(flags & (1u << 20)) << "HW_REDUCED_ACPI";
  EXPECT_TRUE(flags & (1u << 10)) << "RESET_REG_SUP";
  const uint16_t boot_arch = le(b, f + 109, 2);
  EXPECT_TRUE(boot_arch & (1u << 1)) << "8042 present";
  EXPECT_TRUE(boot_arch & (1u << 2)) << "VGA not present";
  EXPECT_FALSE(boot_arch & (1u << 3)) << "MSI not supported";
  EXPECT_FALSE(boot_arch & (1u << 5)) << "CMOS RTC not present";

  // No fixed-hardware register blocks in hardware-reduced ACPI.
  for (size_t off = 56; off < 88; off += 4) EXPECT_EQ(le(b, f + off, 4), 0u) << off;
  for (size_t off = 148; off < 244; ++off) EXPECT_EQ(b[f + off], 0) << off;

  auto expect_io_byte_reg = [&](size_t at, uint64_t port, const char* what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(b[f + at], 1);      // SystemIO
    EXPECT_EQ(b[f + at + 1], 8);  // bit width
    EXPECT_EQ(b[f + at + 2], 0);  // bit offset
    EXPECT_EQ(b[f + at + 3], 1);  // byte access
    EXPECT_EQ(le(b, f + at + 4, 8), port);
  };
  expect_io_byte_reg(116, layout::kPortAcpiPm + devices::AcpiPm::kResetOffset, "RESET_REG");
  EXPECT_EQ(b[f + 128], devices::AcpiPm::kResetValue);
  expect_io_byte_reg(244, layout::kPortAcpiPm + devices::AcpiPm::kSleepControlOffset,
                     "SLEEP_CONTROL_REG");
  expect_io_byte_reg(256, layout::kPortAcpiPm + devices::AcpiPm::kSleepStatusOffset,
                     "SLEEP_STATUS_REG");
  for (auto off : {devices::AcpiPm::kResetOffset, devices::AcpiPm::kSleepControlOffset,
                   devices::AcpiPm::kSleepStatusOffset})
    EXPECT_LT(off, layout::kPortAcpiPmSize);

  EXPECT_EQ(le(b, f + 40, 4), le(b, f + 140, 8)) << "DSDT and X_DSDT agree";
  EXPECT_EQ(le(b, f + 36, 4), 0u) << "no FACS";
  EXPECT_EQ(le(b, f + 132, 8), 0u) << "no X_FACS";
}

struct MadtEntry {
  uint8_t type;
  size_t off;
};

std::vector<MadtEntry> madt_entries(const Blob& b, size_t madt) {
  std::vector<MadtEntry> out;
  const size_t end = madt + le(b, madt + 4, 4);
  size_t off = madt + 44;
  while (off < end) {
    const uint8_t len = b[off + 1];
    EXPECT_GE(len, 2);
    if (len < 2) break;
    out.push_back({b[off], off});
    off += len;
  }
  EXPECT_EQ(off, end) << "entries fill the table exactly";
  return out;
}

TEST(Acpi, MadtDescribesCpusIoapicAndOverrides) {
  for (uint32_t cpus : {1u, 2u, 64u}) {
    SCOPED_TRACE(cpus);
    auto t = build(cpus);
    auto p = parse(t);
    const Blob& b = t.blob;
    EXPECT_EQ(le(b, p.madt + 36, 4), layout::kLapicBase);
    EXPECT_EQ(le(b, p.madt + 40, 4) & 1, 1u) << "PCAT_COMPAT";

    uint32_t lapics = 0, ioapics = 0, nmis = 0;
    std::map<uint8_t, std::pair<uint32_t, uint16_t>> overrides;  // irq -> (gsi, flags)
    std::vector<bool> seen(256, false);
    uint8_t ioapic = 0;
    for (const auto& e : madt_entries(b, p.madt)) {
      switch (e.type) {
        case 0:
          EXPECT_EQ(b[e.off + 1], 8);
          EXPECT_EQ(b[e.off + 2], lapics) << "processor UID";
          EXPECT_EQ(b[e.off + 3], lapics) << "APIC ID = vCPU index";
          EXPECT_EQ(le(b, e.off + 4, 4) & 1, 1u) << "enabled";
          seen[b[e.off + 3]] = true;
          ++lapics;
          break;
        case 1:
          EXPECT_EQ(b[e.off + 1], 12);
          ioapic = b[e.off + 2];
          EXPECT_EQ(le(b, e.off + 4, 4), layout::kIoapicBase);
          EXPECT_EQ(le(b, e.off + 8, 4), 0u) << "GSI base";
          ++ioapics;
          break;
        case 2:
          EXPECT_EQ(b[e.off + 1], 10);
          EXPECT_EQ(b[e.off + 2], 0) << "ISA bus";
          overrides[b[e.off + 3]] = {uint32_t(le(b, e.off + 4, 4)),
                                     uint16_t(le(b, e.off + 8, 2))};
          break;
        case 4:
          EXPECT_EQ(b[e.off + 1], 6);
          EXPECT_EQ(b[e.off + 2], 0xff) << "all processors";
          EXPECT_EQ(b[e.off + 5], 1) << "LINT1";
          ++nmis;
          break;
        default:
          ADD_FAILURE() << "unexpected MADT entry type " << int(e.type);
      }
    }
    EXPECT_EQ(lapics, cpus);
    EXPECT_EQ(ioapics, 1u);
    EXPECT_EQ(nmis, 1u);
    EXPECT_FALSE(seen[ioapic]) << "IOAPIC ID differs from every APIC ID";
    EXPECT_EQ(ioapic, ioapic_id(cpus));
    ASSERT_EQ(overrides.size(), 2u);
    EXPECT_EQ(overrides[0].first, kPitGsi) << "PIT: IRQ0 -> GSI0 (KVM default routing)";
    EXPECT_EQ(overrides[0].second, 0u);
    EXPECT_EQ(overrides[9].first, 9u) << "SCI";
    EXPECT_EQ(overrides[9].second, 0xdu) << "active high, level triggered";
  }
}

TEST(Acpi, DsdtHasS5AndLegacyDevices) {
  // The legacy devices describe themselves at their PC places (as vmm::Vm puts them).
  using devices::BusKind;
  std::vector<Blob> device_aml = {
      devices::Serial(nullptr, nullptr).aml({BusKind::kPio, layout::kPortCom1, 8, layout::kIrqCom1, 0}),
      devices::Rtc().aml({BusKind::kPio, layout::kPortRtc, 2, layout::kIrqRtc, 0}),
      devices::I8042(nullptr).aml({BusKind::kPio, layout::kPortI8042, 5, layout::kIrqI8042Kbd, 0}),
      devices::AcpiPm(nullptr, nullptr).aml({BusKind::kPio, layout::kPortAcpiPm, 16, {}, 0}),
  };
  EXPECT_TRUE(device_aml.back().empty()) << "the FADT describes the PM registers";
  auto r = build_acpi_tables({1, device_aml}, layout::kAcpiStart);
  ASSERT_TRUE(r.ok()) << r.error().message();
  const AcpiTables& t = *r;
  auto p = parse(t);
  const uint32_t len = le(t.blob, p.dsdt + 4, 4);
  const Blob dsdt(t.blob.begin() + p.dsdt, t.blob.begin() + p.dsdt + len);
  EXPECT_EQ(dsdt[8], 2) << "revision 2: 64-bit integers";
  // Name(_S5_, Package(4) {5, Zero, Zero, Zero})
  const Blob s5 = {0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00};
  EXPECT_TRUE(contains(dsdt, s5));
  EXPECT_EQ(s5[9], devices::AcpiPm::kSlpTypS5);
  // \_SB scope, Device(COM1), _HID EisaId("PNP0501")
  EXPECT_TRUE(contains(dsdt, {0x5c, '_', 'S', 'B', '_'}));
  EXPECT_TRUE(contains(dsdt, {0x5b, 0x82}));
  EXPECT_TRUE(contains(dsdt, {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01}));
  // _CRS: IO(Decode16, 0x3f8, 0x3f8, 1, 8), IRQNoFlags() {4}, end tag
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10,
                              0x00, 0x79, 0x00}));
  // Device(RTC0): _HID EisaId("PNP0B00"), IO(Decode16, 0x70, 0x70, 1, 2), IRQNoFlags() {8}
  EXPECT_TRUE(contains(dsdt, {'R', 'T', 'C', '0', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0b, 0x00}));
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02, 0x22, 0x00, 0x01, 0x79}));
  // Device(KBD0): _HID EisaId("PNP0303"), IO 0x60 and 0x64, IRQNoFlags() {1}
  EXPECT_TRUE(contains(dsdt, {'K', 'B', 'D', '0', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x03, 0x03}));
  EXPECT_TRUE(contains(dsdt, {0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01, 0x47, 0x01, 0x64,
                              0x00, 0x64, 0x00, 0x01, 0x01, 0x22, 0x02, 0x00, 0x79}));
}

// --- AML encoder ------------------------------------------------------------------------

// Decodes a PkgLength: returns (value, bytes used).
std::pair<size_t, size_t> decode_pkg_length(const Blob& b) {
  const size_t extra = b[0] >> 6;
  if (extra == 0) return {b[0] & 0x3f, 1};
  size_t v = b[0] & 0x0f;
  for (size_t i = 0; i < extra; ++i) v |= size_t(b[1 + i]) << (4 + 8 * i);
  return {v, 1 + extra};
}

TEST(Aml, PkgLengthEncodings) {
  EXPECT_EQ(aml::pkg_length(0), Blob({0x01}));
  EXPECT_EQ(aml::pkg_length(62), Blob({0x3f}));
  EXPECT_EQ(aml::pkg_length(63), Blob({0x41, 0x04}));  // 65 = 0x41: 2 bytes
  for (size_t payload : {0ul, 1ul, 61ul, 62ul, 63ul, 100ul, 4092ul, 4093ul, 4094ul, 5000ul,
                         1048000ul, 1048573ul, 1048574ul, 2000000ul}) {
    SCOPED_TRACE(payload);
    const Blob enc = aml::pkg_length(payload);
    ASSERT_GE(enc.size(), 1u);
    ASSERT_LE(enc.size(), 4u);
    const auto [value, used] = decode_pkg_length(enc);
    EXPECT_EQ(used, enc.size());
    EXPECT_EQ(value, payload + enc.size()) << "counts itself";
    if (enc.size() > 1) {
      EXPECT_EQ(enc[0] & 0x30, 0) << "bits 4-5 reserved";
    }
  }
}

TEST(Aml, IntegersAndNames) {
  EXPECT_EQ(aml::integer(0), Blob({0x00}));
  EXPECT_EQ(aml::integer(1), Blob({0x01}));
  EXPECT_EQ(aml::integer(5), Blob({0x0a, 0x05}));
  EXPECT_EQ(aml::integer(0x3f8), Blob({0x0b, 0xf8, 0x03}));
  EXPECT_EQ(aml::integer(0x12345678), Blob({0x0c, 0x78, 0x56, 0x34, 0x12}));
  EXPECT_EQ(aml::integer(0x100000000ull), Blob({0x0e, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(aml::eisa_id("PNP0501"), Blob({0x0c, 0x41, 0xd0, 0x05, 0x01}));
  EXPECT_EQ(aml::eisa_id("PNP0A03"), Blob({0x0c, 0x41, 0xd0, 0x0a, 0x03}));
  EXPECT_EQ(aml::name_string("_S5"), Blob({'_', 'S', '5', '_'}));
  EXPECT_EQ(aml::name_string("\\_SB"), Blob({'\\', '_', 'S', 'B', '_'}));
  EXPECT_EQ(aml::name_string("_SB.COM1"),
            Blob({0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'}));
  EXPECT_EQ(aml::name_string("\\A.B.C"),
            Blob({'\\', 0x2f, 3, 'A', '_', '_', '_', 'B', '_', '_', '_', 'C', '_', '_', '_'}));
}

TEST(Aml, NestedPackageLengthsCoverTheirContents) {
  const Blob big(100, 0xaa);
  const Blob buf = aml::buffer(big);
  ASSERT_EQ(buf[0], 0x11);
  const Blob rest(buf.begin() + 1, buf.end());
  const auto [len, used] = decode_pkg_length(rest);
  EXPECT_EQ(len, rest.size());
  EXPECT_EQ(Blob(rest.begin() + used, rest.begin() + used + 2), Blob({0x0a, 100}));

  const Blob dev = aml::device("DEV0", {aml::name("_UID", aml::integer(0))});
  EXPECT_EQ(dev, Blob({0x5b, 0x82, 0x0b, 'D', 'E', 'V', '0', 0x08, '_', 'U', 'I', 'D', 0x00}));
}

TEST(Acpi, ChecksumHelpers) {
  Blob b = {1, 2, 3, 0};
  b[3] = fw::checksum_byte(b);
  EXPECT_EQ(fw::byte_sum(b), 0);
  EXPECT_EQ(b[3], 0xfa);
}

}  // namespace
}  // namespace vireo::arch::x86
