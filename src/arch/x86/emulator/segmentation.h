// Segmentation: effective address (offset) -> linear address, with the checks of the
// current mode (limits and types in 16/32-bit modes, canonical form in 64-bit mode).
#pragma once

#include <cstdint>

#include "arch/x86/emulator/cpu_state.h"
#include "arch/x86/emulator/outcome.h"

namespace vireo::arch::x86::emu {

enum class AccessType : uint8_t { kRead, kWrite, kExecute };

// True if `la` is canonical for 48-bit (or, with LA57, 57-bit) linear addresses.
bool is_canonical(uint64_t la, bool la57);

// The linear address of the `size`-byte access at seg:offset. `offset` is the effective
// address, already truncated to the address size. Faults: #GP(0), or #SS(0) when `seg`
// is SS (no error code in real mode).
// - 64-bit mode: only FS and GS have a base; every byte must be canonical.
// - other modes: the segment must be usable and allow the access (writable data, readable
//   code; not checked in real and virtual-8086 mode), all bytes within the limit
//   (expand-down segments included); the linear address wraps at 4 GiB.
Outcome<uint64_t> linear_address(const SystemRegs& s, uint64_t rflags, SegReg seg,
                                 uint64_t offset, uint32_t size, AccessType type);

}  // namespace vireo::arch::x86::emu
