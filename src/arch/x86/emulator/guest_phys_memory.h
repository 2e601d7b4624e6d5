// Guest-physical memory as the instruction assist sees it: plain copies plus the atomic
// compare-exchanges that locked instructions and page-table A/D updates need.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "util/result.h"

namespace vireo::memory {
class GuestMemory;
}

namespace vireo::arch::x86::emu {

class GuestPhysMemory {
 public:
  virtual ~GuestPhysMemory() = default;
  // Copies; fail (Error) if any byte is not guest RAM.
  virtual Result<void> read(uint64_t gpa, std::span<uint8_t> out) = 0;
  virtual Result<void> write(uint64_t gpa, std::span<const uint8_t> in) = 0;
  // Atomic compare-exchange of the 8 bytes at an 8-aligned gpa: true if it stored
  // `desired`; otherwise false and `expected` receives the current value.
  virtual Result<bool> cmpxchg8(uint64_t gpa, uint64_t& expected, uint64_t desired) = 0;
  // The same for the 16 bytes at a 16-aligned gpa ([0] is the low quadword).
  virtual Result<bool> cmpxchg16(uint64_t gpa, std::array<uint64_t, 2>& expected,
                                 const std::array<uint64_t, 2>& desired) = 0;
};

// GuestPhysMemory over the VMM's guest RAM. The compare-exchanges run the host's
// `lock cmpxchg` on the shared mapping, so they are atomic against vCPUs running guest
// code at the same time. Accesses outside RAM (MMIO) fail. Every write and every
// compare-exchange (also a failed one, as the CPU counts it) marks its page in the
// GuestMemory's dirty bitmap: KVM's dirty log does not see what the VMM writes.
class GuestMemoryPhys final : public GuestPhysMemory {
 public:
  explicit GuestMemoryPhys(const memory::GuestMemory& mem) : mem_(mem) {}

  Result<void> read(uint64_t gpa, std::span<uint8_t> out) override;
  Result<void> write(uint64_t gpa, std::span<const uint8_t> in) override;
  Result<bool> cmpxchg8(uint64_t gpa, uint64_t& expected, uint64_t desired) override;
  Result<bool> cmpxchg16(uint64_t gpa, std::array<uint64_t, 2>& expected,
                         const std::array<uint64_t, 2>& desired) override;

 private:
  const memory::GuestMemory& mem_;
};

}  // namespace vireo::arch::x86::emu
