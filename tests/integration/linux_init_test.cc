// Boots the project's minimal Linux guest all the way: kernel, busybox /init from the
// initramfs, a shell command, and the guest's own poweroff or reboot, which must end
// vireo with the matching exit status. On hosts that emulate guest kernel mode this
// exercises the instruction assist and the SYSCALL repair on every step.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <regex>

#include "support/linux_fixture.h"
#include "support/scratch_dir.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {


ProcessResult boot_to_init(int cpus, const std::string& then, const std::string& cmd,
                           std::chrono::seconds timeout = std::chrono::seconds(600),
                           const std::string& reboot = "k") {
  std::string dir = linux_dir();
  std::vector<std::string> args = {vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd",
                                   dir + "/initramfs.cpio", "--cpus", std::to_string(cpus),
                                   "--memory", "128M", "--stats", "--cmdline",
                                   "console=ttyS0 reboot=" + reboot + " panic=1 vireo.then=" + then +
                                       " vireo.cmd=\"" + cmd + "\""};
  return run_process(args, "", timeout);
}

// The kernel clock (seconds since it started) at the first log line matching `what`.
double kernel_time_of(const std::string& out, const std::string& what) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(\[\s*(\d+\.\d+)\] )" + what))) return -1;
  return std::stod(m[1].str());
}

class LinuxInit : public ::testing::TestWithParam<int> {};

TEST_P(LinuxInit, RunsCommandAndPowersOff) {
  VIREO_REQUIRE_KVM();
  std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  const int cpus = GetParam();
  // Shell arithmetic: the output proves a shell ran it (the command line only holds the
  // expression).
  // The RTC: Linux binds rtc_cmos to the DSDT's PNP0B00 device and reads our clock.
  const std::string cmd =
      "echo marker-$((6*7)); echo rtc-epoch=$(cat /sys/class/rtc/rtc0/since_epoch); "
      "cat /proc/uptime";
  // A boot takes seconds with hardware virtualization, 1.5 minutes where guest kernel
  // mode is emulated (3 under the sanitizers on a busy machine).
  auto r = boot_to_init(cpus, "poweroff", cmd);
  const auto host_now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("VIREO-INIT: started"), std::string::npos) << out;
  EXPECT_NE(out.find(fmt::format("VIREO-INIT: cpus={}", cpus)), std::string::npos) << out;
  EXPECT_NE(out.find("marker-42"), std::string::npos) << out;
  EXPECT_NE(out.find("VIREO-INIT: cmd-exit=0"), std::string::npos) << out;
  EXPECT_NE(out.find("VIREO-INIT: done"), std::string::npos) << out;
  EXPECT_NE(out.find("reboot: Power down"), std::string::npos) << out;
  // No process of /init's died on the way (docs/known-issues.md).
  EXPECT_EQ(out.find("segfault"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(rtc_cmos \S+: registered as rtc0)"))) << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(rtc-epoch=(\d+))"))) << out;
  // The guest read it while booting; it must be the host's wall clock (UTC), give or take.
  EXPECT_NEAR(static_cast<double>(std::stoll(m[1].str())), static_cast<double>(host_now), 900.0);
  fmt::print(stderr, "linux to init, {} cpu(s): /init at {:.1f} s (kernel clock), poweroff after {:.1f} s\n{}",
             cpus, kernel_time_of(out, "Run /init"), r.seconds, r.err);
}

INSTANTIATE_TEST_SUITE_P(Cpus, LinuxInit, ::testing::Values(1, 2));

// Linux's reboot methods: k (the i8042 reset line) and b (a jump to the BIOS reset
// entry in real mode, where vireo has no BIOS but a few instructions that reset the
// machine: src/arch/x86/reset_vector.h). Either ends the VM with the reset status.
class LinuxInitReboot : public ::testing::TestWithParam<const char*> {};

TEST_P(LinuxInitReboot, GuestRebootEndsVmWithResetStatus) {
  VIREO_REQUIRE_KVM();
  std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  auto r = boot_to_init(1, "reboot", "true", std::chrono::seconds(600), GetParam());
  EXPECT_EQ(r.exit_status, 6) << r.out << "\nvireo: " << r.err;  // guest reset
  EXPECT_NE(r.out.find("VIREO-INIT: done"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reboot: Restarting system"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("guest reset"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Methods, LinuxInitReboot, ::testing::Values("k", "b"));

// --on-reboot restart resets the machine in place (Vm::reset): the same KVM VM, memory
// and devices, put back to power-on. The guest, with 2 vCPUs and a disk holding a boot
// counter, counts its boot on the disk and reboots, and powers off on its third boot:
// each boot finds both CPUs and the disk as the last one left it. On both transports
// (virtio-pci: BARs and MSI-X back to firmware's state) and on Debian's kernel, which
// uses kvmclock, steal time and PV EOI (MSRs that point into guest memory and must be
// switched off by the reset).
class LinuxReboot : public ::testing::TestWithParam<LinuxGuest> {};

TEST_P(LinuxReboot, RestartsInPlaceWithItsDiskAndBothCpus) {
  VIREO_REQUIRE_KVM();
  const LinuxGuest guest = GetParam();
  const std::string dir = guest.dir();
  VIREO_REQUIRE_GUEST(guest, dir);
  ScratchDir scratch;
  ASSERT_FALSE(scratch.path().empty());
  const std::string disk = scratch.path() + "/counter.img", log = scratch.path() + "/vireo.log";
  {
    std::string counter = "0\n";
    counter.resize(4096, '\0');
    std::ofstream(disk, std::ios::binary) << counter;
  }
  const std::string cmd =
      "n=$(head -n1 /dev/vda); n=$((n+1)); echo boot-count-$n cpus=$(cat /sys/devices/system/cpu/online); "
      "echo $n | dd of=/dev/vda conv=notrunc 2>/dev/null; sync; [ $n -ge 3 ] && poweroff -f; true";
  auto r = run_process({vireo_bin(), "run", "--kernel", guest.image(dir), "--initrd", guest.initrd(dir),
                        "--cpus", "2", "--memory", guest.memory(), "--transport", guest.transport,
                        "--disk", "path=" + disk, "--on-reboot", "restart", "--log-path", log, "--cmdline",
                        "console=ttyS0 reboot=k panic=1 vireo.then=reboot vireo.cmd=\"" + cmd + "\""},
                       "", std::chrono::seconds(900));
  EXPECT_EQ(r.exit_status, 0) << r.out << "\nvireo: " << r.err;
  for (int n = 1; n <= 3; ++n)
    EXPECT_NE(r.out.find(fmt::format("boot-count-{} cpus=0-1", n)), std::string::npos) << n << "\n" << r.out;
  EXPECT_EQ(r.out.find("boot-count-4"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("segfault"), std::string::npos) << r.out;
  std::ifstream f(log);
  std::stringstream text;
  text << f.rdbuf();
  EXPECT_NE(text.str().find("machine reset: restarting in place (reset 2)"), std::string::npos) << text.str();
  EXPECT_EQ(text.str().find("reset 3"), std::string::npos) << text.str();
  std::ifstream d(disk);
  std::string first;
  std::getline(d, first);
  EXPECT_EQ(first, "3");
}

INSTANTIATE_TEST_SUITE_P(Guests, LinuxReboot, ::testing::ValuesIn(device_test_guests()),
                         [](const auto& info) { return info.param.name(); });

}  // namespace
}  // namespace vireo::test
