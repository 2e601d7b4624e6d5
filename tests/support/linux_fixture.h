// The Linux guests of the integration tests, built and cached by the project's scripts:
// our minimal kernel (scripts/build-linux-guest.sh) and Debian's stock cloud kernel
// (scripts/build-debian-guest.sh).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "support/kvm_required.h"
#include "support/process.h"

namespace vireo::test {

// A fixture directory: $env_var (scripts/test.sh sets it), else the cache entry the
// build script would use if it exists, else "".
inline std::string fixture_dir(const char* env_var, const std::string& script) {
  if (const char* d = std::getenv(env_var); d && *d) return d;
  auto r = run_process({"/bin/bash", std::string(VIREO_SOURCE_DIR) + "/scripts/" + script, "--print-dir"},
                       "", std::chrono::seconds(60));
  if (r.exit_status != 0) return "";
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

inline std::string linux_dir() { return fixture_dir("VIREO_LINUX_DIR", "build-linux-guest.sh"); }
inline std::string debian_dir() { return fixture_dir("VIREO_DEBIAN_DIR", "build-debian-guest.sh"); }

}  // namespace vireo::test

// Skips (loudly) when `file` of the fixture is not built; fails instead where VM tests
// are mandatory.
#define VIREO_REQUIRE_FIXTURE(dir, file, script)                                           \
  do {                                                                                     \
    if ((dir).empty() || ::access(((dir) + "/" file).c_str(), R_OK) != 0) {                \
      if (::vireo::test::kvm_mandatory()) FAIL() << "fixture missing: run scripts/" script; \
      std::fprintf(stderr, "*** SKIPPED: fixture not built (scripts/" script ") ***\n");  \
      GTEST_SKIP() << "SKIPPED: fixture not built (scripts/" script ")";                   \
    }                                                                                      \
  } while (0)
#define VIREO_REQUIRE_LINUX(dir) VIREO_REQUIRE_FIXTURE(dir, "vmlinux", "build-linux-guest.sh")
#define VIREO_REQUIRE_DEBIAN(dir) VIREO_REQUIRE_FIXTURE(dir, "vmlinux", "build-debian-guest.sh")
