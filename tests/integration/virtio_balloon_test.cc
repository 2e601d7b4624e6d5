// virtio-balloon in real VMs, on both transports: Linux's virtio_balloon driver inflates
// the balloon to the target given on the command line (its MemTotal shrinks by that
// much), and memory the guest frees is reported and leaves vireo's RSS: the guest fills
// 64 MiB of tmpfs (the host's RSS grows), deletes it, and after the driver's reporting
// delay (2 s) the host's RSS is measured again.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <regex>
#include <thread>

#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

// VmRSS of `pid` in KiB (guest RAM is private memory of the process: its resident pages count).
long rss_kib(pid_t pid) {
  std::ifstream f(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

long number_after(const std::string& out, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(key + R"(=(\d+))"))) return -1;
  return std::stol(m[1].str());
}

class LinuxVirtioBalloon : public ::testing::TestWithParam<const char*> {};

TEST_P(LinuxVirtioBalloon, InflatesAndFreedMemoryLeavesTheHost) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  // Markers are computed in the guest so that they are not in the command line's echo.
  const std::string cmd =
      "n=0; while [ $(awk '/MemTotal/{print $2}' /proc/meminfo) -gt 200000 ] && [ $n -lt 100 ]; "
      "do sleep 0.1; n=$((n+1)); done; "
      "echo memtotal=$(awk '/MemTotal/{print $2}' /proc/meminfo); "
      "echo balloon-driver=$(ls /sys/bus/virtio/drivers/virtio_balloon | grep -c virtio); "
      "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; "
      "echo filled-$((40+2)); sleep 2; rm /tmp/fill; "
      "sleep 4; echo reported-$((40+2)); sleep 1";
  Process vm({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd", dir + "/initramfs.cpio",
              "--memory", "256M", "--transport", GetParam(), "--balloon", "size=64M,stats=1",
              "--cmdline", "console=ttyS0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""});
  ASSERT_TRUE(vm.wait_for_output("filled-42", std::chrono::seconds(300))) << vm.out();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long filled = rss_kib(vm.pid());
  ASSERT_TRUE(vm.wait_for_output("reported-42", std::chrono::seconds(120))) << vm.out();
  const long reported = rss_kib(vm.pid());
  auto r = vm.wait(std::chrono::seconds(120));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_EQ(r.err.find("needs reset"), std::string::npos) << r.err;
  EXPECT_EQ(number_after(out, "balloon-driver"), 1) << out;
  // 256 MiB less the kernel's own reservations is about 230 MiB; the balloon holds 64.
  const long memtotal = number_after(out, "memtotal");
  EXPECT_GT(memtotal, 100000) << out;
  EXPECT_LT(memtotal, 200000) << "the balloon did not inflate\n" << out;
  // The 64 MiB the guest filled and freed: most of it reported and dropped.
  EXPECT_GT(filled, 64 * 1024) << "filling tmpfs should have grown vireo's RSS";
  EXPECT_GT(filled - reported, 32 * 1024)
      << "RSS after filling " << filled << " KiB, after freeing " << reported << " KiB";
  fmt::print(stderr, "balloon ({}): MemTotal {} KiB; vireo RSS {} KiB filled, {} KiB after the guest freed 64 MiB\n",
             GetParam(), memtotal, filled, reported);
}

INSTANTIATE_TEST_SUITE_P(Transports, LinuxVirtioBalloon, ::testing::Values("mmio", "pci"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace vireo::test
