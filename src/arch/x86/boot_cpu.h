// Architectural state of the boot vCPU for each boot protocol, and per-vCPU setup
// (MSRs, FPU, LAPIC LINT pins) shared by all vCPUs.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::arch::x86 {

enum class EntryMode {
  kProtected32,  // PVH: 32-bit protected mode, paging off, EBX = hvm_start_info
  kLong64,       // Linux 64-bit boot protocol: long mode, identity paging, RSI = zero page
};

// Writes the boot GDT, and for long mode identity page tables covering 4 GiB.
Result<void> write_boot_tables(const memory::GuestMemory& mem, EntryMode mode);

// Sets segment, control registers and descriptor tables in `sregs` (which should come
// from KVM_GET_SREGS so that fields we do not own keep KVM's values).
void setup_boot_sregs(kvm_sregs& sregs, EntryMode mode);

// General registers at entry: RIP, the boot-info pointer, flags, stack.
kvm_regs boot_regs(EntryMode mode, uint64_t entry, uint64_t boot_info_gpa);

// Initial FPU state (FCW 0x37f, MXCSR 0x1f80).
kvm_fpu boot_fpu();

// MSRs every vCPU starts with, restricted to those KVM can save (msr index list).
std::vector<std::pair<uint32_t, uint64_t>> boot_msrs(const std::vector<uint32_t>& supported);

// What a machine reset puts back on top of boot_msrs(): the paravirtual MSRs a guest
// points at its memory (kvmclock, steal time, async page faults, PV EOI) switched off,
// so that KVM stops writing into the memory the next boot reuses; PAT, TSC_AUX, the
// TSC deadline and XSS at their reset values.
std::vector<std::pair<uint32_t, uint64_t>> reset_msrs(const std::vector<uint32_t>& supported);

// Programs LINT0 as ExtINT and LINT1 as NMI in a KVM_GET_LAPIC image.
void setup_lapic_lint(kvm_lapic_state& lapic);

}  // namespace vireo::arch::x86
