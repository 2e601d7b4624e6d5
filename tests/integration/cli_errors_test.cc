// The vireo binary's errors: one clear line on stderr, a non-zero status.
#include <gtest/gtest.h>

#include <fstream>

#include "support/vm_test.h"

namespace vireo::test {
namespace {

ProcessResult vireo(std::vector<std::string> args) {
  args.insert(args.begin(), vireo_bin());
  return run_process(args, "", std::chrono::seconds(30));
}

void expect_one_line_error(const ProcessResult& r, int status, const std::string& needle) {
  EXPECT_EQ(r.exit_status, status) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
  EXPECT_EQ(r.err.rfind("vireo: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(CliErrors, HelpAndVersion) {
  auto h = vireo({"--help"});
  EXPECT_EQ(h.exit_status, 0);
  EXPECT_NE(h.out.find("run"), std::string::npos);
  auto rh = vireo({"run", "--help"});
  EXPECT_EQ(rh.exit_status, 0);
  EXPECT_NE(rh.out.find("--kernel"), std::string::npos);
  EXPECT_NE(rh.out.find("--memory"), std::string::npos);
  auto v = vireo({"--version"});
  EXPECT_EQ(v.exit_status, 0);
  EXPECT_EQ(v.out.rfind("vireo 0.", 0), 0u);
}

TEST(CliErrors, UnknownFlag) { expect_one_line_error(vireo({"run", "--kernel", "x", "--frobnicate"}), 2, "--frobnicate"); }

TEST(CliErrors, MissingKernel) {
  VIREO_REQUIRE_KVM();
  expect_one_line_error(vireo({"run", "--kernel", "/nonexistent/vmlinux"}), 2, "/nonexistent/vmlinux");
}

TEST(CliErrors, UnreadableOrNotAKernel) {
  VIREO_REQUIRE_KVM();
  std::string path = ::testing::TempDir() + "/not-a-kernel";
  std::ofstream(path) << "this is just text, not a kernel image\n";
  expect_one_line_error(vireo({"run", "--kernel", path}), 2, "not a kernel");
  expect_one_line_error(vireo({"run", "--kernel", "/"}), 2, "/");
}

TEST(CliErrors, MissingInitrd) {
  VIREO_REQUIRE_KVM();
  expect_one_line_error(vireo({"run", "--kernel", guest("hello"), "--initrd", "/nonexistent/initrd"}),
                        2, "/nonexistent/initrd");
}

TEST(CliErrors, MemoryTooLargeForHost) {
  expect_one_line_error(vireo({"run", "--kernel", guest("hello"), "--memory", "32T"}), 2, "RAM");
}

TEST(CliErrors, BadKvmDevice) {
  expect_one_line_error(vireo({"run", "--kernel", guest("hello"), "--kvm-device", "/nonexistent/kvm"}),
                        2, "KVM is not available");
  // A device node that is not KVM at all.
  expect_one_line_error(vireo({"run", "--kernel", guest("hello"), "--kvm-device", "/dev/null"}), 2,
                        "/dev/null");
}

}  // namespace
}  // namespace vireo::test

namespace vireo::test {
namespace {

TEST(CliErrors, KvmPermissionDenied) {
  VIREO_REQUIRE_KVM();
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0)
    GTEST_SKIP() << "needs root and setpriv to run as an unprivileged user";
  auto r = run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        vireo_bin(), "run", "--kernel", "/dev/null"},
                       "", std::chrono::seconds(30));
  expect_one_line_error(r, 2, "permission denied");
  EXPECT_NE(r.err.find("kvm"), std::string::npos);
}

}  // namespace
}  // namespace vireo::test
