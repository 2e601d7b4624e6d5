// Boots the project's minimal Linux guest (scripts/build-linux-guest.sh) and checks the
// kernel's own boot log against what vireo built: command line, e820 map, CPU count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fmt/format.h>
#include <regex>

#include "support/vm_test.h"

namespace vireo::test {
namespace {

// The fixture directory: $VIREO_LINUX_DIR (scripts/test.sh sets it), else the cache
// entry the build script would use if it exists.
std::string linux_dir() {
  if (const char* d = std::getenv("VIREO_LINUX_DIR"); d && *d) return d;
  auto r = run_process({"/bin/bash", std::string(VIREO_SOURCE_DIR) + "/scripts/build-linux-guest.sh",
                        "--print-dir"},
                       "", std::chrono::seconds(30));
  if (r.exit_status != 0) return "";
  std::string out = r.out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

#define VIREO_REQUIRE_LINUX(dir)                                                          \
  do {                                                                                    \
    if ((dir).empty() || ::access(((dir) + "/vmlinux").c_str(), R_OK) != 0) {             \
      if (::vireo::test::kvm_mandatory()) FAIL() << "Linux fixture missing: run scripts/build-linux-guest.sh"; \
      std::fprintf(stderr, "*** SKIPPED: Linux fixture not built (scripts/build-linux-guest.sh) ***\n"); \
      GTEST_SKIP() << "SKIPPED: Linux fixture not built";                                 \
    }                                                                                     \
  } while (0)

struct LinuxBoot {
  ProcessResult result;
  std::string cmdline;
};

LinuxBoot boot_linux(const std::string& kernel_file, int cpus, const std::string& extra_cmdline) {
  std::string dir = linux_dir();
  std::string cmdline = "console=ttyS0 earlyprintk=serial reboot=k panic=-1 " + extra_cmdline;
  std::vector<std::string> args = {vireo_bin(), "run", "--kernel", dir + "/" + kernel_file,
                                   "--initrd", dir + "/initramfs.cpio.gz", "--cpus",
                                   std::to_string(cpus), "--memory", "512M", "--cmdline", cmdline};
  return {run_process(args, "", std::chrono::seconds(240)), cmdline};
}

// Where the boot ended, for the test log (the host may stop Linux before init: see
// ../shared/host-kvm.md; vireo then exits 4 naming the instruction).
void report(const LinuxBoot& b) {
  const auto& r = b.result;
  std::string last;
  auto pos = r.out.rfind('\n', r.out.size() > 2 ? r.out.size() - 2 : 0);
  last = r.out.substr(pos == std::string::npos ? 0 : pos + 1);
  fmt::print(stderr, "linux boot: status {} after {:.1f} s; last console line: {}\nvireo: {}",
             r.exit_status, r.seconds, last, r.err);
}

class LinuxBootLog : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(LinuxBootLog, KernelSeesOurMachine) {
  VIREO_REQUIRE_KVM();
  std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto [kernel_file, cpus] = GetParam();
  auto b = boot_linux(kernel_file, cpus, "noxsave vireo.then=poweroff");
  report(b);
  const std::string& out = b.result.out;
  ASSERT_FALSE(b.result.timed_out) << out;
  // The command line we passed, as the kernel saw it.
  EXPECT_NE(out.find("Command line: " + b.cmdline), std::string::npos) << out;
  // The e820 map we built (512 MiB guest).
  EXPECT_NE(out.find("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
            std::string::npos) << out;
  // Linux merges our EBDA and BIOS-area entries with the legacy hole it reserves itself.
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(BIOS-e820: \[mem 0x000000000009fc00-0x[0-9a-f]{16}\] reserved)")))
      << out;
  EXPECT_NE(out.find("BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable"),
            std::string::npos) << out;
  // The CPUs our ACPI MADT describes.
  EXPECT_TRUE(std::regex_search(out, std::regex(fmt::format("Allowing {} CPUs", cpus)))) << out;
  // Either Linux got all the way (issue 3) or vireo stopped it with a precise report.
  if (b.result.exit_status != 0) {
    EXPECT_EQ(b.result.exit_status, 4) << b.result.err;
    EXPECT_NE(b.result.err.find("RIP"), std::string::npos) << b.result.err;
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, LinuxBootLog,
                         ::testing::Values(std::make_tuple("vmlinux", 1),
                                           std::make_tuple("vmlinux", 2),
                                           std::make_tuple("bzImage", 2)));

}  // namespace
}  // namespace vireo::test
