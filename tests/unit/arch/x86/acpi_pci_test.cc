// The PCI host bridge in the ACPI tables: MCFG, \_SB.PCI0 and its _CRS, and the address
// space descriptors they are built from.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_tables.h"
#include "arch/x86/layout.h"

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
  for (size_t i = 0; i < n && at + i < b.size(); ++i) s = static_cast<uint8_t>(s + b[at + i]);
  return s;
}
bool contains(const Blob& hay, const Blob& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
size_t count(const Blob& hay, const Blob& needle) {
  size_t n = 0;
  for (auto it = hay.begin();; ++it) {
    it = std::search(it, hay.end(), needle.begin(), needle.end());
    if (it == hay.end()) return n;
    ++n;
  }
}

// vireo's layout, as vmm::Vm is to pass it.
PciHostBridge layout_bridge(uint64_t mem_size) {
  PciHostBridge pci{};
  pci.ecam_base = layout::kPciEcamBase;
  pci.bus_first = 0;
  pci.bus_last = layout::kPciBusLast;
  pci.mmio32_base = layout::kPciMmio32Start;
  pci.mmio32_size = layout::kPciMmio32Size;
  pci.mmio64_base = layout::pci_mmio64_start(mem_size);
  pci.mmio64_size = layout::kPciMmio64Size;
  return pci;
}

AcpiTables build(std::optional<PciHostBridge> pci) {
  auto r = build_acpi_tables({2, {}, pci});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(*r) : AcpiTables{};
}

// One table, cut out of the blob after checking its length and checksum.
Blob table(const AcpiTables& t, uint64_t gpa) {
  EXPECT_GE(gpa, t.base_gpa);
  const size_t off = gpa - t.base_gpa;
  const uint32_t len = le(t.blob, off + 4, 4);
  EXPECT_GE(len, 36u);
  EXPECT_LE(off + len, t.blob.size());
  if (len < 36 || off + len > t.blob.size()) return {};
  EXPECT_EQ(sum(t.blob, off, len), 0) << str(t.blob, off, 4) << " checksum";
  EXPECT_EQ(off % 8, 0u);
  return Blob(t.blob.begin() + off, t.blob.begin() + off + len);
}

// The tables the XSDT lists by signature, after checking the RSDT lists the same ones.
std::map<std::string, Blob> listed_tables(const AcpiTables& t) {
  const Blob& b = t.blob;
  const size_t rsdp = t.rsdp_gpa - t.base_gpa;
  const Blob xsdt = table(t, le(b, rsdp + 24, 8));
  const Blob rsdt = table(t, le(b, rsdp + 16, 4));
  EXPECT_EQ(str(xsdt, 0, 4), "XSDT");
  EXPECT_EQ(str(rsdt, 0, 4), "RSDT");
  EXPECT_EQ((xsdt.size() - 36) / 8, (rsdt.size() - 36) / 4);
  std::map<std::string, Blob> out;
  for (size_t i = 0; 36 + 8 * i < xsdt.size(); ++i) {
    const uint64_t gpa = le(xsdt, 36 + 8 * i, 8);
    EXPECT_EQ(le(rsdt, 36 + 4 * i, 4), gpa) << "RSDT and XSDT differ at " << i;
    Blob tb = table(t, gpa);
    out[str(tb, 0, 4)] = std::move(tb);
  }
  return out;
}

Blob dsdt_of(const AcpiTables& t) {
  auto tables = listed_tables(t);
  return table(t, le(tables["FACP"], 140, 8));
}

// --- Address space descriptors (ACPI 6.x, 6.4.3.5) --------------------------------------

TEST(AmlAddressSpace, WordBusNumber) {
  // WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xff, 0, 0x100)
  EXPECT_EQ(aml::word_bus_number_descriptor(0, 0xff),
            Blob({0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,  // tag, length 13, bus, flags
                  0x00, 0x00,                          // granularity
                  0x00, 0x00, 0xff, 0x00,              // min, max
                  0x00, 0x00, 0x00, 0x01}));           // translation, length
  EXPECT_EQ(aml::word_bus_number_descriptor(2, 2),
            Blob({0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x02, 0x00,
                  0x00, 0x00, 0x01, 0x00}));
}

TEST(AmlAddressSpace, WordIo) {
  // WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0, 0xcf7, 0,
  //        0xcf8)
  EXPECT_EQ(aml::word_io_descriptor(0, 0xcf7),
            Blob({0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x0c,
                  0x00, 0x00, 0xf8, 0x0c}));
  EXPECT_EQ(aml::word_io_descriptor(0x0d00, 0xffff),
            Blob({0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff,
                  0x00, 0x00, 0x00, 0xf3}));
}

TEST(AmlAddressSpace, DWordMemory) {
  // DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
  //             0, 0xc0000000, 0xcfffffff, 0, 0x10000000)
  EXPECT_EQ(aml::dword_memory_descriptor(0xc0000000, 0xcfffffff,
                                         aml::MemoryCaching::kNonCacheable),
            Blob({0x87, 0x17, 0x00, 0x00, 0x0c, 0x01,  // tag, length 23, memory, flags
                  0x00, 0x00, 0x00, 0x00,              // granularity
                  0x00, 0x00, 0x00, 0xc0,              // min
                  0xff, 0xff, 0xff, 0xcf,              // max
                  0x00, 0x00, 0x00, 0x00,              // translation
                  0x00, 0x00, 0x00, 0x10}));           // length
  // _MEM is bits 1-2: Cacheable 1, WriteCombining 2, Prefetchable 3; _RW stays set.
  EXPECT_EQ(aml::dword_memory_descriptor(0, 0xfff, aml::MemoryCaching::kCacheable)[5], 0x03);
  EXPECT_EQ(aml::dword_memory_descriptor(0, 0xfff, aml::MemoryCaching::kWriteCombining)[5],
            0x05);
  EXPECT_EQ(aml::dword_memory_descriptor(0, 0xfff, aml::MemoryCaching::kPrefetchable)[5], 0x07);
}

TEST(AmlAddressSpace, QWordMemory) {
  // QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
  //             0, 0x1_0000_0000, 0x10_ffff_ffff, 0, 0x10_0000_0000)
  EXPECT_EQ(aml::qword_memory_descriptor(0x100000000ull, 0x10ffffffffull,
                                         aml::MemoryCaching::kNonCacheable),
            Blob({0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01,            // tag, length 43, flags
                  0, 0, 0, 0, 0, 0, 0, 0,                        // granularity
                  0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,  // min
                  0xff, 0xff, 0xff, 0xff, 0x10, 0x00, 0x00, 0x00,  // max
                  0, 0, 0, 0, 0, 0, 0, 0,                        // translation
                  0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00}));  // length
}

// --- MCFG --------------------------------------------------------------------------------

TEST(AcpiMcfg, ListedInXsdtAndRsdtWithOneAllocation) {
  const PciHostBridge pci = layout_bridge(1ull << 30);
  auto t = build(pci);
  auto tables = listed_tables(t);
  ASSERT_EQ(tables.size(), 3u);
  ASSERT_TRUE(tables.count("FACP") && tables.count("APIC") && tables.count("MCFG"));
  const Blob& m = tables["MCFG"];
  ASSERT_EQ(m.size(), 60u) << "header, 8 reserved bytes, one 16-byte allocation";
  EXPECT_EQ(m[8], 1) << "revision";
  EXPECT_EQ(str(m, 10, 6), "VIREO ");
  EXPECT_EQ(le(m, 36, 8), 0u) << "reserved";
  EXPECT_EQ(le(m, 44, 8), layout::kPciEcamBase) << "base address";
  EXPECT_EQ(le(m, 52, 2), 0u) << "segment group";
  EXPECT_EQ(m[54], 0) << "start bus";
  EXPECT_EQ(m[55], layout::kPciBusLast) << "end bus";
  EXPECT_EQ(le(m, 56, 4), 0u) << "reserved";
  EXPECT_EQ(sum(m, 0, m.size()), 0);
  EXPECT_LE(t.blob.size(), layout::kAcpiSize);
}

TEST(AcpiMcfg, BaseAddressIsBusZerosWhenTheRangeStartsLater) {
  PciHostBridge pci = layout_bridge(1ull << 30);
  pci.bus_first = 2;
  pci.bus_last = 3;
  EXPECT_EQ(pci_ecam_size(pci), 2u << 20);
  auto tables = listed_tables(build(pci));
  const Blob& m = tables["MCFG"];
  EXPECT_EQ(le(m, 44, 8), layout::kPciEcamBase - (2u << 20));
  EXPECT_EQ(m[54], 2);
  EXPECT_EQ(m[55], 3);
}

TEST(AcpiMcfg, AbsentWithoutPci) {
  auto tables = listed_tables(build(std::nullopt));
  EXPECT_EQ(tables.size(), 2u);
  EXPECT_FALSE(tables.count("MCFG"));
  EXPECT_FALSE(contains(dsdt_of(build(std::nullopt)), {'P', 'C', 'I', '0'}));
}

TEST(AcpiMcfg, RejectsBadBridges) {
  auto rejects = [](PciHostBridge pci, const char* what) {
    auto r = build_acpi_tables({1, {}, pci});
    EXPECT_FALSE(r.ok()) << what;
    if (!r.ok()) EXPECT_NE(r.error().message().find("PCI"), std::string::npos) << what;
  };
  const PciHostBridge good = layout_bridge(1ull << 30);
  EXPECT_TRUE(build_acpi_tables({1, {}, good}).ok());
  PciHostBridge p = good;
  p.bus_first = 1;
  rejects(p, "bus_first > bus_last");
  p = good;
  p.ecam_base += 0x1000;
  rejects(p, "misaligned ECAM");
  p = good;
  p.ecam_base = 1ull << 32;
  rejects(p, "ECAM above 4 GiB");
  p = good;
  p.ecam_base = 0;
  p.bus_first = p.bus_last = 1;
  rejects(p, "bus 0 would be below 0");
  p = good;
  p.mmio32_base = 0xf0000000;
  p.mmio32_size = 0x20000000;
  rejects(p, "32-bit window crosses 4 GiB");
  p = good;
  p.mmio64_base = ~0ull - 0xfff;
  p.mmio64_size = 0x2000;
  rejects(p, "64-bit window wraps");
}

// --- \_SB.PCI0 ---------------------------------------------------------------------------

// Name(_CRS, ResourceTemplate() {...}) for vireo's layout with 1 GiB of RAM.
Blob expected_crs_buffer() {
  Blob crs = {
      // WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0, 0, 1)
      0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x01, 0x00,
      // IO(Decode16, 0xcf8, 0xcf8, 1, 8)
      0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
      // WordIO(..., EntireRange, 0, 0x0000, 0x0cf7, 0, 0x0cf8)
      0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x0c, 0x00, 0x00,
      0xf8, 0x0c,
      // WordIO(..., EntireRange, 0, 0x0d00, 0xffff, 0, 0xf300)
      0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff, 0x00, 0x00,
      0x00, 0xf3,
      // DWordMemory(..., NonCacheable, ReadWrite, 0, 0xc0000000, 0xcfffffff, 0, 0x10000000)
      0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0,
      0xff, 0xff, 0xff, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
      // QWordMemory(..., NonCacheable, ReadWrite, 0, 0x1_0000_0000, 0x10_ffff_ffff, 0,
      //             0x10_0000_0000): 1 GiB of RAM is all below 3 GiB, so the window
      //             starts at 4 GiB.
      0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0,  //
      0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,              // min 4 GiB
      0xff, 0xff, 0xff, 0xff, 0x10, 0x00, 0x00, 0x00,              // max 68 GiB - 1
      0, 0, 0, 0, 0, 0, 0, 0,                                      //
      0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,              // 64 GiB
      // End tag
      0x79, 0x00};
  // Name(_CRS, Buffer(PkgLength 0x86 in two bytes, BufferSize ByteConst 0x82) {...})
  EXPECT_EQ(crs.size(), 0x82u);
  Blob out = {0x08, '_', 'C', 'R', 'S', 0x11, 0x46, 0x08, 0x0a, 0x82};
  out.insert(out.end(), crs.begin(), crs.end());
  return out;
}

TEST(AcpiPci0, DsdtHasTheHostBridgeWithItsCrs) {
  const PciHostBridge pci = layout_bridge(1ull << 30);
  ASSERT_EQ(pci.mmio64_base, 1ull << 32);
  const Blob dsdt = dsdt_of(build(pci));
  // Device(PCI0) in \_SB, with its names in order.
  const Blob names = {
      'P', 'C', 'I', '0',                                        //
      0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08,    // EisaId("PNP0A08")
      0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03,    // EisaId("PNP0A03")
      0x08, '_', 'A', 'D', 'R', 0x00,                            // Zero
      0x08, '_', 'S', 'E', 'G', 0x00,                            // Zero
      0x08, '_', 'U', 'I', 'D', 0x00,                            // Zero
      0x08, '_', 'B', 'B', 'N', 0x00,                            // Zero
  };
  Blob device = names;
  const Blob crs = expected_crs_buffer();
  device.insert(device.end(), crs.begin(), crs.end());
  // DeviceOp, PkgLength (2 bytes: 0x4X 0xYY), then the body above, exactly.
  const size_t total = device.size() + 2;
  Blob full = {0x5b, 0x82};  // DeviceOp
  full.push_back(static_cast<uint8_t>(0x40 | (total & 0xf)));
  full.push_back(static_cast<uint8_t>(total >> 4));
  full.insert(full.end(), device.begin(), device.end());
  EXPECT_TRUE(contains(dsdt, full));
  EXPECT_EQ(count(dsdt, {'P', 'C', 'I', '0'}), 1u);
  EXPECT_FALSE(contains(dsdt, {'_', 'P', 'R', 'T'})) << "MSI-X only: no _PRT";
}

TEST(AcpiPci0, WindowsFollowTheConfig) {
  PciHostBridge pci = layout_bridge(6ull << 30);
  EXPECT_EQ(pci.mmio64_base, 7ull << 30) << "4 GiB + 3 GiB of high RAM";
  pci.bus_last = 3;
  pci.mmio32_size = 0;  // no 32-bit window
  const Blob dsdt = dsdt_of(build(pci));
  EXPECT_TRUE(contains(dsdt, aml::word_bus_number_descriptor(0, 3)));
  EXPECT_FALSE(contains(dsdt, {0x87, 0x17, 0x00})) << "no DWordMemory";
  EXPECT_TRUE(contains(dsdt, aml::qword_memory_descriptor((7ull << 30),
                                                          (7ull << 30) + (64ull << 30) - 1,
                                                          aml::MemoryCaching::kNonCacheable)));
  pci.bus_first = 1;
  pci.ecam_base = layout::kPciEcamBase;
  const Blob dsdt2 = dsdt_of(build(pci));
  EXPECT_TRUE(contains(dsdt2, {0x08, '_', 'B', 'B', 'N', 0x01})) << "_BBN is bus_first";
}

TEST(AcpiPci0, ComesBeforeTheOtherDevicesAndKeepsThem) {
  const Blob dev = aml::device("COM1", {aml::name("_UID", aml::integer(0))});
  auto r = build_acpi_tables({1, {dev}, layout_bridge(1ull << 30)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Blob dsdt = dsdt_of(*r);
  auto pci0 = std::search(dsdt.begin(), dsdt.end(), dev.begin(), dev.end());
  ASSERT_NE(pci0, dsdt.end());
  const Blob name = {'P', 'C', 'I', '0'};
  EXPECT_LT(std::search(dsdt.begin(), dsdt.end(), name.begin(), name.end()), pci0);
}

// --- iasl (ACPICA): the tables parse, and read back as what we meant -------------------

bool have_iasl() { return std::system("command -v iasl >/dev/null 2>&1") == 0; }

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

struct Iasl {
  std::string dsl;  // `iasl -d` of the table
  Blob aml;         // that ASL compiled again by iasl (when asked for)
};

// Disassembles `table` with `iasl -d` in a fresh directory and, if `recompile`, compiles
// the result again.
Iasl run_iasl(const Blob& table, const std::string& name, bool recompile) {
  char dir_template[] = "/tmp/vireo-iasl-XXXXXX";
  const char* dir_c = ::mkdtemp(dir_template);
  EXPECT_NE(dir_c, nullptr);
  if (!dir_c) return {};
  const std::string dir = dir_c;
  std::ofstream(dir + "/" + name + ".dat", std::ios::binary)
      .write(reinterpret_cast<const char*>(table.data()),
             static_cast<std::streamsize>(table.size()));
  auto run = [&dir](const std::string& args) {
    const std::string cmd = "cd " + dir + " && iasl " + args + " >iasl.log 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << "iasl " << args << ":\n"
                                           << read_text(dir + "/iasl.log");
  };
  Iasl out;
  run("-d " + name + ".dat");
  out.dsl = read_text(dir + "/" + name + ".dsl");
  if (recompile) {
    run("-p again " + name + ".dsl");
    const std::string aml = read_text(dir + "/again.aml");
    out.aml.assign(aml.begin(), aml.end());
  }
  std::filesystem::remove_all(dir);
  return out;
}

// Skips where iasl is missing, except under CI (scripts/install-deps.sh installs it).
#define REQUIRE_IASL()                                                              \
  do {                                                                              \
    if (!have_iasl()) {                                                             \
      if (std::getenv("CI")) FAIL() << "iasl (acpica-tools) is required under CI";  \
      GTEST_SKIP() << "iasl (acpica-tools) is not installed";                       \
    }                                                                               \
  } while (0)

// The ASL without comments and white space: iasl aligns columns and names every field in
// a comment ("0x0CF8, // Range Minimum").
std::string squeeze(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "//") == 0) {
      i = s.find('\n', i);
      if (i == std::string::npos) break;
    } else if (s.compare(i, 2, "/*") == 0) {
      i = s.find("*/", i);
      if (i == std::string::npos) break;
      ++i;
    } else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') {
      out.push_back(s[i]);
    }
  }
  return out;
}

TEST(AcpiIasl, DsdtDisassemblesToThePciHostBridge) {
  REQUIRE_IASL();
  const Blob dsdt = dsdt_of(build(layout_bridge(1ull << 30)));
  const Iasl iasl = run_iasl(dsdt, "dsdt", true);
  const std::string dsl = squeeze(iasl.dsl);
  ASSERT_FALSE(dsl.empty());
  for (const char* want : {
           "Device(PCI0)",
           "Name(_HID,EisaId(\"PNP0A08\")",
           "Name(_CID,EisaId(\"PNP0A03\")",
           "Name(_CRS,ResourceTemplate()",
           "WordBusNumber(ResourceProducer,MinFixed,MaxFixed,PosDecode,0x0000,0x0000,0x0000,"
           "0x0000,0x0001,",
           "IO(Decode16,0x0CF8,0x0CF8,0x01,0x08,",
           "WordIO(ResourceProducer,MinFixed,MaxFixed,PosDecode,EntireRange,0x0000,0x0000,"
           "0x0CF7,0x0000,0x0CF8,",
           "WordIO(ResourceProducer,MinFixed,MaxFixed,PosDecode,EntireRange,0x0000,0x0D00,"
           "0xFFFF,0x0000,0xF300,",
           "DWordMemory(ResourceProducer,PosDecode,MinFixed,MaxFixed,NonCacheable,ReadWrite,"
           "0x00000000,0xC0000000,0xCFFFFFFF,0x00000000,0x10000000,",
           "QWordMemory(ResourceProducer,PosDecode,MinFixed,MaxFixed,NonCacheable,ReadWrite,"
           "0x0000000000000000,0x0000000100000000,0x00000010FFFFFFFF,0x0000000000000000,"
           "0x0000001000000000,",
       })
    EXPECT_NE(dsl.find(squeeze(want)), std::string::npos) << want << "\n" << dsl;

  // iasl compiles that ASL back to the very bytes of our Device(PCI0): DeviceOp, a 2-byte
  // PkgLength, then the body.
  const Blob name = {'P', 'C', 'I', '0'};
  const size_t at = std::search(dsdt.begin(), dsdt.end(), name.begin(), name.end()) -
                    dsdt.begin();
  ASSERT_GE(at, 4u);
  ASSERT_EQ(dsdt[at - 4], 0x5b);
  ASSERT_EQ(dsdt[at - 2] >> 6, 1) << "2-byte PkgLength";
  const size_t len = (dsdt[at - 2] & 0xf) | (size_t(dsdt[at - 1]) << 4);
  ASSERT_LE(at - 2 + len, dsdt.size());
  const Blob device(dsdt.begin() + (at - 4), dsdt.begin() + (at - 2 + len));
  ASSERT_FALSE(iasl.aml.empty());
  EXPECT_TRUE(contains(iasl.aml, device));
}

TEST(AcpiIasl, McfgDisassembles) {
  REQUIRE_IASL();
  auto tables = listed_tables(build(layout_bridge(1ull << 30)));
  const std::string dsl = squeeze(run_iasl(tables["MCFG"], "mcfg", false).dsl);
  ASSERT_FALSE(dsl.empty());
  for (const char* want : {"Signature:\"MCFG\"", "BaseAddress:00000000E0000000",
                           "SegmentGroupNumber:0000", "StartBusNumber:00", "EndBusNumber:00"})
    EXPECT_NE(dsl.find(want), std::string::npos) << want << "\n" << dsl;
}

}  // namespace
}  // namespace vireo::arch::x86
