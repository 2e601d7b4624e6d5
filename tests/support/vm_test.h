// Helpers for tests that boot real VMs with the vireo binary.
#pragma once

#include <string>

#include "support/kvm_required.h"
#include "support/process.h"

namespace vireo::test {

inline std::string vireo_bin() { return VIREO_BIN; }
inline std::string guest(const std::string& name) {
  return std::string(VIREO_GUEST_DIR) + "/" + name + ".elf";
}

}  // namespace vireo::test
