// Boots the project's own freestanding test guests (tests/guest/) in real KVM VMs.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <regex>

#include "guest/common/checksum.h"
#include "support/host_kind.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

ProcessResult boot(const std::string& name, std::vector<std::string> extra = {},
                   std::chrono::seconds timeout = std::chrono::seconds(60)) {
  std::vector<std::string> args = {vireo_bin(), "run", "--kernel", guest(name)};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_process(args, "", timeout);
}

// Test guests report success by writing 0 to the debug-exit port: status (0<<1)|1.
constexpr int kGuestPass = 1;

TEST(GuestBoot, HelloOnSerial) {
  VIREO_REQUIRE_KVM();
  auto r = boot("hello");
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("Hello from vireo test guest"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(GuestBoot, ExitStatusThroughDebugPort) {
  VIREO_REQUIRE_KVM();
  for (int v : {0, 42, 127}) {  // each is a boot: 0, a middle value, the largest
    auto r = boot("exit_status", {"--cmdline", "exit=" + std::to_string(v) + " marker=abc"});
    EXPECT_EQ(r.exit_status, (v << 1) | 1) << r.out << r.err;
    EXPECT_NE(r.out.find("cmdline: exit=" + std::to_string(v) + " marker=abc"), std::string::npos)
        << r.out;
  }
}

TEST(GuestBoot, ExceptionsAndLapicTimer) {
  VIREO_REQUIRE_KVM();
  auto r = boot("exceptions");
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
}

class SmpBoot : public ::testing::TestWithParam<int> {};

TEST_P(SmpBoot, AllCpusComeOnline) {
  VIREO_REQUIRE_KVM();
  int n = GetParam();
  auto r = boot("smp", {"--cpus", std::to_string(n), "--cmdline", "cpus=" + std::to_string(n)});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  std::string want = "smp: " + std::to_string(n) + "/" + std::to_string(n) + " cpus online";
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Cpus, SmpBoot, ::testing::Values(1, 2, 4, 8));

TEST(GuestBoot, RingThreeComputeRunsNatively) {
  VIREO_REQUIRE_KVM();
  auto r = boot("ring3", {"--memory", "256M", "--cmdline", "mb=64"});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("ring3: checksum=([0-9a-fx]+) bytes=(\\d+)")))
      << r.out;
  EXPECT_EQ(m[2].str(), std::to_string(64ull << 20));
  // The value itself, computed on the host with the guest's own algorithm.
  EXPECT_EQ(std::stoull(m[1].str(), nullptr, 16), vireo_checksum_expected(64ull << 20));
  // 64 MiB in ring 3 takes well under a second natively; emulated it would take minutes.
  EXPECT_LT(r.seconds, 20.0);
}

// --profile samples the vCPU: the ring-3 checksum dominates, and ring-0 samples are named
// through a System.map-style symbol list (nm's output has the same format).
TEST(GuestBoot, ProfilerSeesWhereTheGuestRuns) {
  VIREO_REQUIRE_KVM();
  char dir[] = "/tmp/vireo-profile-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string map = std::string(dir) + "/guest.map", prof = std::string(dir) + "/profile.txt";
  auto nm = run_process({"/bin/sh", "-c", "nm " + guest("ring3") + " > " + map}, "", std::chrono::seconds(30));
  ASSERT_EQ(nm.exit_status, 0) << nm.err;
  // mb=160: enough ring-3 work that it outweighs the ring-0 printing even in the
  // sanitizer build under load (with 64 MiB it came to 48.8% there once).
  auto r = boot("ring3", {"--memory", "256M", "--cmdline", "mb=160", "--profile", prof,
                          "--profile-symbols", map});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  std::ifstream f(prof);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string report = ss.str();
  std::filesystem::remove_all(dir);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(# guest profile: (\d+) samples)"))) << report;
  EXPECT_GE(std::stoi(m[1].str()), 20) << report;  // 1000 Hz over a few hundred ms
  ASSERT_TRUE(std::regex_search(report, m, std::regex(R"(\s(\d+\.\d)%\s+\[user mode\])"))) << report;
  EXPECT_GT(std::stod(m[1].str()), 50.0) << report;
}

// SYSCALL out of ring 3 (and SYSRETQ/IRETQ into it): on hosts that emulate guest kernel
// mode only because vireo completes the SYSCALL the host leaves half done. The guest
// checks RCX, R11, RFLAGS, CS, SS and RSP at the entry point.
class RingThreeSyscall : public ::testing::TestWithParam<const char*> {};

TEST_P(RingThreeSyscall, EntersKernelWithArchitecturalState) {
  VIREO_REQUIRE_KVM();
  auto r = boot("ring3", {"--stats", "--cmdline", std::string("mb=4 ret=syscall enter=") + GetParam()});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("ring3: syscall state ok"), std::string::npos) << r.out;
  if (emulated_kernel_mode_host())
    EXPECT_NE(r.err.find("SYSCALLs completed for the host: 1"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Enter, RingThreeSyscall, ::testing::Values("iretq", "sysretq"));

// Instructions this kind of host rejects in ring 0 (vireo completes them); on hosts with
// VT-x/AMD-V they run natively and the guest's checks must hold all the same.
TEST(GuestBoot, AssistedInstructionsInRingZero) {
  VIREO_REQUIRE_KVM();
  std::vector<std::string> flags = {"--stats"};
  if (tcg_cpu()) flags.insert(flags.end(), {"--cmdline", "mxcsr_gp=skip"});
  auto r = boot("assist", flags);
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("single-step trap after popcnt ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  if (emulated_kernel_mode_host()) {
    for (const char* insn : {"popcnt", "int3", "int imm8", "fwait", "ldmxcsr", "stmxcsr",
                             "xgetbv", "cmpxchg16b"})
      EXPECT_NE(r.err.find(insn), std::string::npos) << insn << " not assisted:\n" << r.err;
  }
}

TEST(GuestBoot, SigtermStopsTheVm) {
  VIREO_REQUIRE_KVM();
  Process p({vireo_bin(), "run", "--kernel", guest("idle")});
  ASSERT_TRUE(p.wait_for_output("idle: waiting", std::chrono::seconds(30))) << p.out();
  p.send_signal(SIGTERM);
  auto r = p.wait(std::chrono::seconds(10));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_status, 128 + SIGTERM) << r.err;
}

TEST(GuestBoot, ConsoleEscapeQuits) {
  VIREO_REQUIRE_KVM();
  Process p({vireo_bin(), "run", "--kernel", guest("idle")});
  ASSERT_TRUE(p.wait_for_output("idle: waiting", std::chrono::seconds(30))) << p.out();
  p.write_stdin("\x01x");
  auto r = p.wait(std::chrono::seconds(10));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_status, 10) << r.err;
}

TEST(GuestBoot, ConsoleInputReachesGuest) {
  VIREO_REQUIRE_KVM();
  // The idle guest echoes what it receives on COM1 (interrupt-driven RX).
  Process p({vireo_bin(), "run", "--kernel", guest("idle")});
  ASSERT_TRUE(p.wait_for_output("idle: waiting", std::chrono::seconds(30))) << p.out();
  p.write_stdin("ping-from-host\r");
  EXPECT_TRUE(p.wait_for_output("echo: ping-from-host", std::chrono::seconds(30))) << p.out();
  p.write_stdin("q");
  auto r = p.wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_status, 1) << r.out << r.err;
}

}  // namespace
}  // namespace vireo::test

namespace vireo::test {
namespace {

// The guest's own ways to end the VM reach vireo's devices and give the documented status.
TEST(GuestPower, AcpiS5PowersOff) {
  VIREO_REQUIRE_KVM();
  auto r = run_process({vireo_bin(), "run", "--kernel", guest("power"), "--cmdline", "via=acpi-s5"});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("power: ACPI S5"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST(GuestPower, ResetsEndTheVm) {
  VIREO_REQUIRE_KVM();
  for (const char* via : {"acpi-reset", "kbd"}) {
    auto r = run_process({vireo_bin(), "run", "--kernel", guest("power"), "--cmdline",
                          std::string("via=") + via});
    EXPECT_EQ(r.exit_status, 6) << via << ": " << r.out << r.err;
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("guest reset"), std::string::npos) << r.err;
  }
}

TEST(GuestPower, RestartOnReboot) {
  VIREO_REQUIRE_KVM();
  // With --on-reboot restart the machine boots again after each reset: the guest's
  // banner appears more than once, until we stop it.
  Process p({vireo_bin(), "run", "--kernel", guest("power"), "--cmdline", "via=kbd",
             "--on-reboot", "restart"});
  auto twice = [&] {
    const std::string& o = p.out();
    auto first = o.find("power: i8042 reset");
    return first != std::string::npos && o.find("power: i8042 reset", first + 1) != std::string::npos;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!twice() && std::chrono::steady_clock::now() < deadline)
    p.wait_for_output("\n~never~", std::chrono::milliseconds(200));
  EXPECT_TRUE(twice()) << p.out();
  p.send_signal(SIGTERM);
  auto r = p.wait(std::chrono::seconds(10));
  EXPECT_EQ(r.exit_status, 128 + SIGTERM) << r.err;
  EXPECT_NE(r.err.find("restarting"), std::string::npos) << r.err;
}

// A reboot in place puts back what the guest changed: each boot of `reset_state` reports
// the kvmclock MSR, the page it pointed KVM at, PAT, TSC_AUX and the LAPIC's TPR, then
// changes them all and resets; every boot must see the power-on values.
TEST(GuestPower, RestartPutsTheMachineBackToPowerOn) {
  VIREO_REQUIRE_KVM();
  Process p({vireo_bin(), "run", "--kernel", guest("reset_state"), "--memory", "64M", "--on-reboot",
             "restart", "--quiet"});
  auto boots = [&] {
    std::vector<std::string> lines;
    std::regex re(R"(reset-state: kvmclock=\S+ page=\S+ pat=\S+ tsc_aux=\S+ tpr=\S+)");
    const std::string o = p.out();
    for (auto it = std::sregex_iterator(o.begin(), o.end(), re); it != std::sregex_iterator(); ++it)
      lines.push_back(it->str());
    return lines;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (boots().size() < 3 && std::chrono::steady_clock::now() < deadline)
    p.wait_for_output("\n~never~", std::chrono::milliseconds(100));
  p.send_signal(SIGTERM);
  auto r = p.wait(std::chrono::seconds(10));
  const auto lines = boots();
  ASSERT_GE(lines.size(), 3u) << r.out << r.err;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(lines[0], m, std::regex("kvmclock=(\\S+)")));
  const std::string clock = m[1];
  EXPECT_TRUE(clock == "0" || clock == "none") << lines[0];
  for (const auto& line : lines) {
    EXPECT_EQ(line, "reset-state: kvmclock=" + clock + " page=0 pat=7040600070406 tsc_aux=0 tpr=0")
        << r.out;
  }
  if (clock == "0") EXPECT_NE(r.out.find("dirtied (page="), std::string::npos);
}

}  // namespace
}  // namespace vireo::test
