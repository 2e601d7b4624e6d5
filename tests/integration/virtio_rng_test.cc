// virtio-rng in real VMs: Linux's virtio_rng driver finds the device (in the DSDT, or on
// the command line with acpi=off) and /dev/hwrng reads from it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <regex>

#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

class LinuxVirtioRng : public ::testing::TestWithParam<const char*> {};

TEST_P(LinuxVirtioRng, HwrngReadsFromTheDevice) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  // 64 KiB through the device; two reads differ.
  const std::string cmd =
      "echo rng=$(cat /sys/class/misc/hw_random/rng_current); "
      "echo bytes=$(dd if=/dev/hwrng bs=4096 count=16 2>/dev/null | wc -c); "
      "a=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'); "
      "b=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \\n'); "
      "[ ${#a} = 64 ] && [ $a != $b ] && echo rng-differs";
  const std::string extra = GetParam();
  // Without ACPI there is no soft-off: the guest ends by rebooting through the i8042
  // (reboot=k), status 6.
  const bool acpi = extra.empty();
  auto r = run_process({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd",
                        dir + "/initramfs.cpio", "--memory", "128M", "--rng", "--cmdline",
                        fmt::format("console=ttyS0 reboot=k panic=1 vireo.then={} {} vireo.cmd=\"{}\"",
                                    acpi ? "poweroff" : "reboot", extra, cmd)},
                       "", std::chrono::seconds(600));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, acpi ? 0 : 6) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("rng=virtio_rng.0"), std::string::npos) << out;
  EXPECT_NE(out.find("bytes=65536"), std::string::npos) << out;
  EXPECT_NE(out.find("rng-differs"), std::string::npos) << out;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  // One probe per device: announced once, in the DSDT or on the command line.
  EXPECT_EQ(out.find("probe of"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Announced, LinuxVirtioRng, ::testing::Values("", "acpi=off"),
                         [](const auto& info) {
                           return std::string(info.param).empty() ? "InTheDsdt" : "OnTheCommandLine";
                         });

}  // namespace
}  // namespace vireo::test
