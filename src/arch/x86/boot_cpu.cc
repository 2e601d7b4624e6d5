#include "arch/x86/boot_cpu.h"

#include <algorithm>
#include <cstring>

#include "arch/x86/gdt.h"
#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

namespace {

constexpr uint64_t kCr0Pe = 1ull << 0;
constexpr uint64_t kCr0Et = 1ull << 4;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;

constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWrite = 1ull << 1;
constexpr uint64_t kPtePageSize = 1ull << 7;

constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrTsc = 0x10;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrMtrrDefType = 0x2ff;

constexpr uint64_t kMiscEnableFastString = 1;
constexpr uint64_t kMtrrEnable = 1ull << 11;
constexpr uint64_t kMtrrTypeWriteBack = 6;

constexpr uint32_t kApicLvt0 = 0x350;
constexpr uint32_t kApicLvt1 = 0x360;
constexpr uint32_t kApicModeNmi = 0x4;
constexpr uint32_t kApicModeExtInt = 0x7;

}  // namespace

Result<void> write_boot_tables(const memory::GuestMemory& mem, EntryMode mode) {
  auto gdt = boot_gdt();
  VIREO_TRY(mem.write_obj(layout::kBootGdt, gdt));
  VIREO_TRY(mem.write_obj<uint64_t>(layout::kBootIdt, 0));
  if (mode != EntryMode::kLong64) return {};
  // PML4[0] -> PDPT; PDPT[0..3] -> four PDs; each PD maps 1 GiB with 2 MiB pages.
  VIREO_TRY(mem.write_obj<uint64_t>(layout::kPml4, layout::kPdpt | kPtePresent | kPteWrite));
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t pd = layout::kPd + i * 0x1000;
    VIREO_TRY(mem.write_obj<uint64_t>(layout::kPdpt + i * 8, pd | kPtePresent | kPteWrite));
    std::array<uint64_t, 512> entries;
    for (uint64_t j = 0; j < 512; ++j)
      entries[j] = ((i << 30) + (j << 21)) | kPtePresent | kPteWrite | kPtePageSize;
    VIREO_TRY(mem.write_obj(pd, entries));
  }
  return {};
}

void setup_boot_sregs(kvm_sregs& sregs, EntryMode mode) {
  auto gdt = boot_gdt();
  sregs.gdt.base = layout::kBootGdt;
  sregs.gdt.limit = sizeof(uint64_t) * gdt.size() - 1;
  sregs.idt.base = layout::kBootIdt;
  sregs.idt.limit = 0;

  const bool long_mode = mode == EntryMode::kLong64;
  sregs.cs = long_mode ? segment_from_gdt(gdt[kSelCode64 / 8], kSelCode64)
                       : segment_from_gdt(gdt[kSelCode32 / 8], kSelCode32);
  kvm_segment data = segment_from_gdt(gdt[kSelData / 8], kSelData);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = segment_from_gdt(gdt[kSelTss / 8], kSelTss);
  sregs.tr.limit = 0x67;
  sregs.tr.g = 0;

  sregs.cr0 = (sregs.cr0 | kCr0Pe | kCr0Et) & ~kCr0Pg;
  sregs.cr4 = 0;
  sregs.efer = 0;
  sregs.cr3 = 0;
  if (long_mode) {
    sregs.cr3 = layout::kPml4;
    sregs.cr4 = kCr4Pae;
    sregs.cr0 |= kCr0Pg;
    sregs.efer = kEferLme | kEferLma;
  }
}

kvm_regs boot_regs(EntryMode mode, uint64_t entry, uint64_t boot_info_gpa) {
  kvm_regs r{};
  r.rflags = 0x2;  // bit 1 is always set; IF clear
  r.rip = entry;
  if (mode == EntryMode::kLong64) {
    r.rsi = boot_info_gpa;
    r.rsp = layout::kBootStack;
    r.rbp = layout::kBootStack;
  } else {
    r.rbx = boot_info_gpa;
  }
  return r;
}

kvm_fpu boot_fpu() {
  kvm_fpu f{};
  f.fcw = 0x37f;
  f.mxcsr = 0x1f80;
  return f;
}

std::vector<std::pair<uint32_t, uint64_t>> boot_msrs(const std::vector<uint32_t>& supported) {
  const std::vector<std::pair<uint32_t, uint64_t>> wanted = {
      {kMsrSysenterCs, 0},   {kMsrSysenterEsp, 0}, {kMsrSysenterEip, 0},
      {kMsrStar, 0},         {kMsrLstar, 0},       {kMsrCstar, 0},
      {kMsrSyscallMask, 0},  {kMsrKernelGsBase, 0}, {kMsrTsc, 0},
      {kMsrMiscEnable, kMiscEnableFastString},
      {kMsrMtrrDefType, kMtrrEnable | kMtrrTypeWriteBack},
  };
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (const auto& m : wanted)
    if (std::find(supported.begin(), supported.end(), m.first) != supported.end())
      out.push_back(m);
  return out;
}

std::vector<std::pair<uint32_t, uint64_t>> reset_msrs(const std::vector<uint32_t>& supported) {
  std::vector<std::pair<uint32_t, uint64_t>> out = boot_msrs(supported);
  const std::pair<uint32_t, uint64_t> extra[] = {
      {0x11, 0},          // MSR_KVM_WALL_CLOCK
      {0x12, 0},          // MSR_KVM_SYSTEM_TIME
      {0x4b564d00, 0},    // MSR_KVM_WALL_CLOCK_NEW
      {0x4b564d01, 0},    // MSR_KVM_SYSTEM_TIME_NEW
      {0x4b564d02, 0},    // MSR_KVM_ASYNC_PF_EN
      {0x4b564d03, 0},    // MSR_KVM_STEAL_TIME
      {0x4b564d04, 0},    // MSR_KVM_PV_EOI_EN
      {0x4b564d05, 1},    // MSR_KVM_POLL_CONTROL (host polling on)
      {0x4b564d06, 0},    // MSR_KVM_ASYNC_PF_INT
      {0x277, 0x0007040600070406ull},  // IA32_PAT
      {0x6e0, 0},         // IA32_TSC_DEADLINE
      {0xc0000103, 0},    // TSC_AUX
      {0xda0, 0},         // IA32_XSS
  };
  for (const auto& m : extra)
    if (std::find(supported.begin(), supported.end(), m.first) != supported.end())
      out.push_back(m);
  return out;
}

void setup_lapic_lint(kvm_lapic_state& lapic) {
  auto set_mode = [&](uint32_t reg, uint32_t mode) {
    uint32_t v;
    std::memcpy(&v, lapic.regs + reg, 4);
    v = (v & ~0x700u) | (mode << 8);
    std::memcpy(lapic.regs + reg, &v, 4);
  };
  set_mode(kApicLvt0, kApicModeExtInt);
  set_mode(kApicLvt1, kApicModeNmi);
}

}  // namespace vireo::arch::x86
