// --console virtio in a real VM: our minimal Linux's console is hvc0 (the default
// command line says so), its output reaches vireo's stdout and what is typed on stdin
// reaches a shell reading hvc0.
#include <gtest/gtest.h>

#include "support/linux_fixture.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

TEST(LinuxVirtioConsole, Hvc0IsTheTerminal) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  const std::string cmd =
      "echo active=$(cat /sys/class/tty/console/active); read -r line; echo got=$line-$((6*7))";
  // Typed once the shell is there (type-ahead before the guest opens its console is up
  // to the guest, as on a real terminal).
  Process vm({vireo_bin(), "run", "--console", "virtio", "--kernel", dir + "/vmlinux", "--initrd",
              dir + "/initramfs.cpio", "--memory", "128M", "--cmdline",
              "console=hvc0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""});
  ASSERT_TRUE(vm.wait_for_output("active=hvc0", std::chrono::seconds(600))) << vm.out();
  vm.write_stdin("typed-on-the-terminal\n");
  auto r = vm.wait(std::chrono::seconds(120));
  const std::string& out = r.out;
  EXPECT_EQ(r.exit_status, 0) << out << "\nvireo: " << r.err;
  EXPECT_NE(out.find("Run /init as init process"), std::string::npos) << "the kernel's log on hvc0";
  EXPECT_NE(out.find("active=hvc0"), std::string::npos) << out;
  EXPECT_NE(out.find("got=typed-on-the-terminal-42"), std::string::npos) << out;
}

TEST(LinuxVirtioConsole, BadConsoleKindIsAUsageError) {
  VIREO_REQUIRE_KVM();
  auto r = run_process({vireo_bin(), "run", "--console", "tty", "--kernel", "/nonexistent"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("--console"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vireo::test
