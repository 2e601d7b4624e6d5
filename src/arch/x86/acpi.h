// The ACPI tables vireo gives a guest: RSDP, XSDT (and RSDT), FADT (hardware-reduced
// ACPI), MADT and a DSDT with \_S5 and the devices that describe themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "arch/x86/layout.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// The hardware-reduced ACPI power-management register block at layout::kPortAcpiPm.
// devices::AcpiPm implements these registers and the FADT points at them; both use these
// constants. Each register is one byte wide.
namespace acpi_pm {
inline constexpr uint16_t kSleepControlOffset = 0;  // SLEEP_CONTROL_REG (write)
inline constexpr uint16_t kSleepStatusOffset = 1;   // SLEEP_STATUS_REG (read, write 1 to clear)
inline constexpr uint16_t kResetOffset = 2;         // RESET_REG (write)
// SLEEP_CONTROL_REG fields (ACPI 6.x, 4.8.3.7).
inline constexpr uint8_t kSlpTypShift = 2;
inline constexpr uint8_t kSlpTypMask = 0x1c;  // SLP_TYP, bits 2-4
inline constexpr uint8_t kSlpEn = 0x20;       // SLP_EN, bit 5
// SLEEP_STATUS_REG: WAK_STS, bit 7.
inline constexpr uint8_t kWakSts = 0x80;
// SLP_TYP for S5 (soft off): the first element of the DSDT's \_S5 package.
inline constexpr uint8_t kSlpTypS5 = 5;
// The value the guest writes to RESET_REG to reset (FADT RESET_VALUE). Same value PCs
// write to the 0xcf9 reset control register for a hard reset.
inline constexpr uint8_t kResetValue = 0x06;
}  // namespace acpi_pm

// Interrupt wiring the MADT and the MP table both describe.
inline constexpr uint8_t kIsaIrqPit = 0;
// ISA IRQ 0 (the PIT) arrives on IOAPIC input 0: KVM's default GSI routing sends the
// in-kernel PIT to pin 0 (not pin 2 as on PC chipsets), and both tables must say where
// it really is (MADT interrupt source override, MP table I/O interrupt entry).
inline constexpr uint32_t kPitGsi = 0;
inline constexpr uint32_t kIoapicGsiBase = 0;
inline constexpr uint8_t kLapicVersion = 0x14;   // what KVM's in-kernel LAPIC reports
inline constexpr uint8_t kIoapicVersion = 0x11;  // what KVM's in-kernel IOAPIC reports
// The IOAPIC's ID: the first one after the vCPUs' APIC IDs (0..num_cpus-1).
constexpr uint8_t ioapic_id(uint32_t num_cpus) { return static_cast<uint8_t>(num_cpus); }

// xAPIC IDs are 8 bits and 0xff is the broadcast ID; one more ID is the IOAPIC's.
inline constexpr uint32_t kAcpiMaxCpus = 254;

// A PCI host bridge (segment 0) as the guest should find it: configuration space through
// ports 0xcf8/0xcfc and through ECAM, and the address windows its BARs are placed in.
// With it, build_acpi_tables adds an MCFG table and \_SB.PCI0 (PNP0A08, PNP0A03).
struct PciHostBridge {
  // ECAM: bus N's configuration space is the 1 MiB at
  // ecam_base + ((N - bus_first) << 20); 1 MiB aligned.
  uint64_t ecam_base;
  uint8_t bus_first = 0, bus_last = 0;
  uint64_t mmio32_base, mmio32_size;  // below 4 GiB; size 0: no 32-bit window
  uint64_t mmio64_base, mmio64_size;  // size 0: no 64-bit window
};

// Bytes of ECAM space the bridge's buses use: what the e820 map must reserve at ecam_base.
constexpr uint64_t pci_ecam_size(const PciHostBridge& pci) {
  return (uint64_t{pci.bus_last} - pci.bus_first + 1) << 20;
}

struct AcpiConfig {
  uint32_t num_cpus;
  // AML Device() terms for the DSDT's \_SB scope, one per device that describes itself.
  std::vector<std::vector<uint8_t>> device_aml = {};
  std::optional<PciHostBridge> pci = {};
};

struct AcpiTables {
  uint64_t rsdp_gpa;         // guest address of the RSDP (== base_gpa)
  uint64_t base_gpa;         // where `blob` goes in guest memory
  std::vector<uint8_t> blob;  // all tables, RSDP first; at most layout::kAcpiSize bytes
};

// Builds all tables for guest address `base_gpa` (16-byte aligned, below 4 GiB). The RSDP
// comes first, so with the default base a legacy scan of 0xe0000-0xfffff finds it.
// Fails if num_cpus is 0 or above kAcpiMaxCpus, or if `pci` has an empty bus range, a
// misaligned ECAM base or a window that wraps (or, for mmio32, crosses 4 GiB).
Result<AcpiTables> build_acpi_tables(const AcpiConfig& cfg,
                                     uint64_t base_gpa = layout::kAcpiStart);

}  // namespace vireo::arch::x86
