// Exceptions the guest must see, and the building blocks to create them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "arch/x86/emulator/cpu_state.h"

namespace vireo::arch::x86::emu {

// Exception vectors.
inline constexpr uint8_t kVectorDe = 0;
inline constexpr uint8_t kVectorDb = 1;
inline constexpr uint8_t kVectorBp = 3;
inline constexpr uint8_t kVectorOf = 4;
inline constexpr uint8_t kVectorUd = 6;
inline constexpr uint8_t kVectorNm = 7;
inline constexpr uint8_t kVectorSs = 12;
inline constexpr uint8_t kVectorGp = 13;
inline constexpr uint8_t kVectorPf = 14;
inline constexpr uint8_t kVectorAc = 17;

// #PF error code bits.
inline constexpr uint32_t kPfPresent = 1u << 0;
inline constexpr uint32_t kPfWrite = 1u << 1;
inline constexpr uint32_t kPfUser = 1u << 2;
inline constexpr uint32_t kPfReserved = 1u << 3;
inline constexpr uint32_t kPfFetch = 1u << 4;

// A fault to deliver to the guest (RIP stays at the faulting instruction).
struct Exception {
  uint8_t vector = 0;
  std::optional<uint32_t> error_code;  // pushed by the CPU when present
  std::optional<uint64_t> cr2;         // #PF only: the faulting linear address
  bool operator==(const Exception&) const = default;
};

// Short name of a vector: "#GP", "#PF", ...
const char* vector_name(uint8_t vector);
// "#GP(0)", "#PF(0x3) at 0x1000", "#UD".
std::string to_string(const Exception& e);

inline Exception make_ud() { return {kVectorUd, std::nullopt, std::nullopt}; }
inline Exception make_nm() { return {kVectorNm, std::nullopt, std::nullopt}; }
// #GP(0)/#SS(0)/#AC(0): no error code is pushed in real mode.
inline Exception make_fault0(uint8_t vector, const SystemRegs& s) {
  if (!(s.cr0 & kCr0Pe)) return {vector, std::nullopt, std::nullopt};
  return {vector, 0u, std::nullopt};
}
inline Exception make_gp0(const SystemRegs& s) { return make_fault0(kVectorGp, s); }
inline Exception make_pf(uint32_t error_code, uint64_t linear) {
  return {kVectorPf, error_code, linear};
}

}  // namespace vireo::arch::x86::emu
