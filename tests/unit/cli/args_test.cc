#include "cli/args.h"

#include <gtest/gtest.h>

namespace vireo::cli {
namespace {

ParsedCommand parse(std::vector<std::string> a) { return parse_command_line(a); }
void expect_error(const std::vector<std::string>& a, const std::string& needle);

TEST(Args, RunWithAllFlags) {
  auto c = parse({"run", "--kernel", "k.elf", "--initrd", "i.cpio", "--cmdline", "console=ttyS0 x=1",
                  "--cpus", "4", "--memory", "2G", "--on-reboot", "restart", "--quiet",
                  "--no-boot-tuning"});
  ASSERT_TRUE(c.run) << c.err;
  EXPECT_EQ(c.run->kernel_path, "k.elf");
  EXPECT_EQ(*c.run->initrd_path, "i.cpio");
  EXPECT_EQ(c.run->cmdline, "console=ttyS0 x=1");
  EXPECT_EQ(c.run->cpus, 4u);
  EXPECT_EQ(c.run->memory, 2ull << 30);
  EXPECT_EQ(c.run->on_reboot, vmm::OnReboot::kRestart);
  EXPECT_TRUE(c.run->quiet);
  EXPECT_FALSE(c.run->boot_tuning);
}

TEST(Args, Defaults) {
  auto c = parse({"run", "--kernel=k"});
  ASSERT_TRUE(c.run) << c.err;
  EXPECT_EQ(c.run->cpus, 1u);
  EXPECT_EQ(c.run->memory, 512ull << 20);
  EXPECT_EQ(c.run->cmdline, vmm::kDefaultCmdline);
  EXPECT_FALSE(c.run->initrd_path);
  EXPECT_EQ(c.run->on_reboot, vmm::OnReboot::kExit);
  EXPECT_TRUE(c.run->boot_tuning);
  EXPECT_EQ(c.run->transport, vmm::Transport::kMmio);
}

TEST(Args, Transport) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--transport", "pci"}).run->transport, vmm::Transport::kPci);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--transport=mmio"}).run->transport, vmm::Transport::kMmio);
  expect_error({"run", "--kernel", "k", "--transport", "usb"}, "usb");
}

TEST(Args, MemorySuffixesAndBareMiB) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--memory", "65536K"}).run->memory, 64ull << 20);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--memory", "256"}).run->memory, 256ull << 20);
}

void expect_error(const std::vector<std::string>& a, const std::string& needle) {
  auto c = parse(a);
  EXPECT_FALSE(c.run);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find(needle), std::string::npos) << "error was: " << c.err;
  EXPECT_EQ(c.err.find('\n'), std::string::npos) << "error must be one line: " << c.err;
}

TEST(Args, Errors) {
  expect_error({"run"}, "--kernel");
  expect_error({"run", "--kernel", "k", "--bogus"}, "--bogus");
  expect_error({"run", "--kernel", "k", "--cpus", "0"}, "--cpus");
  expect_error({"run", "--kernel", "k", "--cpus", "many"}, "many");
  expect_error({"run", "--kernel", "k", "--cpus", "1000"}, "--cpus");
  expect_error({"run", "--kernel", "k", "--memory", "12Q"}, "--memory");
  expect_error({"run", "--kernel", "k", "--memory", "1M"}, "too small");
  expect_error({"run", "--kernel", "k", "--on-reboot", "dance"}, "dance");
  expect_error({"fly"}, "fly");
  expect_error({}, "no command");
}

TEST(Args, HelpAndVersion) {
  auto h = parse({"--help"});
  EXPECT_FALSE(h.run);
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("run"), std::string::npos);
  auto rh = parse({"run", "--help"});
  EXPECT_EQ(rh.exit_code, 0);
  for (const char* flag : {"--kernel", "--initrd", "--cmdline", "--cpus", "--memory", "--on-reboot", "--quiet"})
    EXPECT_NE(rh.out.find(flag), std::string::npos) << flag;
  auto v = parse({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("vireo ", 0), 0u);
}

}  // namespace
}  // namespace vireo::cli
