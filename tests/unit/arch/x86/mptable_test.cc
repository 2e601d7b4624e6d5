#include "arch/x86/mptable.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"

namespace vireo::arch::x86 {
namespace {

using Blob = std::vector<uint8_t>;

uint64_t le(const Blob& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t(b.at(at + i)) << (8 * i);
  return v;
}
std::string str(const Blob& b, size_t at, size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data() + at), n);
}
uint8_t sum(const Blob& b, size_t at, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + b.at(at + i));
  return s;
}

// Guest memory from 0 to 1 MiB with the table copied to the EBDA, as the VMM does.
Blob low_memory_with(const Blob& table, uint64_t base) {
  Blob mem(0x100000, 0);
  EXPECT_LE(base + table.size(), mem.size());
  std::copy(table.begin(), table.end(), mem.begin() + base);
  return mem;
}

// MP spec 1.4, 4.1: the floating pointer is searched for on 16-byte boundaries in the
// first KiB of the EBDA, the last KiB of base memory (639 KiB), and 0xf0000-0xfffff.
// Returns its address or 0.
uint64_t scan_for_floating_pointer(const Blob& mem) {
  auto scan = [&](uint64_t start, uint64_t len) -> uint64_t {
    for (uint64_t a = start; a + 16 <= start + len; a += 16) {
      if (str(mem, a, 4) != "_MP_") continue;
      const uint8_t units = mem[a + 8];
      if (units == 0 || sum(mem, a, 16 * units) != 0) continue;
      return a;
    }
    return 0;
  };
  const uint64_t ebda = le(mem, 0x40e, 2) << 4;  // BDA word; 0 here (not set up)
  if (ebda)
    if (auto a = scan(ebda, 0x400)) return a;
  if (auto a = scan(639 * 0x400, 0x400)) return a;
  return scan(0xf0000, 0x10000);
}

Blob build(uint32_t cpus, uint64_t base = layout::kEbdaStart) {
  auto r = build_mptable(cpus, base);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(*r) : Blob{};
}

TEST(MpTable, RejectsBadInput) {
  EXPECT_FALSE(build_mptable(0).ok());
  EXPECT_FALSE(build_mptable(kMpTableMaxCpus + 1).ok());
  EXPECT_FALSE(build_mptable(1, layout::kEbdaStart + 4).ok());
  EXPECT_FALSE(build_mptable(8, layout::kLowRamEnd - 0x40).ok()) << "crosses 0xa0000";
  EXPECT_TRUE(build_mptable(kMpTableMaxCpus).ok());
}

TEST(MpTable, FitsBelowLowRamEndForEveryAllowedCpuCount) {
  for (uint32_t cpus = 1; cpus <= kMpTableMaxCpus; ++cpus) {
    auto t = build(cpus);
    EXPECT_LE(layout::kEbdaStart + t.size(), layout::kLowRamEnd) << cpus;
    EXPECT_EQ(t.size(), 16 + 44 + 20 * cpus + 8 * (1 + 1 + 15 + 2)) << cpus;
  }
}

TEST(MpTable, FoundByTheSpecScanWithValidChecksums) {
  for (uint32_t cpus : {1u, 2u, kMpTableMaxCpus}) {
    SCOPED_TRACE(cpus);
    const Blob mem = low_memory_with(build(cpus), layout::kEbdaStart);
    const uint64_t fp = scan_for_floating_pointer(mem);
    ASSERT_EQ(fp, layout::kEbdaStart);
    EXPECT_EQ(mem[fp + 8], 1) << "length in 16-byte units";
    EXPECT_EQ(mem[fp + 9], 4) << "MP spec 1.4";
    EXPECT_EQ(mem[fp + 11], 0) << "feature 1: config table present";
    EXPECT_EQ(mem[fp + 12] & 0x80, 0) << "virtual wire mode (no IMCR)";

    const uint64_t ct = le(mem, fp + 4, 4);
    ASSERT_NE(ct, 0u);
    EXPECT_EQ(str(mem, ct, 4), "PCMP");
    const uint16_t len = le(mem, ct + 4, 2);
    EXPECT_EQ(mem[ct + 6], 4);
    EXPECT_EQ(sum(mem, ct, len), 0) << "base table checksum";
    EXPECT_LE(ct + len, layout::kLowRamEnd);
    EXPECT_EQ(le(mem, ct + 36, 4), layout::kLapicBase);
    EXPECT_EQ(le(mem, ct + 40, 2), 0u) << "no extended table";
  }
}

TEST(MpTable, EntriesDescribeCpusBusIoapicAndInterrupts) {
  for (uint32_t cpus : {1u, 2u, 16u, kMpTableMaxCpus}) {
    SCOPED_TRACE(cpus);
    const Blob mem = low_memory_with(build(cpus), layout::kEbdaStart);
    const uint64_t ct = le(mem, layout::kEbdaStart + 4, 4);
    const uint64_t end = ct + le(mem, ct + 4, 2);
    const uint16_t count = le(mem, ct + 34, 2);

    uint32_t procs = 0, buses = 0, ioapics = 0, entries = 0;
    uint8_t ioapic = 0xff, last_type = 0;
    std::map<uint8_t, std::pair<uint8_t, uint8_t>> io_ints;  // bus irq -> (apic id, pin)
    std::map<uint8_t, uint8_t> local_ints;                   // LINT# -> type
    uint64_t off = ct + 44;
    while (off < end) {
      const uint8_t type = mem[off];
      EXPECT_GE(type, last_type) << "entries sorted by type";
      last_type = type;
      ++entries;
      switch (type) {
        case 0:
          EXPECT_EQ(mem[off + 1], procs) << "APIC ID";
          EXPECT_EQ(mem[off + 3] & 1, 1) << "enabled";
          EXPECT_EQ((mem[off + 3] >> 1) & 1, procs == 0 ? 1 : 0) << "BSP flag on CPU 0 only";
          ++procs;
          off += 20;
          break;
        case 1:
          EXPECT_EQ(mem[off + 1], 0);
          EXPECT_EQ(str(mem, off + 2, 6), "ISA   ");
          ++buses;
          off += 8;
          break;
        case 2:
          ioapic = mem[off + 1];
          EXPECT_EQ(mem[off + 3] & 1, 1) << "enabled";
          EXPECT_EQ(le(mem, off + 4, 4), layout::kIoapicBase);
          ++ioapics;
          off += 8;
          break;
        case 3:
          EXPECT_EQ(mem[off + 1], 0) << "INT";
          EXPECT_EQ(mem[off + 4], 0) << "source bus ISA";
          EXPECT_FALSE(io_ints.count(mem[off + 5])) << "duplicate IRQ";
          io_ints[mem[off + 5]] = {mem[off + 6], mem[off + 7]};
          off += 8;
          break;
        case 4:
          EXPECT_EQ(mem[off + 6], 0xff) << "all local APICs";
          local_ints[mem[off + 7]] = mem[off + 1];
          off += 8;
          break;
        default:
          ADD_FAILURE() << "unknown entry type " << int(type);
          off = end;
      }
    }
    EXPECT_EQ(off, end);
    EXPECT_EQ(entries, count);
    EXPECT_EQ(procs, cpus);
    EXPECT_EQ(buses, 1u);
    EXPECT_EQ(ioapics, 1u);
    EXPECT_EQ(ioapic, ioapic_id(cpus)) << "same IOAPIC ID as the MADT";
    EXPECT_GE(ioapic, cpus) << "IOAPIC ID differs from the APIC IDs";

    EXPECT_EQ(io_ints.size(), 15u);
    EXPECT_FALSE(io_ints.count(2)) << "IRQ2 is the cascade";
    std::map<uint8_t, int> pins;
    for (const auto& [irq, dst] : io_ints) {
      EXPECT_EQ(dst.first, ioapic) << int(irq);
      EXPECT_EQ(dst.second, irq == 0 ? kPitGsi : irq) << int(irq);
      ++pins[dst.second];
    }
    for (const auto& [pin, n] : pins) EXPECT_EQ(n, 1) << "pin " << int(pin) << " shared";
    ASSERT_EQ(local_ints.size(), 2u);
    EXPECT_EQ(local_ints[0], 3) << "LINT0 ExtINT";
    EXPECT_EQ(local_ints[1], 1) << "LINT1 NMI";
  }
}

TEST(MpTable, PointerFollowsTheBaseAddress) {
  const Blob mem = low_memory_with(build(2, 0xf0000), 0xf0000);
  const uint64_t fp = scan_for_floating_pointer(mem);
  ASSERT_EQ(fp, 0xf0000u);
  EXPECT_EQ(le(mem, fp + 4, 4), 0xf0010u);
  EXPECT_EQ(str(mem, 0xf0010, 4), "PCMP");
}

}  // namespace
}  // namespace vireo::arch::x86
