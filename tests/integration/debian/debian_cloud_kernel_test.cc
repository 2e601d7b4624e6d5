// Boots Debian's stock cloud kernel (linux-image-cloud-amd64, as shipped) with an
// initramfs whose /init loads the kernel's own virtio modules, then powers off.
// Fixture: scripts/build-debian-guest.sh (cached; $VIREO_DEBIAN_DIR points at it).
// Slow on hosts that emulate guest kernel mode (minutes), so it has its own binary,
// labelled "slow".
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdlib>
#include <regex>

#include "support/kvm_required.h"
#include "support/process.h"

namespace vireo::test {
namespace {

std::string debian_dir() {
  if (const char* d = std::getenv("VIREO_DEBIAN_DIR"); d && *d) return d;
  auto r = run_process({"/bin/bash", std::string(VIREO_SOURCE_DIR) + "/scripts/build-debian-guest.sh",
                        "--print-dir"},
                       "", std::chrono::seconds(60));
  if (r.exit_status != 0) return "";
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

double kernel_clock_at(const std::string& out, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(\[\s*(\d+\.\d+)\] )" + what))) return -1;
  return std::stod(m[1].str());
}

TEST(DebianCloudKernel, BootsToInitLoadsVirtioModulesAndPowersOff) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  if (dir.empty() || ::access((dir + "/vmlinuz").c_str(), R_OK) != 0) {
    if (kvm_mandatory()) FAIL() << "Debian fixture missing: run scripts/build-debian-guest.sh";
    std::fprintf(stderr, "*** SKIPPED: Debian fixture not built (scripts/build-debian-guest.sh) ***\n");
    GTEST_SKIP() << "SKIPPED: Debian fixture not built";
  }
  // init_on_alloc=0: the kernel would otherwise zero every page it allocates, which on a
  // host that emulates guest kernel mode costs minutes of boot (a choice for the user;
  // vireo does not add it).
  auto r = run_process({VIREO_BIN, "run", "--kernel", dir + "/vmlinuz", "--initrd",
                        dir + "/initramfs.cpio", "--cpus", "1", "--memory", "256M", "--stats",
                        "--cmdline",
                        "console=ttyS0 reboot=k panic=1 vireo.then=poweroff init_on_alloc=0"},
                       "", std::chrono::seconds(2400));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("Linux version 6.1"), std::string::npos) << out;
  EXPECT_NE(out.find("-cloud-amd64"), std::string::npos) << out;
  EXPECT_NE(out.find("VIREO-INIT: started"), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(VIREO-INIT: modules-loaded=(\d+))"))) << out;
  EXPECT_GE(std::stoi(m[1].str()), 10) << out;
  EXPECT_EQ(out.find("VIREO-INIT: module "), std::string::npos) << "a module failed:\n" << out;
  for (const char* drv : {"virtio_blk", "virtio_net", "virtio_console", "virtio_rng"})
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string("VIREO-INIT: virtio-drivers=.*") + drv)))
        << drv << " not registered:\n" << out;
  EXPECT_NE(out.find("VIREO-INIT: done"), std::string::npos) << out;
  EXPECT_NE(out.find("reboot: Power down"), std::string::npos) << out;
  fmt::print(stderr, "debian cloud kernel: /init at {:.1f} s (kernel clock), poweroff after {:.1f} s\n{}",
             kernel_clock_at(out, "Run /init"), r.seconds, r.err);
}

}  // namespace
}  // namespace vireo::test
