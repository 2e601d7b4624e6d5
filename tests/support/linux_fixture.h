// The project's minimal Linux guest (scripts/build-linux-guest.sh) for integration tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "support/kvm_required.h"
#include "support/process.h"

namespace vireo::test {

// The fixture directory: $VIREO_LINUX_DIR (scripts/test.sh sets it), else the cache
// entry the build script would use if it exists.
inline std::string linux_dir() {
  if (const char* d = std::getenv("VIREO_LINUX_DIR"); d && *d) return d;
  auto r = run_process({"/bin/bash", std::string(VIREO_SOURCE_DIR) + "/scripts/build-linux-guest.sh",
                        "--print-dir"},
                       "", std::chrono::seconds(30));
  if (r.exit_status != 0) return "";
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace vireo::test

// Skips (loudly) when the fixture is not built; fails instead where VM tests are mandatory.
#define VIREO_REQUIRE_LINUX(dir)                                                          \
  do {                                                                                    \
    if ((dir).empty() || ::access(((dir) + "/vmlinux").c_str(), R_OK) != 0) {             \
      if (::vireo::test::kvm_mandatory()) FAIL() << "Linux fixture missing: run scripts/build-linux-guest.sh"; \
      std::fprintf(stderr, "*** SKIPPED: Linux fixture not built (scripts/build-linux-guest.sh) ***\n"); \
      GTEST_SKIP() << "SKIPPED: Linux fixture not built";                                 \
    }                                                                                     \
  } while (0)
