// The guest physical address map vireo builds on x86-64, and fixed I/O assignments.
#pragma once

#include <cstdint>

namespace vireo::arch::x86::layout {

// --- Low memory (below 1 MiB) -------------------------------------------------------
inline constexpr uint64_t kBootGdt = 0x500;          // GDT for the boot vCPU state
inline constexpr uint64_t kBootIdt = 0x520;          // empty IDT (limit 0)
inline constexpr uint64_t kPvhStartInfo = 0x6000;    // hvm_start_info for the PVH entry
inline constexpr uint64_t kPvhMemmap = 0x6040;       // hvm_memmap_table_entry[] after it
inline constexpr uint64_t kPvhMemmapMaxEntries = 64;
inline constexpr uint64_t kZeroPage = 0x7000;        // Linux boot_params
inline constexpr uint64_t kPml4 = 0x9000;            // identity page tables (64-bit entry)
inline constexpr uint64_t kPdpt = 0xa000;
inline constexpr uint64_t kPd = 0xb000;              // 4 pages: 4 GiB of 2 MiB mappings
inline constexpr uint64_t kBootStack = 0x8ff0;       // initial RSP for the 64-bit entry
inline constexpr uint64_t kCmdline = 0x20000;        // kernel command line
inline constexpr uint64_t kCmdlineMax = 0x10000;     // including the NUL
inline constexpr uint64_t kEbdaStart = 0x9fc00;      // MP table lives here (reserved)
inline constexpr uint64_t kLowRamEnd = 0xa0000;      // end of conventional memory
inline constexpr uint64_t kAcpiStart = 0xe0000;      // RSDP + tables (reserved in e820)
inline constexpr uint64_t kAcpiSize = 0x1f000;       // up to the reset-vector page
inline constexpr uint64_t kBiosResetEntry = 0xffff0; // F000:FFF0, where a BIOS would be
inline constexpr uint64_t kHighMemStart = 0x100000;  // 1 MiB: kernels and test guests

// --- The 32-bit MMIO hole ------------------------------------------------------------
inline constexpr uint64_t kMmioHoleStart = 0xc0000000;  // 3 GiB
inline constexpr uint64_t kMmioHoleEnd = 0x100000000;   // 4 GiB
inline constexpr uint64_t kIoapicBase = 0xfec00000;
inline constexpr uint64_t kLapicBase = 0xfee00000;
inline constexpr uint64_t kPciMmio32Start = 0xc0000000;  // 32-bit PCI BARs: 256 MiB
inline constexpr uint64_t kPciMmio32Size = 0x10000000;
inline constexpr uint64_t kMmioDevicesStart = 0xd0000000;  // virtio-mmio etc.: 256 MiB
// PCI configuration space, memory-mapped (ECAM, announced by the ACPI MCFG table and
// reserved in the e820 map): bus 0 only, 32 devices x 8 functions x 4 KiB.
inline constexpr uint64_t kPciEcamBase = 0xe0000000;
inline constexpr uint64_t kPciEcamSize = 0x100000;
inline constexpr uint8_t kPciBusLast = 0;

// --- Above RAM --------------------------------------------------------------------------
// 64-bit PCI BARs go in a window starting at the first 1 GiB boundary above guest RAM
// (and above 4 GiB), pci_mmio64_start(); 64 GiB of it.
inline constexpr uint64_t kPciMmio64Size = 64ull << 30;
constexpr uint64_t pci_mmio64_start(uint64_t mem_size) {
  const uint64_t low = mem_size < kMmioHoleStart ? mem_size : kMmioHoleStart;
  const uint64_t top = kMmioHoleEnd + (mem_size - low);
  constexpr uint64_t kGiB = 1ull << 30;
  return (top + kGiB - 1) & ~(kGiB - 1);
}

// --- Port I/O ---------------------------------------------------------------------------
inline constexpr uint16_t kPortI8042 = 0x60;        // 0x60 data, 0x64 command/status
inline constexpr uint16_t kPortRtc = 0x70;          // 0x70 index, 0x71 data
inline constexpr uint16_t kPortDebugExit = 0xf4;    // isa-debug-exit compatible
inline constexpr uint16_t kPortCom1 = 0x3f8;
inline constexpr uint16_t kPortPciConfig = 0xcf8;   // 0xcf8 address, 0xcfc-0xcff data
inline constexpr uint16_t kPortPciConfigSize = 8;
inline constexpr uint16_t kPortAcpiPm = 0x600;      // ACPI sleep control/status, reset
inline constexpr uint16_t kPortAcpiPmSize = 0x10;

// --- ISA IRQs (GSIs on the in-kernel IOAPIC) ----------------------------------------
inline constexpr unsigned kIrqI8042Kbd = 1;
inline constexpr unsigned kIrqCom1 = 4;
inline constexpr unsigned kIrqRtc = 8;
inline constexpr unsigned kIrqAcpiSci = 9;

}  // namespace vireo::arch::x86::layout
