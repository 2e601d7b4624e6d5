#include "arch/x86/emulator/exception.h"

#include <fmt/format.h>

namespace vireo::arch::x86::emu {

const char* vector_name(uint8_t vector) {
  static constexpr const char* kNames[32] = {
      "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", nullptr, "#TS",
      "#NP", "#SS", "#GP", "#PF", nullptr, "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
  if (vector < 32 && kNames[vector]) return kNames[vector];
  return "vector";
}

std::string to_string(const Exception& e) {
  std::string s = vector_name(e.vector);
  if (s == "vector") s = fmt::format("vector {}", e.vector);
  if (e.error_code) s += fmt::format("({:#x})", *e.error_code);
  if (e.cr2) s += fmt::format(" at {:#x}", *e.cr2);
  return s;
}

}  // namespace vireo::arch::x86::emu
