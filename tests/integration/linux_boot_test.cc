// Boots the project's minimal Linux guest (scripts/build-linux-guest.sh) and checks the
// kernel's own boot log against what vireo built: command line, e820 map, CPU count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fmt/format.h>
#include <csignal>
#include <regex>

#include "support/host_kind.h"
#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

std::vector<std::string> linux_args(const std::string& kernel_file, int cpus,
                                    const std::string& cmdline) {
  std::string dir = linux_dir();
  return {vireo_bin(), "run", "--kernel", dir + "/" + kernel_file, "--initrd",
          dir + "/initramfs.cpio.gz", "--cpus", std::to_string(cpus), "--memory", "512M",
          "--cmdline", cmdline};
}

class LinuxBootLog : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

// Boots until the kernel has reported the machine (command line, e820 map, CPUs), then
// stops the VM with SIGTERM: bounded time on every host.
TEST_P(LinuxBootLog, KernelSeesOurMachine) {
  VIREO_REQUIRE_KVM();
  std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto [kernel_file, cpus] = GetParam();
  const std::string cmdline = "console=ttyS0 earlyprintk=serial reboot=k panic=-1 marker=vireo-test";
  Process p(linux_args(kernel_file, cpus, cmdline));
  const std::string cpus_line = fmt::format("Allowing {} CPUs", cpus);
  bool seen = p.wait_for_output(cpus_line, std::chrono::seconds(180));
  p.send_signal(SIGTERM);
  auto r = p.wait(std::chrono::seconds(30));
  const std::string& out = r.out;
  ASSERT_TRUE(seen) << "no '" << cpus_line << "' in:\n" << out << "\nvireo: " << r.err;
  EXPECT_EQ(r.exit_status, 128 + SIGTERM) << r.err;
  // The command line we passed, as the kernel saw it: with hardware virtualization
  // exactly that; where guest kernel mode is emulated vireo appends its switches.
  if (emulated_kernel_mode_host()) {
    EXPECT_NE(out.find("Command line: " + cmdline + " noxsave"), std::string::npos) << out;
  } else {
    EXPECT_NE(out.find("Command line: " + cmdline + "\r\n"), std::string::npos) << out;
  }
  // The e820 map we built (512 MiB guest).
  EXPECT_NE(out.find("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"),
            std::string::npos) << out;
  // Linux merges our EBDA and BIOS-area entries with the legacy hole it reserves itself.
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(BIOS-e820: \[mem 0x000000000009fc00-0x[0-9a-f]{16}\] reserved)")))
      << out;
  EXPECT_NE(out.find("BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable"),
            std::string::npos) << out;
  fmt::print(stderr, "linux ({}, {} cpus): machine reported after {:.1f} s\n", kernel_file, cpus,
             r.seconds);
}

INSTANTIATE_TEST_SUITE_P(Kernels, LinuxBootLog,
                         ::testing::Values(std::make_tuple("vmlinux", 1),
                                           std::make_tuple("vmlinux", 2),
                                           std::make_tuple("bzImage", 2)));

}  // namespace
}  // namespace vireo::test
