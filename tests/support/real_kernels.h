// Real Linux kernels for the loader unit tests: the fixtures scripts/test.sh builds
// ($VIREO_LINUX_DIR: our vmlinux and bzImage; $VIREO_DEBIAN_DIR: Debian's vmlinuz as
// shipped), $VIREO_TEST_KERNEL, and the machine's own /boot/vmlinuz-*.
#pragma once

#include <glob.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace vireo::test {

inline std::vector<std::string> real_kernels(bool bzimage_only) {
  std::vector<std::string> out;
  auto add = [&](const std::string& p) {
    if (::access(p.c_str(), R_OK) == 0) out.push_back(p);
  };
  if (const char* d = std::getenv("VIREO_LINUX_DIR"); d && *d) {
    if (!bzimage_only) add(std::string(d) + "/vmlinux");
    add(std::string(d) + "/bzImage");
  }
  if (const char* d = std::getenv("VIREO_DEBIAN_DIR"); d && *d) add(std::string(d) + "/vmlinuz");
  if (const char* k = std::getenv("VIREO_TEST_KERNEL"); k && *k) add(k);
  glob_t g{};
  if (::glob("/boot/vmlinuz-*", 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) add(g.gl_pathv[i]);
  ::globfree(&g);
  return out;
}

// Where the fixtures are promised (CI sets VIREO_REQUIRE_KVM=1 and scripts/test.sh
// exports the fixture directories), a test that finds no kernel fails instead of skipping.
inline bool real_kernels_promised() {
  const char* v = std::getenv("VIREO_REQUIRE_KVM");
  return v && std::string(v) == "1";
}

}  // namespace vireo::test

#define VIREO_REQUIRE_REAL_KERNELS(paths)                                                  \
  do {                                                                                     \
    if ((paths).empty()) {                                                                 \
      if (::vireo::test::real_kernels_promised())                                          \
        FAIL() << "no real kernel: set VIREO_LINUX_DIR / VIREO_DEBIAN_DIR (scripts/test.sh does)"; \
      std::fprintf(stderr, "*** SKIPPED: no real kernel (VIREO_LINUX_DIR, VIREO_DEBIAN_DIR) ***\n"); \
      GTEST_SKIP() << "SKIPPED: no real kernel";                                           \
    }                                                                                      \
  } while (0)
