#include "arch/x86/mptable.h"

#include <fmt/format.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_tables.h"

namespace vireo::arch::x86 {

namespace {

using fw::Bytes;
using fw::ByteWriter;

constexpr uint8_t kSpecRev = 4;  // MP spec 1.4
constexpr uint8_t kEntryProcessor = 0;
constexpr uint8_t kEntryBus = 1;
constexpr uint8_t kEntryIoapic = 2;
constexpr uint8_t kEntryIoInterrupt = 3;
constexpr uint8_t kEntryLocalInterrupt = 4;
constexpr uint8_t kCpuEnabled = 1u << 0;
constexpr uint8_t kCpuBootProcessor = 1u << 1;
constexpr uint32_t kCpuSignature = 0x600;            // family 6; informational only
constexpr uint32_t kCpuFeatures = (1u << 0) | (1u << 9);  // FPU, APIC (CPUID.1:EDX)
constexpr uint8_t kIoapicEnabled = 1u << 0;
constexpr uint8_t kIntTypeInt = 0;
constexpr uint8_t kIntTypeNmi = 1;
constexpr uint8_t kIntTypeExtInt = 3;
constexpr uint16_t kIntFlagsConforming = 0;  // polarity and trigger as the bus defines
constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLapics = 0xff;
constexpr unsigned kNumIsaIrqs = 16;
constexpr unsigned kIsaIrqCascade = 2;  // the slave 8259; never a device interrupt

// ISA IRQs 0-15 but the cascade: IRQ 0 goes to input kPitGsi, the rest to their own input.
constexpr uint64_t kNumIoInterrupts = kNumIsaIrqs - 1;
constexpr uint64_t kNumLocalInterrupts = 2;
constexpr uint64_t kFixedSize = kMpFloatingPointerSize + kMpConfigHeaderSize +
                                kMpEntrySize * (2 + kNumIoInterrupts + kNumLocalInterrupts);
static_assert(kFixedSize + kMpTableMaxCpus * kMpProcessorEntrySize <=
              layout::kLowRamEnd - layout::kEbdaStart);
static_assert(kFixedSize + (kMpTableMaxCpus + 1) * kMpProcessorEntrySize >
              layout::kLowRamEnd - layout::kEbdaStart);

void put_config_table(ByteWriter& w, uint32_t num_cpus) {
  const size_t start = w.size();
  const uint8_t ioapic = ioapic_id(num_cpus);
  w.fixed_string("PCMP", 4);
  w.u16(0);  // 4 base table length, patched below
  w.u8(kSpecRev);
  w.u8(0);  // 7 checksum, patched below
  w.fixed_string("VIREO", 8);
  w.fixed_string("VIREO VM", 12);
  w.u32(0);  // OEM table pointer
  w.u16(0);  // OEM table size
  w.u16(static_cast<uint16_t>(num_cpus + 2 + kNumIoInterrupts + kNumLocalInterrupts));
  w.u32(static_cast<uint32_t>(layout::kLapicBase));
  w.u16(0);  // extended table length
  w.u8(0);   // extended table checksum
  w.u8(0);   // reserved

  // Entries sorted by type, as the spec requires.
  for (uint32_t cpu = 0; cpu < num_cpus; ++cpu) {
    w.u8(kEntryProcessor);
    w.u8(static_cast<uint8_t>(cpu));  // local APIC ID
    w.u8(kLapicVersion);
    w.u8(kCpuEnabled | (cpu == 0 ? kCpuBootProcessor : 0));
    w.u32(kCpuSignature);
    w.u32(kCpuFeatures);
    w.zeros(8);
  }
  w.u8(kEntryBus);
  w.u8(kIsaBusId);
  w.fixed_string("ISA", 6);
  w.u8(kEntryIoapic);
  w.u8(ioapic);
  w.u8(kIoapicVersion);
  w.u8(kIoapicEnabled);
  w.u32(static_cast<uint32_t>(layout::kIoapicBase));
  for (unsigned irq = 0; irq < kNumIsaIrqs; ++irq) {
    if (irq == kIsaIrqCascade) continue;
    w.u8(kEntryIoInterrupt);
    w.u8(kIntTypeInt);
    w.u16(kIntFlagsConforming);
    w.u8(kIsaBusId);
    w.u8(static_cast<uint8_t>(irq));
    w.u8(ioapic);
    w.u8(static_cast<uint8_t>(irq == kIsaIrqPit ? kPitGsi - kIoapicGsiBase : irq));
  }
  auto local_interrupt = [&w](uint8_t type, uint8_t lint) {
    w.u8(kEntryLocalInterrupt);
    w.u8(type);
    w.u16(kIntFlagsConforming);
    w.u8(kIsaBusId);
    w.u8(0);
    w.u8(kAllLapics);
    w.u8(lint);
  };
  local_interrupt(kIntTypeExtInt, 0);
  local_interrupt(kIntTypeNmi, 1);

  const size_t length = w.size() - start;
  w.patch_u16(start + 4, static_cast<uint16_t>(length));
}

}  // namespace

Result<std::vector<uint8_t>> build_mptable(uint32_t num_cpus, uint64_t base_gpa) {
  if (num_cpus == 0 || num_cpus > kMpTableMaxCpus)
    return Error(fmt::format("MP table: {} vCPUs is out of range (1-{})", num_cpus,
                             kMpTableMaxCpus));
  if (base_gpa % 16 != 0)
    return Error(fmt::format("MP table: base address {:#x} is not 16-byte aligned", base_gpa));

  Bytes out;
  ByteWriter w(out);
  // Floating pointer structure; the configuration table follows it directly.
  w.fixed_string("_MP_", 4);
  w.u32(static_cast<uint32_t>(base_gpa + kMpFloatingPointerSize));
  w.u8(1);  // length in 16-byte units
  w.u8(kSpecRev);
  w.u8(0);  // 10 checksum
  w.u8(0);  // feature 1: 0 = a configuration table is present
  w.u8(0);  // feature 2: IMCRP clear = virtual wire mode (no IMCR)
  w.zeros(3);
  put_config_table(w, num_cpus);

  const std::span<uint8_t> all(out);
  const auto config = all.subspan(kMpFloatingPointerSize);
  w.patch_u8(kMpFloatingPointerSize + 7, fw::checksum_byte(config));
  w.patch_u8(10, fw::checksum_byte(all.first(kMpFloatingPointerSize)));

  const uint64_t end = base_gpa + out.size();
  if (base_gpa < layout::kLowRamEnd && end > layout::kLowRamEnd)
    return Error(fmt::format("MP table: {} bytes at {:#x} cross the end of low RAM ({:#x})",
                             out.size(), base_gpa, layout::kLowRamEnd));
  if (end > 0x100000000ull)
    return Error(fmt::format("MP table: base address {:#x} is not below 4 GiB", base_gpa));
  return out;
}

}  // namespace vireo::arch::x86
