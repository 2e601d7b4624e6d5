#include "arch/x86/emulator/guest_phys_memory.h"

#include <fmt/format.h>

#include "memory/guest_memory.h"

namespace vireo::arch::x86::emu {

namespace {

// `lock cmpxchg16b` on host memory; the pointer is 16-byte aligned.
bool host_cmpxchg16(void* p, std::array<uint64_t, 2>& expected,
                    const std::array<uint64_t, 2>& desired) {
  uint64_t lo = expected[0], hi = expected[1];
  bool swapped;
  asm volatile("lock cmpxchg16b %[m]"
               : "=@ccz"(swapped), [m] "+m"(*static_cast<volatile unsigned __int128*>(p)),
                 "+a"(lo), "+d"(hi)
               : "b"(desired[0]), "c"(desired[1])
               : "memory");
  expected = {lo, hi};
  return swapped;
}

}  // namespace

Result<void> GuestMemoryPhys::read(uint64_t gpa, std::span<uint8_t> out) {
  return mem_.read(gpa, out);
}

Result<void> GuestMemoryPhys::write(uint64_t gpa, std::span<const uint8_t> in) {
  return mem_.write(gpa, in);  // marks the pages dirty
}

// The compare-exchanges write through a WritableSlice, which marks the page dirty after
// the instruction, also when the comparison failed: a locked CMPXCHG is a write cycle
// either way (the SDM: the destination is written back with its own value), so the CPU
// sets the page's dirty bit, and KVM's dirty log records the guest's own failed ones.
Result<bool> GuestMemoryPhys::cmpxchg8(uint64_t gpa, uint64_t& expected, uint64_t desired) {
  if (gpa % 8 != 0) return Error(fmt::format("cmpxchg8 at unaligned gpa {:#x}", gpa));
  VIREO_ASSIGN_OR_RETURN(auto slice, mem_.writable_slice(gpa, 8));
  auto* p = reinterpret_cast<uint64_t*>(slice.bytes().data());
  if (reinterpret_cast<uintptr_t>(p) % 8 != 0)
    return Error(fmt::format("cmpxchg8 at gpa {:#x}: host mapping is unaligned", gpa));
  return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

Result<bool> GuestMemoryPhys::cmpxchg16(uint64_t gpa, std::array<uint64_t, 2>& expected,
                                        const std::array<uint64_t, 2>& desired) {
  if (gpa % 16 != 0) return Error(fmt::format("cmpxchg16 at unaligned gpa {:#x}", gpa));
  VIREO_ASSIGN_OR_RETURN(auto slice, mem_.writable_slice(gpa, 16));
  if (reinterpret_cast<uintptr_t>(slice.bytes().data()) % 16 != 0)
    return Error(fmt::format("cmpxchg16 at gpa {:#x}: host mapping is unaligned", gpa));
  return host_cmpxchg16(slice.bytes().data(), expected, desired);
}

}  // namespace vireo::arch::x86::emu
