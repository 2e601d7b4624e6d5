// The Linux guests of the integration tests, built and cached by the project's scripts:
// our minimal kernel (scripts/build-linux-guest.sh) and Debian's stock cloud kernel
// (scripts/build-debian-guest.sh).
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

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

// A Linux guest for the device tests and the transport its devices sit on: our minimal
// kernel (drivers built in) on either transport, and Debian's stock cloud kernel, whose
// drivers are modules its initramfs loads, on PCI (how distribution kernels find them).
struct LinuxGuest {
  const char* kernel;     // "minimal" or "debian"
  const char* transport;  // "mmio" or "pci"

  bool debian() const { return std::string(kernel) == "debian"; }
  std::string dir() const { return debian() ? debian_dir() : linux_dir(); }
  // Debian's kernel as shipped (bzImage); ours as the ELF with its PVH note.
  std::string image(const std::string& d) const { return d + (debian() ? "/vmlinuz" : "/vmlinux"); }
  std::string initrd(const std::string& d) const { return d + "/initramfs.cpio"; }
  const char* memory() const { return debian() ? "256M" : "128M"; }
  // Test name suffix: "mmio" and "pci" for ours, "DebianKernelPci" (ctest -E Debian).
  std::string name() const { return debian() ? std::string("DebianKernel") + (transport[0] == 'p' ? "Pci" : "Mmio") : transport; }
};

inline std::vector<LinuxGuest> device_test_guests() {
  return {{"minimal", "mmio"}, {"minimal", "pci"}, {"debian", "pci"}};
}

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
#define VIREO_REQUIRE_GUEST(guest, dir)                                                   \
  do {                                                                                    \
    if ((guest).debian())                                                                 \
      VIREO_REQUIRE_DEBIAN(dir);                                                          \
    else                                                                                  \
      VIREO_REQUIRE_LINUX(dir);                                                           \
  } while (0)
