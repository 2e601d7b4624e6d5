// Memory as an instruction sees it: seg:offset -> linear (segmentation) -> guest-physical
// (paging), split at page boundaries. Every page of an access is translated and checked
// before any byte is written, so a fault leaves memory untouched.
#pragma once

#include <cstdint>
#include <span>

#include "arch/x86/emulator/cpu_features.h"
#include "arch/x86/emulator/cpu_state.h"
#include "arch/x86/emulator/guest_phys_memory.h"
#include "arch/x86/emulator/outcome.h"
#include "arch/x86/emulator/paging.h"
#include "arch/x86/emulator/segmentation.h"

namespace vireo::arch::x86::emu {

// Where the bytes of one access live: one range, or two when it crosses a page.
struct PhysRange {
  uint64_t gpa[2] = {};
  uint32_t len[2] = {};
  unsigned pieces = 0;
};

class VirtualMemory {
 public:
  VirtualMemory(GuestPhysMemory& mem, const SystemRegs& sregs, uint64_t rflags, int cpl,
                const CpuFeatures& features)
      : mem_(mem), sregs_(sregs), rflags_(rflags), cpl_(cpl),
        walker_(mem, sregs, rflags, features) {}

  // seg:offset -> linear address for an explicit data access of `size` bytes.
  Outcome<uint64_t> linear(SegReg seg, uint64_t offset, uint32_t size, AccessType type);
  // Translates `size` (<= 4096) bytes at linear address `la`, checking each page.
  Outcome<PhysRange> translate(uint64_t la, uint32_t size, AccessType type);

  Outcome<Done> read(SegReg seg, uint64_t offset, std::span<uint8_t> out);
  Outcome<Done> write(SegReg seg, uint64_t offset, std::span<const uint8_t> in);

  // Locked compare-exchange of 8 or 16 bytes at seg:offset (the caller checks alignment
  // rules). Always a write access (the CPU writes the old value back on a mismatch). True
  // if `desired` was stored; else `expected` receives the current bytes. Atomic whenever
  // the bytes lie in one aligned 16-byte block; otherwise (a misaligned CMPXCHG8B) the
  // compare and the store are separate accesses.
  Outcome<bool> cmpxchg(SegReg seg, uint64_t offset, std::span<uint8_t> expected,
                        std::span<const uint8_t> desired);

  GuestPhysMemory& phys() { return mem_; }
  int cpl() const { return cpl_; }

 private:
  // #AC(0) for a misaligned data access at CPL 3 with CR0.AM and RFLAGS.AC.
  bool alignment_fault(uint64_t la, uint32_t size) const;
  Outcome<bool> cmpxchg_phys(const PhysRange& r, std::span<uint8_t> expected,
                             std::span<const uint8_t> desired);

  GuestPhysMemory& mem_;
  const SystemRegs& sregs_;
  uint64_t rflags_;
  int cpl_;
  PageWalker walker_;
};

}  // namespace vireo::arch::x86::emu
