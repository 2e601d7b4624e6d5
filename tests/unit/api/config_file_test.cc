// Firecracker's --config-file format read into vmm::VmConfig: every section, the same
// machine whether described by flags or by the file, and refusals that name the field.
#include "api/config_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "cli/args.h"

namespace vireo::api {
namespace {

// A full document as Firecracker's getting-started guide writes one.
constexpr const char* kFull = R"({
  "boot-source": {"kernel_image_path": "/k/vmlinux", "boot_args": "console=ttyS0 reboot=k panic=1",
                  "initrd_path": "/k/initrd"},
  "drives": [
    {"drive_id": "data", "path_on_host": "/d/data.img", "is_root_device": false, "is_read_only": true},
    {"drive_id": "rootfs", "path_on_host": "/d/root.ext4", "is_root_device": true, "is_read_only": false,
     "cache_type": "Writeback", "io_engine": "Async",
     "rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 100, "one_time_burst": 4096},
                      "ops": {"size": 50, "refill_time": 1000}}}
  ],
  "machine-config": {"vcpu_count": 2, "mem_size_mib": 1024, "smt": false, "track_dirty_pages": false},
  "network-interfaces": [{"iface_id": "eth0", "guest_mac": "AA:FC:00:00:00:01", "host_dev_name": "tap0"}],
  "vsock": {"guest_cid": 3, "uds_path": "/tmp/v.sock", "vsock_id": "vsock0"},
  "balloon": {"amount_mib": 64, "deflate_on_oom": true, "stats_polling_interval_s": 5},
  "entropy": {}
})";

TEST(ConfigFile, EverySectionReachesTheModel) {
  auto c = config_from_json(kFull);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->kernel_path, "/k/vmlinux");
  EXPECT_EQ(*c->initrd_path, "/k/initrd");
  // The root device comes first (/dev/vda) and is named on the command line.
  EXPECT_EQ(c->cmdline, "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
  EXPECT_EQ(c->cpus, 2u);
  EXPECT_EQ(c->memory, 1024ull << 20);
  ASSERT_EQ(c->disks.size(), 2u);
  EXPECT_EQ(c->disks[0].id, "rootfs");
  EXPECT_EQ(c->disks[0].path, "/d/root.ext4");
  EXPECT_FALSE(c->disks[0].readonly);
  EXPECT_EQ(c->disks[0].limit.bytes_per_second, 10485760u);  // 1 MiB per 100 ms
  EXPECT_EQ(c->disks[0].limit.bytes_burst, 4096u);
  EXPECT_EQ(c->disks[0].limit.ops_per_second, 50u);
  EXPECT_EQ(c->disks[1].id, "data");
  EXPECT_TRUE(c->disks[1].readonly);
  EXPECT_EQ(c->disks[1].serial, "data");
  ASSERT_EQ(c->nets.size(), 1u);
  EXPECT_EQ(c->nets[0].id, "eth0");
  EXPECT_EQ(c->nets[0].tap, "tap0");
  EXPECT_EQ(c->nets[0].mac, "aa:fc:00:00:00:01");
  ASSERT_TRUE(c->vsock);
  EXPECT_EQ(c->vsock->cid, 3u);
  EXPECT_EQ(c->vsock->uds, "/tmp/v.sock");
  ASSERT_TRUE(c->balloon);
  EXPECT_EQ(c->balloon->size, 64ull << 20);
  EXPECT_TRUE(c->balloon->deflate_on_oom);
  EXPECT_EQ(c->balloon->stats_seconds, 5u);
  EXPECT_TRUE(c->rng);
}

TEST(ConfigFile, OnlyBootSourceTakesFirecrackersDefaults) {
  auto c = config_from_json(R"({"boot-source": {"kernel_image_path": "/k"}})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->cpus, 1u);
  EXPECT_EQ(c->memory, 128ull << 20);
  EXPECT_EQ(c->cmdline, vmm::kDefaultCmdline);
  EXPECT_TRUE(c->disks.empty());
  EXPECT_FALSE(c->rng);
}

TEST(ConfigFile, ReadOnlyRootAndPartuuid) {
  auto c = config_from_json(R"({"boot-source": {"kernel_image_path": "/k", "boot_args": "x"},
    "drives": [{"drive_id": "r", "path_on_host": "/r", "is_root_device": true, "is_read_only": true,
                "partuuid": "0eaa91a0-01"}]})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->cmdline, "x root=PARTUUID=0eaa91a0-01 ro");
}

// Each direction of an interface has its own limit (rx: what the guest receives).
TEST(ConfigFile, InterfaceLimitsPerDirection) {
  auto c = config_from_json(R"({"boot-source": {"kernel_image_path": "/k"},
      "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
        "rx_rate_limiter": {"bandwidth": {"size": 1000, "refill_time": 100}},
        "tx_rate_limiter": {"ops": {"size": 5, "refill_time": 1000, "one_time_burst": 2}}}]})");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->nets[0].rx_limit, (virtio::RateLimit{.bytes_per_second = 10000}));
  EXPECT_EQ(c->nets[0].tx_limit, (virtio::RateLimit{.ops_per_second = 5, .ops_burst = 2}));
  // And back, as GET /vm/config shows them.
  EXPECT_EQ(rate_limiter_json(c->nets[0].tx_limit),
            nlohmann::json::parse(R"({"ops": {"size": 5, "refill_time": 1000, "one_time_burst": 2}})"));
  EXPECT_TRUE(rate_limiter_json({}).is_null());
  auto back = read_rate_limiter(rate_limiter_json(c->nets[0].rx_limit), "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, c->nets[0].rx_limit);
}

TEST(NetFlag, LimitsForBothDirectionsOrOne) {
  auto both = vmm::parse_net("tap=t,bw=1M,ops=10", 0);
  ASSERT_TRUE(both.ok()) << both.error().message();
  EXPECT_EQ(both->rx_limit, (virtio::RateLimit{.bytes_per_second = 1 << 20, .ops_per_second = 10}));
  EXPECT_EQ(both->tx_limit, both->rx_limit);
  auto one = vmm::parse_net("tap=t,rx_bw=2M,rx_bw_burst=4K,tx_ops=7", 0);
  ASSERT_TRUE(one.ok()) << one.error().message();
  EXPECT_EQ(one->rx_limit, (virtio::RateLimit{.bytes_per_second = 2 << 20, .bytes_burst = 4096}));
  EXPECT_EQ(one->tx_limit, (virtio::RateLimit{.ops_per_second = 7}));
  EXPECT_FALSE(vmm::parse_net("tap=t,tx_ops_burst=3", 0).ok()) << "a burst without its rate";
  EXPECT_FALSE(vmm::parse_net("tap=t,rx_tap=x", 0).ok());
}

TEST(ConfigFile, RefusalsNameTheField) {
  struct Case {
    const char* doc;
    const char* says;
  } cases[] = {
      {"{", "parse error"},
      // Found by tests/fuzz/api_fuzz.cc: a number too large for a double threw past the
      // parse-error handler and ended vireo.
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 19E01444, "mem_size_mib": 1}})",
       "number overflow"},
      {"[]", "expected a JSON object"},
      {R"({})", "missing field `boot-source`"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine": {}})", "unknown field `machine`"},
      {R"({"boot-source": {"kernel": "/k"}})", "unknown field `kernel` in `boot-source`"},
      {R"({"boot-source": {"kernel_image_path": 7}})", "invalid type for `boot-source.kernel_image_path`: 7, expected a string"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 0, "mem_size_mib": 128}})",
       "`machine-config.vcpu_count`: 0 is out of range (1-254)"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": -5}})",
       "invalid type for `machine-config.mem_size_mib`: -5, expected an unsigned integer"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 8}})",
       "`machine-config.mem_size_mib`: 8 is out of range"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "machine-config": {"vcpu_count": 2, "mem_size_mib": 128, "smt": true}})",
       "`machine-config.smt`: true is not supported"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "drives": [{"drive_id": "a", "path_on_host": "/a"}]})",
       "missing field `is_root_device` in `drives[0]`"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "drives": [
          {"drive_id": "a", "path_on_host": "/a", "is_root_device": true},
          {"drive_id": "b", "path_on_host": "/b", "is_root_device": true}]})",
       "`drives[1]`: a second root device (`a` is one)"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "drives": [
          {"drive_id": "a", "path_on_host": "/a", "is_root_device": false},
          {"drive_id": "a", "path_on_host": "/b", "is_root_device": false}]})",
       "drive_id `a` is used twice"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "drives": [
          {"drive_id": "a", "path_on_host": "/a", "is_root_device": false, "cache_type": "Unsafe"}]})",
       "unknown variant `Unsafe` for `drives[0].cache_type`, expected `Writeback`"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "drives": [{"drive_id": "a", "path_on_host": "/a",
          "is_root_device": false, "rate_limiter": {"bandwidth": {"size": 1, "refill_time": 0}}}]})",
       "`drives[0].rate_limiter.bandwidth.refill_time` must be at least 1"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "network-interfaces": [
          {"iface_id": "e", "host_dev_name": "t", "guest_mac": "01:00:00:00:00:01"}]})",
       "`network-interfaces[0].guest_mac`: MAC 01:00:00:00:00:01 is a multicast address"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "vsock": {"guest_cid": 2, "uds_path": "/v"}})",
       "`vsock.guest_cid`: 2 is out of range"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "balloon": {"amount_mib": 128, "deflate_on_oom": false}})",
       "`balloon.amount_mib` (128 MiB) must be less than the guest's memory (128 MiB)"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "logger": {"log_path": "/l", "level": "chatty"}})",
       "`logger.level`: unknown log level 'chatty'"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "metrics": {"path": "/m"}})",
       "`metrics`"},
      {R"({"boot-source": {"kernel_image_path": "/k"}, "mmds-config": {}})",
       "`mmds-config` is not built into vireo yet"},
  };
  for (const auto& c : cases) {
    auto r = config_from_json(c.doc);
    ASSERT_FALSE(r.ok()) << c.doc;
    EXPECT_NE(r.error().message().find(c.says), std::string::npos)
        << c.doc << "\n -> " << r.error().message();
  }
}

class ConfigFileOnTheCommandLine : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/vireo-config-XXXXXX";
    const int fd = ::mkstemp(name);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path_ = name;
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  void write(const std::string& s) { std::ofstream(path_) << s; }
  std::string path_;
};

// Two ways to describe the same machine give one and the same configuration.
TEST_F(ConfigFileOnTheCommandLine, SameMachineAsTheFlags) {
  write(R"({"boot-source": {"kernel_image_path": "/k", "boot_args": "console=ttyS0"},
            "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
            "drives": [{"drive_id": "disk0", "path_on_host": "/d.img", "is_root_device": false,
                        "is_read_only": true}],
            "network-interfaces": [{"iface_id": "net0", "host_dev_name": "tap0"}],
            "vsock": {"guest_cid": 5, "uds_path": "/tmp/v.sock"},
            "logger": {"log_path": "/tmp/v.log", "level": "Debug", "show_level": true},
            "metrics": {"metrics_path": "/tmp/v.metrics"},
            "entropy": {}})");
  auto by_file = cli::parse_command_line({"run", "--config-file", path_, "--api-sock", "/tmp/a.sock",
                                          "--transport", "pci"});
  ASSERT_TRUE(by_file.run) << by_file.err;
  auto by_flags = cli::parse_command_line(
      {"run", "--kernel", "/k", "--cmdline", "console=ttyS0", "--cpus", "2", "--memory", "256M",
       "--disk", "path=/d.img,readonly=on", "--net", "tap=tap0", "--vsock", "cid=5,uds=/tmp/v.sock",
       "--rng", "--api-sock", "/tmp/a.sock", "--transport", "pci", "--log-path", "/tmp/v.log",
       "--level", "Debug", "--show-level", "--metrics-path", "/tmp/v.metrics"});
  ASSERT_TRUE(by_flags.run) << by_flags.err;
  const vmm::VmConfig& a = *by_file.run;
  const vmm::VmConfig& b = *by_flags.run;
  EXPECT_EQ(a.kernel_path, b.kernel_path);
  EXPECT_EQ(a.cmdline, b.cmdline);
  EXPECT_EQ(a.cpus, b.cpus);
  EXPECT_EQ(a.memory, b.memory);
  EXPECT_EQ(a.disks, b.disks);
  EXPECT_EQ(a.nets, b.nets);
  EXPECT_EQ(a.vsock, b.vsock);
  EXPECT_EQ(a.rng, b.rng);
  EXPECT_EQ(a.api_sock, b.api_sock);
  EXPECT_EQ(a.transport, b.transport);
  ASSERT_TRUE(a.log);
  EXPECT_EQ(a.log, b.log);
  EXPECT_EQ(a.log->options.level, log::Level::kDebug);
  EXPECT_EQ(a.metrics_path, b.metrics_path);
  EXPECT_EQ(*a.metrics_path, "/tmp/v.metrics");
}

TEST(LogFlags, NeedALogPathAndAKnownLevel) {
  auto r = cli::parse_command_line({"run", "--kernel", "/k", "--level", "Debug"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "--level, --show-level and --show-log-origin need --log-path");
  r = cli::parse_command_line({"run", "--kernel", "/k", "--log-path", "/l", "--level", "shout"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--level: unknown log level 'shout'"), std::string::npos) << r.err;
  r = cli::parse_command_line({"run", "--kernel", "/k", "--metrics-path", "/m", "--metrics-interval", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "--metrics-interval 0 is out of range (1-86400 seconds)");
}

TEST_F(ConfigFileOnTheCommandLine, FlagsThatDescribeTheMachineAreRefusedBesideIt) {
  write(R"({"boot-source": {"kernel_image_path": "/k"}})");
  auto r = cli::parse_command_line({"run", "--config-file", path_, "--cpus", "2"});
  EXPECT_FALSE(r.run);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "--config-file describes the VM: leave out --cpus");
  write(R"({"boot-source": {}})");
  r = cli::parse_command_line({"run", "--config-file", path_});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "--config-file " + path_ + ": missing field `kernel_image_path` in `boot-source`");
  r = cli::parse_command_line({"run", "--config-file", "/nonexistent/vm.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "--config-file: cannot read '/nonexistent/vm.json': No such file or directory");
}

}  // namespace
}  // namespace vireo::api
