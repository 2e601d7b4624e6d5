// Debian's stock cloud kernel (linux-image-cloud-amd64, as shipped; fixture:
// scripts/build-debian-guest.sh) booted every way vireo offers: as the bzImage Debian
// ships and as the vmlinux inside it (PVH entry), with and without an initramfs, with 1
// and 2 vCPUs, and ended every way a guest ends: power-off, reboot and panic, each with
// its documented exit status. The kernel's reboot and panic take its default reboot
// method (no reboot= option): on our hardware-reduced ACPI machine a kernel built with
// EFI support jumps to the BIOS reset entry (see src/arch/x86/reset_vector.h).
//
// A boot takes seconds with hardware virtualization (15-25 s in the KVM sandbox, whose CPU
// is emulated) but 20 minutes where guest kernel mode is emulated; scripts/test.sh leaves
// these tests to the sandbox on such hosts.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <regex>

#include "support/host_kind.h"
#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

struct Boot {
  std::string kernel;     // file in the fixture: "vmlinuz" (bzImage) or "vmlinux" (PVH)
  int cpus = 1;
  bool initramfs = true;
  std::string cmdline;    // appended to "console=ttyS0"
  std::vector<std::string> flags = {};
};

ProcessResult boot(const Boot& b) {
  const std::string dir = debian_dir();
  std::vector<std::string> args = {vireo_bin(), "run", "--kernel", dir + "/" + b.kernel,
                                   "--cpus", std::to_string(b.cpus), "--memory", "256M"};
  if (b.initramfs) args.insert(args.end(), {"--initrd", dir + "/initramfs.cpio"});
  args.insert(args.end(), b.flags.begin(), b.flags.end());
  args.insert(args.end(), {"--cmdline", "console=ttyS0 " + b.cmdline});
  return run_process(args, "", std::chrono::seconds(600));
}

double kernel_clock_at(const std::string& out, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(\[\s*(\d+\.\d+)\] )" + what))) return -1;
  return std::stod(m[1].str());
}

// What every Debian boot shows, whatever its end.
void expect_debian_kernel(const ProcessResult& r, int cpus) {
  EXPECT_NE(r.out.find("Linux version 6.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-cloud-amd64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("Allowing {} CPUs", cpus)), std::string::npos) << r.out;
  // The hardware-virtualization path takes the guest's command line as given.
  if (!emulated_kernel_mode_host()) EXPECT_EQ(r.out.find("noxsave"), std::string::npos) << r.out;
}

// (kernel file, vCPUs)
using KernelCpus = std::tuple<std::string, int>;
std::string kernel_cpus_name(const ::testing::TestParamInfo<KernelCpus>& info) {
  return fmt::format("{}_{}cpu", std::get<0>(info.param), std::get<1>(info.param));
}

class DebianKernel : public ::testing::TestWithParam<KernelCpus> {};

// To /init, which loads the kernel's own virtio modules, runs a command and powers off.
TEST_P(DebianKernel, BootsToInitLoadsVirtioModulesAndPowersOff) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  auto [kernel, cpus] = GetParam();
  auto r = boot({kernel, cpus, true, "vireo.then=poweroff vireo.cmd=\"echo marker-$((6*7))\""});
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  expect_debian_kernel(r, cpus);
  EXPECT_NE(out.find(fmt::format("VIREO-INIT: cpus={}", cpus)), std::string::npos) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(VIREO-INIT: modules-loaded=(\d+))"))) << out;
  EXPECT_GE(std::stoi(m[1].str()), 10) << out;
  EXPECT_EQ(out.find("VIREO-INIT: module "), std::string::npos) << "a module failed:\n" << out;
  for (const char* drv : {"virtio_blk", "virtio_net", "virtio_console", "virtio_rng"})
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string("VIREO-INIT: virtio-drivers=.*") + drv)))
        << drv << " not registered:\n" << out;
  EXPECT_NE(out.find("marker-42"), std::string::npos) << out;
  EXPECT_NE(out.find("VIREO-INIT: cmd-exit=0"), std::string::npos) << out;
  EXPECT_NE(out.find("reboot: Power down"), std::string::npos) << out;
  EXPECT_EQ(out.find("segfault"), std::string::npos) << out;
  fmt::print(stderr, "debian {} ({} vCPUs): /init at {:.1f} s (kernel clock), power-off {:.1f} s after exec\n",
             kernel, cpus, kernel_clock_at(out, "Run /init"), r.seconds);
}

INSTANTIATE_TEST_SUITE_P(Boots, DebianKernel,
                         ::testing::Values(KernelCpus{"vmlinux", 1}, KernelCpus{"vmlinux", 2},
                                           KernelCpus{"vmlinuz", 1}, KernelCpus{"vmlinuz", 2}),
                         kernel_cpus_name);

// `reboot` in the guest, by the kernel's default method: the VM ends with the reset status.
TEST(DebianKernelEnds, GuestRebootEndsWithResetStatus) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  auto r = boot({"vmlinux", 2, true, "vireo.then=reboot"});
  EXPECT_EQ(r.exit_status, 6) << r.out << "\nvireo: " << r.err;
  expect_debian_kernel(r, 2);
  EXPECT_NE(r.out.find("VIREO-INIT: done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reboot: Restarting system"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("guest reset"), std::string::npos) << r.err;
}

// No initramfs and no root device: the kernel panics, and with panic=-1 reboots at once
// by its default method (before the reset-vector code, vireo ran on for ever here).
class DebianKernelPanic : public ::testing::TestWithParam<KernelCpus> {};

TEST_P(DebianKernelPanic, PanicRebootsAndEndsWithResetStatus) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  auto [kernel, cpus] = GetParam();
  auto r = boot({kernel, cpus, false, "panic=-1"});
  EXPECT_EQ(r.exit_status, 6) << r.out << "\nvireo: " << r.err;
  expect_debian_kernel(r, cpus);
  EXPECT_NE(r.out.find("Kernel panic - not syncing: VFS: Unable to mount root fs"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("guest reset"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Boots, DebianKernelPanic,
                         ::testing::Values(KernelCpus{"vmlinux", 1}, KernelCpus{"vmlinuz", 2}),
                         kernel_cpus_name);

// reboot=t: the kernel resets by a triple fault, which vireo reports as such.
TEST(DebianKernelEnds, PanicWithTripleFaultRebootEndsWithCrashStatus) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  auto r = boot({"vmlinux", 1, false, "panic=-1 reboot=t"});
  EXPECT_EQ(r.exit_status, 8) << r.out << "\nvireo: " << r.err;
  EXPECT_NE(r.out.find("Kernel panic - not syncing"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("triple fault"), std::string::npos) << r.err;
}

// The bzImage's own decompressor and 64-bit entry, run in the guest.
TEST(DebianKernelEnds, BootsThroughItsOwnDecompressor) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  auto r = boot({"vmlinuz", 1, true, "vireo.then=poweroff", {"--bzimage-unpack", "guest"}});
  EXPECT_EQ(r.exit_status, 0) << r.out << "\nvireo: " << r.err;
  expect_debian_kernel(r, 1);
  EXPECT_NE(r.out.find("VIREO-INIT: started"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reboot: Power down"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace vireo::test
