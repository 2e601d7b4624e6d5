// The Intel MultiProcessor Specification 1.4 table, for guests booted with acpi=off.
#pragma once

#include <cstdint>
#include <vector>

#include "arch/x86/layout.h"
#include "util/result.h"

namespace vireo::arch::x86 {

// Sizes of the MP structures (MP spec 1.4, chapter 4).
inline constexpr uint64_t kMpFloatingPointerSize = 16;
inline constexpr uint64_t kMpConfigHeaderSize = 44;
inline constexpr uint64_t kMpProcessorEntrySize = 20;
inline constexpr uint64_t kMpEntrySize = 8;  // bus, I/O APIC, I/O and local interrupts

// The table for this many vCPUs still fits between layout::kEbdaStart and
// layout::kLowRamEnd (1 KiB).
inline constexpr uint32_t kMpTableMaxCpus = 40;

// Builds the floating pointer structure (at `base_gpa`, 16-byte aligned) followed by the
// configuration table, as one blob to copy to `base_gpa`. Processor entries have APIC
// ID = vCPU index, CPU 0 is the boot processor; ISA IRQs go to the IOAPIC (IRQ 0 to
// input kPitGsi), LINT0 is ExtINT and LINT1 NMI. Fails if num_cpus is 0 or the table would
// reach layout::kLowRamEnd.
Result<std::vector<uint8_t>> build_mptable(uint32_t num_cpus,
                                           uint64_t base_gpa = layout::kEbdaStart);

}  // namespace vireo::arch::x86
