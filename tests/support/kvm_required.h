// Tests that need /dev/kvm: skip loudly without it, fail instead when CI says so.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace vireo::test {

inline bool kvm_usable() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }

// CI sets VIREO_REQUIRE_KVM=1: there a VM test must never pass by not running.
inline bool kvm_mandatory() {
  const char* v = std::getenv("VIREO_REQUIRE_KVM");
  return v && std::string(v) == "1";
}

}  // namespace vireo::test

// Skips (loudly) when /dev/kvm is missing, or fails when CI made KVM mandatory.
#define VIREO_REQUIRE_KVM()                                                             \
  do {                                                                                  \
    if (!::vireo::test::kvm_usable()) {                                                 \
      if (::vireo::test::kvm_mandatory()) FAIL() << "/dev/kvm is required (VIREO_REQUIRE_KVM=1)"; \
      std::fprintf(stderr, "*** SKIPPED: /dev/kvm is not usable here ***\n");           \
      GTEST_SKIP() << "SKIPPED: /dev/kvm is not usable here";                           \
    }                                                                                   \
  } while (0)
