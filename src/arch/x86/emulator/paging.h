// Guest page-table walker: linear -> guest-physical address for every paging mode Linux
// uses (none, 32-bit with PSE, PAE, 4-level, 5-level with LA57), with the permission
// checks of the access (CPL, read/write/execute, implicit supervisor; CR0.WP,
// CR4.SMEP/SMAP, EFER.NXE) and accessed/dirty updates as the CPU does them.
#pragma once

#include <cstdint>

#include "arch/x86/emulator/cpu_features.h"
#include "arch/x86/emulator/cpu_state.h"
#include "arch/x86/emulator/guest_phys_memory.h"
#include "arch/x86/emulator/outcome.h"
#include "arch/x86/emulator/segmentation.h"

namespace vireo::arch::x86::emu {

enum class PagingMode : uint8_t { kNone, k32Bit, kPae, k4Level, k5Level };

PagingMode paging_mode(const SystemRegs& s);
const char* to_string(PagingMode m);

struct PageAccess {
  AccessType type = AccessType::kRead;
  int cpl = 0;
  // A supervisor access made on behalf of any CPL (descriptor tables, TSS...).
  bool implicit_supervisor = false;
};

// Walks the guest's page tables. There is no TLB: every translate() reads the tables.
// Known simplifications: PAE PDPTEs are read from memory (the CPU uses the copies it
// loaded with CR3), protection keys (CR4.PKE) and shadow stacks are not checked, and
// AMD's extra reserved bit 8 in non-leaf entries is not checked.
class PageWalker {
 public:
  PageWalker(GuestPhysMemory& mem, const SystemRegs& sregs, uint64_t rflags,
             const CpuFeatures& features)
      : mem_(mem), sregs_(sregs), rflags_(rflags), features_(features) {}

  // On success the guest-physical address of `linear`; the accessed bits of the entries
  // used (and the dirty bit of the last one for a write) are set. Faults: #PF with the
  // architectural error code (P, W/R, U/S, RSVD, I/D) and CR2 = `linear`; nothing is
  // set then. Errors: the page tables are not in guest RAM.
  Outcome<uint64_t> translate(uint64_t linear, const PageAccess& access);

 private:
  Outcome<uint64_t> walk_once(uint64_t linear, const PageAccess& access, bool& retry);

  GuestPhysMemory& mem_;
  const SystemRegs& sregs_;
  uint64_t rflags_;
  const CpuFeatures& features_;
};

}  // namespace vireo::arch::x86::emu
