#include "arch/x86/acpi.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <span>
#include <vector>

#include "arch/x86/acpi_tables.h"

namespace vireo::arch::x86 {

namespace {

using acpi::Bytes;
using acpi::ByteWriter;

constexpr size_t kTableAlignment = 16;
constexpr size_t kRsdpSize = 36;
constexpr size_t kFadtSize = 276;  // FADT revision 6
constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorRevision = 3;  // ACPI 6.3
constexpr uint8_t kMadtRevision = 5;       // ACPI 6.3
constexpr uint8_t kDsdtRevision = 2;       // 64-bit AML integers
constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kRsdtRevision = 1;
constexpr uint8_t kMcfgRevision = 1;
constexpr size_t kMcfgSize = acpi::kHeaderSize + 8 + 16;  // one allocation entry
constexpr uint64_t kEcamBusSize = 1ull << 20;  // 32 devices x 8 functions x 4 KiB
constexpr uint64_t k4GiB = 1ull << 32;

// FADT Flags (ACPI 6.x, table 5.10).
constexpr uint32_t kFadtWbinvd = 1u << 0;
constexpr uint32_t kFadtProcC1 = 1u << 2;
constexpr uint32_t kFadtPwrButton = 1u << 4;  // 1: no fixed-feature power button
constexpr uint32_t kFadtSlpButton = 1u << 5;  // 1: no fixed-feature sleep button
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
// IA-PC boot architecture flags (ACPI 6.x, table 5.11).
constexpr uint16_t kBootArchLegacyDevices = 1u << 0;  // ISA devices such as COM1
constexpr uint16_t kBootArch8042 = 1u << 1;           // i8042 at 0x60/0x64
constexpr uint16_t kBootArchNoVga = 1u << 2;

// MADT (ACPI 6.x, 5.2.12).
constexpr uint32_t kMadtPcatCompat = 1u << 0;
constexpr uint8_t kMadtTypeLapic = 0;
constexpr uint8_t kMadtTypeIoapic = 1;
constexpr uint8_t kMadtTypeIntSrcOverride = 2;
constexpr uint8_t kMadtTypeLapicNmi = 4;
constexpr uint32_t kMadtLapicEnabled = 1u << 0;
constexpr uint8_t kMadtAllProcessors = 0xff;
// MPS INTI flags: polarity bits 0-1 (01 active high), trigger mode bits 2-3 (11 level).
constexpr uint16_t kIntiConforming = 0x0;
constexpr uint16_t kIntiActiveHighLevel = 0x1 | (0x3 << 2);
constexpr uint8_t kIsaBus = 0;

size_t align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

Bytes build_madt(uint32_t num_cpus) {
  Bytes t;
  acpi::begin_table(t, "APIC", kMadtRevision);
  ByteWriter w(t);
  w.u32(static_cast<uint32_t>(layout::kLapicBase));
  w.u32(kMadtPcatCompat);
  for (uint32_t cpu = 0; cpu < num_cpus; ++cpu) {
    w.u8(kMadtTypeLapic);
    w.u8(8);
    w.u8(static_cast<uint8_t>(cpu));  // ACPI processor UID
    w.u8(static_cast<uint8_t>(cpu));  // APIC ID (the vCPU index, as in CPUID)
    w.u32(kMadtLapicEnabled);
  }
  w.u8(kMadtTypeIoapic);
  w.u8(12);
  w.u8(ioapic_id(num_cpus));
  w.u8(0);
  w.u32(static_cast<uint32_t>(layout::kIoapicBase));
  w.u32(kIoapicGsiBase);
  auto override_irq = [&](uint8_t irq, uint32_t gsi, uint16_t flags) {
    w.u8(kMadtTypeIntSrcOverride);
    w.u8(10);
    w.u8(kIsaBus);
    w.u8(irq);
    w.u32(gsi);
    w.u16(flags);
  };
  override_irq(kIsaIrqPit, kPitGsi, kIntiConforming);
  override_irq(layout::kIrqAcpiSci, layout::kIrqAcpiSci, kIntiActiveHighLevel);
  w.u8(kMadtTypeLapicNmi);
  w.u8(6);
  w.u8(kMadtAllProcessors);
  w.u16(kIntiConforming);
  w.u8(1);  // LINT1
  acpi::finish_table(t);
  return t;
}

// MCFG (PCI Firmware Specification 3.x, 4.1.2): one allocation for segment 0. Its base
// address is where bus 0 would be, even when the range starts at a later bus.
Bytes build_mcfg(const PciHostBridge& pci) {
  Bytes t;
  acpi::begin_table(t, "MCFG", kMcfgRevision);
  ByteWriter w(t);
  w.zeros(8);  // reserved
  w.u64(pci.ecam_base - pci.bus_first * kEcamBusSize);
  w.u16(0);  // PCI segment group
  w.u8(pci.bus_first);
  w.u8(pci.bus_last);
  w.u32(0);  // reserved
  acpi::finish_table(t);
  assert(t.size() == kMcfgSize);
  return t;
}

// \_SB.PCI0: the host bridge, its buses and the windows it decodes for its devices. The
// config ports are its own (a consumer range); all other I/O ports pass through to PCI.
// No _PRT: vireo's PCI devices interrupt with MSI-X only. _ADR beside _HID makes iasl warn
// ("requires either a _HID or _ADR, but not both"); PC firmware has it and Linux ignores it.
Bytes pci_host_bridge_aml(const PciHostBridge& pci) {
  using aml::MemoryCaching;
  std::vector<Bytes> crs = {
      aml::word_bus_number_descriptor(pci.bus_first, pci.bus_last),
      aml::io_port_descriptor(layout::kPortPciConfig, layout::kPortPciConfig, 1,
                              layout::kPortPciConfigSize),
      aml::word_io_descriptor(0, layout::kPortPciConfig - 1),
      aml::word_io_descriptor(layout::kPortPciConfig + layout::kPortPciConfigSize, 0xffff),
  };
  if (pci.mmio32_size != 0)
    crs.push_back(aml::dword_memory_descriptor(
        static_cast<uint32_t>(pci.mmio32_base),
        static_cast<uint32_t>(pci.mmio32_base + pci.mmio32_size - 1),
        MemoryCaching::kNonCacheable));
  if (pci.mmio64_size != 0)
    crs.push_back(aml::qword_memory_descriptor(pci.mmio64_base,
                                               pci.mmio64_base + pci.mmio64_size - 1,
                                               MemoryCaching::kNonCacheable));
  return aml::device("PCI0", {
                                 aml::name("_HID", aml::eisa_id("PNP0A08")),  // PCI Express
                                 aml::name("_CID", aml::eisa_id("PNP0A03")),  // PCI
                                 aml::name("_ADR", aml::integer(0)),
                                 aml::name("_SEG", aml::integer(0)),
                                 aml::name("_UID", aml::integer(0)),
                                 aml::name("_BBN", aml::integer(pci.bus_first)),
                                 aml::name("_CRS", aml::resource_template(crs)),
                             });
}

Result<void> check_pci(const PciHostBridge& pci) {
  if (pci.bus_first > pci.bus_last)
    return Error(fmt::format("ACPI tables: PCI bus range {}-{} is empty", pci.bus_first,
                             pci.bus_last));
  if (pci.ecam_base % kEcamBusSize != 0)
    return Error(fmt::format("ACPI tables: PCI ECAM base {:#x} is not 1 MiB aligned",
                             pci.ecam_base));
  // The MCFG base is bus 0's address.
  if (pci.ecam_base < pci.bus_first * kEcamBusSize)
    return Error(fmt::format("ACPI tables: PCI ECAM at {:#x} cannot start with bus {} (bus 0 "
                             "would be below address 0)",
                             pci.ecam_base, pci.bus_first));
  // Linux ignores an MCFG base above 4 GiB unless the DMI BIOS date is 2010 or later, and
  // vireo has no DMI tables.
  if (pci.ecam_base + pci_ecam_size(pci) > k4GiB)
    return Error(fmt::format("ACPI tables: PCI ECAM at {:#x} for buses {}-{} is not below 4 GiB",
                             pci.ecam_base, pci.bus_first, pci.bus_last));
  if (pci.mmio32_size != 0 &&
      (pci.mmio32_base >= k4GiB || pci.mmio32_size > k4GiB - pci.mmio32_base))
    return Error(fmt::format("ACPI tables: PCI 32-bit window {:#x}+{:#x} is not below 4 GiB",
                             pci.mmio32_base, pci.mmio32_size));
  if (pci.mmio64_size != 0 && pci.mmio64_size - 1 > UINT64_MAX - pci.mmio64_base)
    return Error(fmt::format("ACPI tables: PCI 64-bit window {:#x}+{:#x} wraps",
                             pci.mmio64_base, pci.mmio64_size));
  return {};
}

// \_S5, the PCI host bridge if any, and the devices' own descriptions (each placed device
// contributes its Device() term; see devices::BusDevice::aml) in the \_SB scope.
Bytes build_dsdt(const std::vector<Bytes>& device_aml, const std::optional<PciHostBridge>& pci) {
  Bytes t;
  acpi::begin_table(t, "DSDT", kDsdtRevision);
  // \_S5: SLP_TYPa, SLP_TYPb, two reserved. Hardware-reduced ACPI uses SLP_TYPa only.
  const Bytes s5 = aml::name("_S5_", aml::package({aml::integer(acpi_pm::kSlpTypS5),
                                                     aml::integer(0), aml::integer(0),
                                                     aml::integer(0)}));
  std::vector<Bytes> sb_terms;
  if (pci) sb_terms.push_back(pci_host_bridge_aml(*pci));
  sb_terms.insert(sb_terms.end(), device_aml.begin(), device_aml.end());
  const Bytes sb = aml::scope("\\_SB_", sb_terms);
  t.insert(t.end(), s5.begin(), s5.end());
  t.insert(t.end(), sb.begin(), sb.end());
  acpi::finish_table(t);
  return t;
}

Bytes build_fadt(uint64_t dsdt_gpa) {
  const uint64_t pm = layout::kPortAcpiPm;
  Bytes t;
  acpi::begin_table(t, "FACP", kFadtRevision);
  ByteWriter w(t);
  w.u32(0);                                   // 36 FIRMWARE_CTRL: no FACS
  w.u32(static_cast<uint32_t>(dsdt_gpa));     // 40 DSDT
  w.u8(0);                                    // 44 reserved
  w.u8(0);                                    // 45 Preferred_PM_Profile: unspecified
  w.u16(layout::kIrqAcpiSci);                 // 46 SCI_INT
  w.zeros(109 - 48);                          // 48 SMI_CMD .. 108 CENTURY: no fixed hardware
  w.u16(kBootArchLegacyDevices | kBootArch8042 | kBootArchNoVga);  // 109 IAPC_BOOT_ARCH
  w.u8(0);                                                         // 111 reserved
  w.u32(kFadtWbinvd | kFadtProcC1 | kFadtPwrButton | kFadtSlpButton | kFadtResetRegSup |
        kFadtHwReducedAcpi);                                       // 112 Flags
  acpi::put_gas(w, acpi::io_port_byte(pm + acpi_pm::kResetOffset));  // 116 RESET_REG
  w.u8(acpi_pm::kResetValue);                                        // 128 RESET_VALUE
  w.u16(0);                                                          // 129 ARM_BOOT_ARCH
  w.u8(kFadtMinorRevision);                                          // 131
  w.u64(0);                                                          // 132 X_FIRMWARE_CTRL
  w.u64(dsdt_gpa);                                                   // 140 X_DSDT
  w.zeros(8 * acpi::kGasSize);  // 148 X_PM1a_EVT_BLK .. X_GPE1_BLK: none
  acpi::put_gas(w, acpi::io_port_byte(pm + acpi_pm::kSleepControlOffset));  // 244
  acpi::put_gas(w, acpi::io_port_byte(pm + acpi_pm::kSleepStatusOffset));   // 256
  w.fixed_string("VIREO", 8, '\0');  // 268 Hypervisor Vendor Identity
  assert(t.size() == kFadtSize);
  acpi::finish_table(t);
  return t;
}

Bytes build_xsdt(std::span<const uint64_t> entries) {
  Bytes t;
  acpi::begin_table(t, "XSDT", kXsdtRevision);
  ByteWriter w(t);
  for (uint64_t e : entries) w.u64(e);
  acpi::finish_table(t);
  return t;
}

Bytes build_rsdt(std::span<const uint64_t> entries) {
  Bytes t;
  acpi::begin_table(t, "RSDT", kRsdtRevision);
  ByteWriter w(t);
  for (uint64_t e : entries) w.u32(static_cast<uint32_t>(e));
  acpi::finish_table(t);
  return t;
}

Bytes build_rsdp(uint64_t rsdt_gpa, uint64_t xsdt_gpa) {
  Bytes t;
  ByteWriter w(t);
  w.fixed_string("RSD PTR ", 8);
  w.u8(0);  // 8 checksum of the first 20 bytes
  w.fixed_string(acpi::kOemId, 6);
  w.u8(2);  // 15 revision: ACPI 2.0+ (has the XSDT)
  w.u32(static_cast<uint32_t>(rsdt_gpa));
  w.u32(kRsdpSize);  // 20 length
  w.u64(xsdt_gpa);   // 24
  w.u8(0);           // 32 extended checksum of all 36 bytes
  w.zeros(3);
  w.patch_u8(8, fw::checksum_byte(std::span(t).first(20)));
  w.patch_u8(32, fw::checksum_byte(t));
  return t;
}

}  // namespace

Result<AcpiTables> build_acpi_tables(const AcpiConfig& cfg, uint64_t base_gpa) {
  if (cfg.num_cpus == 0 || cfg.num_cpus > kAcpiMaxCpus)
    return Error(fmt::format("ACPI tables: {} vCPUs is out of range (1-{})", cfg.num_cpus,
                             kAcpiMaxCpus));
  if (base_gpa % kTableAlignment != 0)
    return Error(fmt::format("ACPI tables: base address {:#x} is not 16-byte aligned", base_gpa));
  if (cfg.pci) VIREO_TRY(check_pci(*cfg.pci));

  // Tables without pointers first, then place everything and fill in the pointers.
  const Bytes madt = build_madt(cfg.num_cpus);
  const Bytes dsdt = build_dsdt(cfg.device_aml, cfg.pci);
  const size_t num_sdt_entries = cfg.pci ? 3 : 2;  // FADT, MADT and MCFG
  size_t cursor = 0;
  auto place = [&cursor](size_t size) {
    const size_t at = align_up(cursor, kTableAlignment);
    cursor = at + size;
    return at;
  };
  const size_t rsdp_off = place(kRsdpSize);
  const size_t xsdt_off = place(acpi::kHeaderSize + 8 * num_sdt_entries);
  const size_t rsdt_off = place(acpi::kHeaderSize + 4 * num_sdt_entries);
  const size_t fadt_off = place(kFadtSize);
  const size_t madt_off = place(madt.size());
  const size_t mcfg_off = cfg.pci ? place(kMcfgSize) : 0;
  const size_t dsdt_off = place(dsdt.size());
  const size_t total = cursor;
  if (total > layout::kAcpiSize)
    return Error(fmt::format("ACPI tables: {} bytes do not fit in {:#x}", total,
                             layout::kAcpiSize));
  if (base_gpa + total > 0x100000000ull)
    return Error(fmt::format("ACPI tables: base address {:#x} is not below 4 GiB", base_gpa));

  const uint64_t fadt_gpa = base_gpa + fadt_off;
  const uint64_t madt_gpa = base_gpa + madt_off;
  const Bytes fadt = build_fadt(base_gpa + dsdt_off);
  std::vector<uint64_t> sdt_entries = {fadt_gpa, madt_gpa};
  if (cfg.pci) sdt_entries.push_back(base_gpa + mcfg_off);
  assert(sdt_entries.size() == num_sdt_entries);
  const Bytes xsdt = build_xsdt(sdt_entries);
  const Bytes rsdt = build_rsdt(sdt_entries);
  const Bytes rsdp = build_rsdp(base_gpa + rsdt_off, base_gpa + xsdt_off);

  AcpiTables out{base_gpa + rsdp_off, base_gpa, Bytes(total, 0)};
  auto put = [&out](size_t off, const Bytes& table) {
    std::copy(table.begin(), table.end(), out.blob.begin() + static_cast<ptrdiff_t>(off));
  };
  put(rsdp_off, rsdp);
  put(xsdt_off, xsdt);
  put(rsdt_off, rsdt);
  put(fadt_off, fadt);
  put(madt_off, madt);
  if (cfg.pci) put(mcfg_off, build_mcfg(*cfg.pci));
  put(dsdt_off, dsdt);
  return out;
}

}  // namespace vireo::arch::x86
