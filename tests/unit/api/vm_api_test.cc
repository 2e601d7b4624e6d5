// VmApi's routes and body checks over a VmControl that records what it was asked.
#include "api/vm_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <tuple>
#include <vector>

namespace vireo::api {
namespace {

using nlohmann::json;

class RecordingVm : public VmControl {
 public:
  InstanceState state() const override { return state_; }
  Result<void> pause() override {
    ++pauses;
    state_ = InstanceState::kPaused;
    return {};
  }
  Result<void> resume() override {
    ++resumes;
    state_ = InstanceState::kRunning;
    return {};
  }
  Result<void> send_ctrl_alt_del() override {
    ++ctrl_alt_dels;
    if (keyboard_off) return Error("the guest's keyboard is not listening");
    return {};
  }
  Result<void> start(const vmm::VmConfig& machine) override {
    if (fail_start) return Error("cannot read kernel '/k': No such file or directory");
    started_with = machine;
    state_ = InstanceState::kRunning;
    return {};
  }
  const vmm::VmConfig& config() const override { return cfg; }
  Result<void> configure_logger(const vmm::LogConfig& log) override {
    if (log.path == "/nonexistent/log") return Error("cannot open log '/nonexistent/log': No such file or directory");
    logger = log;
    return {};
  }
  Result<void> configure_metrics(const std::string& path) override {
    if (metrics_path) return Error("Reinitialization of metrics not allowed.");
    metrics_path = path;
    return {};
  }
  Result<void> flush_metrics() override {
    if (metrics_path) ++flushes;
    return {};
  }
  void report_metrics(metrics::Collector& out) const override {
    out.scope("block", "drive", "root\"fs");
    out.counter("read_bytes", 4096);
    out.scope("vm");
    out.gauge("vcpus", 2);
  }
  Result<void> update_drive(const std::string& id, const std::optional<std::string>& path,
                            const std::optional<virtio::RateLimit>& limit) override {
    if (fail_update) return Error("cannot open '/nope': No such file or directory");
    drive_updates.push_back({id, path, limit});
    return {};
  }
  Result<void> update_net_limits(const std::string& id, const std::optional<virtio::RateLimit>& rx,
                                 const std::optional<virtio::RateLimit>& tx) override {
    net_updates.push_back({id, rx, tx});
    return {};
  }
  Result<void> set_balloon_target(uint64_t bytes) override {
    balloon_targets.push_back(bytes);
    return {};
  }
  Result<void> set_balloon_stats_interval(uint32_t seconds) override {
    stats_intervals.push_back(seconds);
    return {};
  }
  Result<BalloonStatistics> balloon_statistics() const override { return balloon_stats; }

  struct DriveUpdate {
    std::string id;
    std::optional<std::string> path;
    std::optional<virtio::RateLimit> limit;
  };
  struct NetUpdate {
    std::string id;
    std::optional<virtio::RateLimit> rx, tx;
  };
  std::vector<DriveUpdate> drive_updates;
  std::vector<NetUpdate> net_updates;
  std::vector<uint64_t> balloon_targets;
  std::vector<uint32_t> stats_intervals;
  BalloonStatistics balloon_stats;
  bool fail_update = false;
  std::optional<vmm::VmConfig> started_with;
  bool fail_start = false;
  InstanceState state_ = InstanceState::kRunning;
  int pauses = 0, resumes = 0, ctrl_alt_dels = 0;
  bool keyboard_off = false;
  vmm::VmConfig cfg;
  std::optional<vmm::LogConfig> logger;
  std::optional<std::string> metrics_path;
  int flushes = 0;
};

std::string fault(const HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_object() && j.contains("fault_message") ? j["fault_message"].get<std::string>() : "";
}

TEST(VmApi, InstanceInfoFollowsTheState) {
  RecordingVm vm;
  VmApi api(vm);
  auto r = api.handle({"GET", "/", ""});
  ASSERT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["state"], "Running");
  EXPECT_EQ(j["app_name"], "vireo");
  EXPECT_EQ(j["id"], "anonymous-instance");
  EXPECT_EQ(j["vmm_version"], VIREO_VERSION);
  vm.state_ = InstanceState::kPaused;
  EXPECT_EQ(json::parse(api.handle({"GET", "/", ""}).body)["state"], "Paused");
  vm.state_ = InstanceState::kNotStarted;
  EXPECT_EQ(json::parse(api.handle({"GET", "/", ""}).body)["state"], "Not started");
}

TEST(VmApi, PatchVmPausesAndResumes) {
  RecordingVm vm;
  VmApi api(vm);
  auto r = api.handle({"PATCH", "/vm", R"({"state": "Paused"})"});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(vm.pauses, 1);
  EXPECT_EQ(api.handle({"PATCH", "/vm", R"({"state":"Resumed"})"}).status, 204);
  EXPECT_EQ(vm.resumes, 1);
}

TEST(VmApi, BadBodiesAre400NamingTheFieldAndChangeNothing) {
  RecordingVm vm;
  VmApi api(vm);
  struct Case {
    const char* body;
    const char* says;
  } cases[] = {
      {R"({"state": "Sleeping"})", "unknown variant `Sleeping` for `state`, expected `Paused` or `Resumed`"},
      {R"({"state": 1})", "invalid type for `state`: 1, expected a string"},
      {R"({"state": "Paused", "when": "now"})", "unknown field `when`, expected `state`"},
      {R"({})", "missing field `state`"},
      {R"(["Paused"])", "expected a JSON object"},
      {R"({"state": "Paused")", "parse error"},
      {"", "parse error"},
  };
  for (const auto& c : cases) {
    auto r = api.handle({"PATCH", "/vm", c.body});
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(fault(r).find(c.says), std::string::npos) << c.body << " -> " << r.body;
    EXPECT_EQ(fault(r).rfind("An error occurred when deserializing the json body of a request: ", 0), 0u);
  }
  EXPECT_EQ(vm.pauses + vm.resumes, 0);
}

// Found by tests/fuzz/api_fuzz.cc: a parse error quotes the client's bytes back, and
// bytes that are not UTF-8 made nlohmann::json throw while the answer was written (the
// exception ended vireo).
TEST(VmApi, BytesThatAreNotUtf8AreQuotedBackSafely) {
  RecordingVm vm;
  VmApi api(vm);
  auto r = api.handle({"PATCH", "/vm", std::string("{\"state\":\xe6\xdd\x9c}")});
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(json::accept(r.body)) << r.body;
  r = api.handle({"PUT", "/nope\xff", ""});
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(json::accept(r.body)) << r.body;
}

TEST(VmApi, PatchVmBeforeStartIsRefused) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  auto r = api.handle({"PATCH", "/vm", R"({"state":"Paused"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "The requested operation is not supported before starting the microVM.");
  EXPECT_EQ(vm.pauses, 0);
}

TEST(VmApi, InstanceStartAfterStartIsFirecrackersError) {
  RecordingVm vm;
  VmApi api(vm);
  auto r = api.handle({"PUT", "/actions", R"({"action_type":"InstanceStart"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "The requested operation is not supported after starting the microVM.");
  r = api.handle({"PUT", "/actions", R"({"action_type":"Reboot"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("expected `FlushMetrics`, `InstanceStart` or `SendCtrlAltDel`"), std::string::npos) << r.body;
}

TEST(VmApi, SendCtrlAltDelTypesItOrSaysWhyNot) {
  RecordingVm vm;
  VmApi api(vm);
  EXPECT_EQ(api.handle({"PUT", "/actions", R"({"action_type":"SendCtrlAltDel"})"}).status, 204);
  EXPECT_EQ(vm.ctrl_alt_dels, 1);
  vm.keyboard_off = true;
  auto r = api.handle({"PUT", "/actions", R"({"action_type":"SendCtrlAltDel"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "the guest's keyboard is not listening");
  vm.state_ = InstanceState::kNotStarted;
  EXPECT_EQ(api.handle({"PUT", "/actions", R"({"action_type":"SendCtrlAltDel"})"}).status, 400);
  EXPECT_EQ(vm.ctrl_alt_dels, 2);
}

// Firecracker's getting-started order: boot source, machine, drives, NIC, then start.
TEST(VmApi, MachineDescribedPieceByPieceThenStarted) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  auto put = [&](const std::string& path, const std::string& body) {
    return api.handle({"PUT", path, body});
  };
  EXPECT_EQ(fault(put("/actions", R"({"action_type": "InstanceStart"})")),
            "Cannot start the microVM without a kernel: PUT /boot-source first.");
  EXPECT_EQ(put("/boot-source", R"({"kernel_image_path": "/k", "boot_args": "console=ttyS0"})").status, 204);
  EXPECT_EQ(put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})").status, 204);
  EXPECT_EQ(json::parse(api.handle({"GET", "/machine-config", ""}).body)["vcpu_count"], 2);
  EXPECT_EQ(put("/drives/rootfs", R"({"drive_id": "rootfs", "path_on_host": "/r.ext4",
                                      "is_root_device": true, "is_read_only": false})").status, 204);
  EXPECT_EQ(put("/drives/data", R"({"drive_id": "data", "path_on_host": "/old.img", "is_root_device": false})").status, 204);
  // The same id again replaces the drive.
  EXPECT_EQ(put("/drives/data", R"({"drive_id": "data", "path_on_host": "/d.img", "is_root_device": false})").status, 204);
  EXPECT_EQ(put("/network-interfaces/eth0", R"({"iface_id": "eth0", "host_dev_name": "tap0"})").status, 204);
  EXPECT_EQ(put("/entropy", "{}").status, 204);
  // Refusals change nothing.
  auto r = put("/drives/x", R"({"drive_id": "y", "path_on_host": "/y", "is_root_device": false})");
  EXPECT_EQ(fault(r), "The id from the path does not match the id from the body!");
  r = put("/machine-config", R"({"vcpu_count": 0, "mem_size_mib": 256})");
  EXPECT_NE(fault(r).find("`machine-config.vcpu_count`: 0 is out of range"), std::string::npos) << r.body;
  r = put("/drives/second-root", R"({"drive_id": "second-root", "path_on_host": "/s", "is_root_device": true})");
  EXPECT_NE(fault(r).find("a second root device"), std::string::npos) << r.body;
  auto doc = json::parse(api.handle({"GET", "/vm/config", ""}).body);
  EXPECT_EQ(doc["machine-config"]["vcpu_count"], 2);
  EXPECT_EQ(doc["drives"].size(), 2u);

  EXPECT_EQ(put("/actions", R"({"action_type": "InstanceStart"})").status, 204);
  ASSERT_TRUE(vm.started_with);
  const vmm::VmConfig& c = *vm.started_with;
  EXPECT_EQ(c.kernel_path, "/k");
  EXPECT_EQ(c.cmdline, "console=ttyS0 root=/dev/vda rw");
  EXPECT_EQ(c.cpus, 2u);
  EXPECT_EQ(c.memory, 256ull << 20);
  ASSERT_EQ(c.disks.size(), 2u);
  EXPECT_EQ(c.disks[0].id, "rootfs");
  EXPECT_EQ(c.disks[1].path, "/d.img");
  ASSERT_EQ(c.nets.size(), 1u);
  EXPECT_TRUE(c.rng);
  // Started: describing the machine is over.
  r = put("/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 128})");
  EXPECT_EQ(fault(r), "The requested operation is not supported after starting the microVM.");
}

TEST(VmApi, InstanceStartThatCannotBuildTheVmLeavesItNotStarted) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  vm.fail_start = true;
  VmApi api(vm);
  ASSERT_EQ(api.handle({"PUT", "/boot-source", R"({"kernel_image_path": "/k"})"}).status, 204);
  auto r = api.handle({"PUT", "/actions", R"({"action_type": "InstanceStart"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "Start microvm error: cannot read kernel '/k': No such file or directory");
  EXPECT_EQ(vm.state_, InstanceState::kNotStarted);
  // Fixed, it starts.
  vm.fail_start = false;
  EXPECT_EQ(api.handle({"PUT", "/actions", R"({"action_type": "InstanceStart"})"}).status, 204);
}

TEST(VmApi, UnknownPathsAndMethodsAreFirecrackers400) {
  RecordingVm vm;
  VmApi api(vm);
  auto r = api.handle({"GET", "/nope", ""});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "Invalid request method and/or path: GET /nope.");
  EXPECT_EQ(fault(api.handle({"DELETE", "/vm", ""})), "Invalid request method and/or path: DELETE /vm.");
  EXPECT_EQ(api.handle({"POST", "/", ""}).status, 400);
}

TEST(VmApi, ConfigurationIsReportedInFirecrackersSections) {
  RecordingVm vm;
  vm.cfg.kernel_path = "/k";
  vm.cfg.initrd_path = "/i";
  vm.cfg.cmdline = "console=ttyS0";
  vm.cfg.cpus = 2;
  vm.cfg.memory = 256ull << 20;
  vm.cfg.disks.push_back({.path = "/d.img", .readonly = true, .id = "rootfs"});
  vm.cfg.nets.push_back({.tap = "tap0", .mac = "52:54:00:00:00:01", .id = "eth0"});
  vm.cfg.vsock = vmm::VsockConfig{3, "/v.sock"};
  VmApi api(vm);
  auto mc = json::parse(api.handle({"GET", "/machine-config", ""}).body);
  EXPECT_EQ(mc, json::parse(R"({"vcpu_count":2,"mem_size_mib":256,"smt":false,"track_dirty_pages":false})"));
  auto c = json::parse(api.handle({"GET", "/vm/config", ""}).body);
  EXPECT_EQ(c["boot-source"]["kernel_image_path"], "/k");
  EXPECT_EQ(c["boot-source"]["initrd_path"], "/i");
  EXPECT_EQ(c["boot-source"]["boot_args"], "console=ttyS0");
  EXPECT_EQ(c["machine-config"], mc);
  EXPECT_EQ(c["drives"][0]["drive_id"], "rootfs");
  EXPECT_EQ(c["drives"][0]["path_on_host"], "/d.img");
  EXPECT_EQ(c["drives"][0]["is_read_only"], true);
  EXPECT_EQ(c["network-interfaces"][0]["iface_id"], "eth0");
  EXPECT_EQ(c["network-interfaces"][0]["host_dev_name"], "tap0");
  EXPECT_EQ(c["network-interfaces"][0]["guest_mac"], "52:54:00:00:00:01");
  EXPECT_EQ(c["vsock"]["guest_cid"], 3);
  EXPECT_EQ(c["vsock"]["uds_path"], "/v.sock");
  EXPECT_TRUE(c["balloon"].is_null());
}

TEST(VmApi, LoggerIsSetBeforeTheStartWithFirecrackersFields) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  auto r = api.handle({"PUT", "/logger",
                       R"({"log_path":"/tmp/l","level":"debug","show_level":true,"show_log_origin":true,"module":"virtio"})"});
  ASSERT_EQ(r.status, 204) << r.body;
  ASSERT_TRUE(vm.logger);
  EXPECT_EQ(vm.logger->path, "/tmp/l");
  EXPECT_EQ(vm.logger->options.level, log::Level::kDebug);
  EXPECT_TRUE(vm.logger->options.show_level);
  EXPECT_TRUE(vm.logger->options.show_origin);
  EXPECT_EQ(vm.logger->options.module, "virtio");

  vm.logger.reset();
  r = api.handle({"PUT", "/logger", R"({"log_path":"/tmp/l","level":"loud"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("level"), std::string::npos) << r.body;
  EXPECT_NE(fault(r).find("Off, Error, Warning, Info, Debug, Trace"), std::string::npos) << r.body;
  r = api.handle({"PUT", "/logger", R"({"log_path":"/tmp/l","colour":true})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("colour"), std::string::npos) << r.body;
  r = api.handle({"PUT", "/logger", R"({"log_path":7})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("log_path"), std::string::npos) << r.body;
  r = api.handle({"PUT", "/logger", R"({"level":"Info"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("log_path"), std::string::npos) << r.body;
  r = api.handle({"PUT", "/logger", R"({"log_path":"/nonexistent/log"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("Cannot initialize logging system: cannot open log"), std::string::npos) << r.body;
  EXPECT_FALSE(vm.logger);

  vm.state_ = InstanceState::kRunning;
  r = api.handle({"PUT", "/logger", R"({"log_path":"/tmp/l"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "The requested operation is not supported after starting the microVM.");
  EXPECT_FALSE(vm.logger);
}

TEST(VmApi, MetricsFileOnceThenFlushMetricsWritesALine) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  // Without a metrics file there is nothing to write, and nothing wrong (as Firecracker).
  auto r = api.handle({"PUT", "/actions", R"({"action_type":"FlushMetrics"})"});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(vm.flushes, 0);
  r = api.handle({"PUT", "/metrics", R"({"metrics_path":""})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("metrics_path"), std::string::npos) << r.body;
  r = api.handle({"PUT", "/metrics", R"({"metrics_path":"/tmp/m","extra":1})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("extra"), std::string::npos) << r.body;
  EXPECT_EQ(api.handle({"PUT", "/metrics", R"({"metrics_path":"/tmp/m"})"}).status, 204);
  EXPECT_EQ(vm.metrics_path, "/tmp/m");
  r = api.handle({"PUT", "/metrics", R"({"metrics_path":"/tmp/m2"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("Reinitialization of metrics not allowed."), std::string::npos) << r.body;
  EXPECT_EQ(api.handle({"PUT", "/actions", R"({"action_type":"FlushMetrics"})"}).status, 204);
  vm.state_ = InstanceState::kRunning;
  EXPECT_EQ(api.handle({"PUT", "/actions", R"({"action_type":"FlushMetrics"})"}).status, 204);
  EXPECT_EQ(vm.flushes, 2);
  r = api.handle({"PUT", "/metrics", R"({"metrics_path":"/tmp/m3"})"});
  EXPECT_EQ(fault(r), "The requested operation is not supported after starting the microVM.");
}

TEST(VmApi, GetMetricsIsPrometheusTextWithTheApisOwnCounters) {
  RecordingVm vm;
  VmApi api(vm);
  (void)api.handle({"GET", "/", ""});
  (void)api.handle({"PATCH", "/vm", "{"});  // a client error
  auto r = api.handle({"GET", "/metrics", ""});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4");
  EXPECT_NE(r.body.find("# TYPE vireo_block_read_bytes_total counter\n"
                        "vireo_block_read_bytes_total{drive=\"root\\\"fs\"} 4096\n"),
            std::string::npos) << r.body;
  EXPECT_NE(r.body.find("# TYPE vireo_vm_vcpus gauge\nvireo_vm_vcpus 2\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("vireo_api_get_requests_total 2\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("vireo_api_patch_requests_total 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("vireo_api_client_errors_total 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("vireo_api_ok_responses_total 1\n"), std::string::npos) << r.body;
}

// A running VM with a drive, an interface and a balloon with statistics.
RecordingVm running_vm() {
  RecordingVm vm;
  vm.cfg.kernel_path = "/k";
  vm.cfg.memory = 256ull << 20;
  vm.cfg.disks.push_back({.path = "/d.img", .id = "data", .limit = {.bytes_per_second = 1000, .ops_per_second = 10}});
  vm.cfg.nets.push_back({.tap = "tap0", .id = "eth0", .rx_limit = {.ops_per_second = 5}});
  vm.cfg.balloon = vmm::BalloonConfig{.size = 64ull << 20, .deflate_on_oom = true, .stats_seconds = 1};
  return vm;
}

TEST(VmApi, PatchDriveSwapsTheFileAndOrTheRateLimit) {
  RecordingVm vm = running_vm();
  VmApi api(vm);
  auto r = api.handle({"PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": "/new.img"})"});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.drive_updates.size(), 1u);
  EXPECT_EQ(vm.drive_updates[0].id, "data");
  EXPECT_EQ(vm.drive_updates[0].path, "/new.img");
  EXPECT_FALSE(vm.drive_updates[0].limit);
  // A bucket given replaces the drive's; one left out stays (Firecracker's partial update).
  r = api.handle({"PATCH", "/drives/data", R"({"drive_id": "data",
      "rate_limiter": {"bandwidth": {"size": 500, "refill_time": 100, "one_time_burst": 7}}})"});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.drive_updates.size(), 2u);
  EXPECT_FALSE(vm.drive_updates[1].path);
  EXPECT_EQ(vm.drive_updates[1].limit,
            (virtio::RateLimit{.bytes_per_second = 5000, .bytes_burst = 7, .ops_per_second = 10}));
  // Paused is fine too; a size of 0 makes a bucket unlimited.
  vm.state_ = InstanceState::kPaused;
  r = api.handle({"PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": "/x",
      "rate_limiter": {"ops": {"size": 0, "refill_time": 1000}}})"});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.drive_updates.size(), 3u);
  EXPECT_EQ(vm.drive_updates[2].limit, (virtio::RateLimit{.bytes_per_second = 1000}));
}

TEST(VmApi, PatchDriveRefusalsChangeNothing) {
  RecordingVm vm = running_vm();
  VmApi api(vm);
  struct Case {
    const char* path;
    const char* body;
    const char* says;
  } cases[] = {
      {"/drives/data", R"({"drive_id": "data", "path_on_host": 5})",
       "invalid type for `path_on_host`: 5, expected a string"},
      {"/drives/data", R"({"drive_id": "data", "is_read_only": true})",
       "unknown field `is_read_only`, expected one of `drive_id`, `path_on_host`, `rate_limiter`"},
      {"/drives/data", R"({"path_on_host": "/x"})", "missing field `drive_id`"},
      {"/drives/data", R"({"drive_id": "data", "rate_limiter": {"bandwidth": {"size": 1}}})",
       "missing field `refill_time` in `rate_limiter.bandwidth`"},
      {"/drives/data", R"({"drive_id": "data", "rate_limiter": {"bw": {}}})", "unknown field `bw`"},
      {"/drives/data", R"({"drive_id": "data", "path_on_host": "/x")", "parse error"},
      {"/drives/data", R"({"drive_id": "other", "path_on_host": "/x"})",
       "The id from the path does not match the id from the body!"},
      {"/drives/nope", R"({"drive_id": "nope", "path_on_host": "/x"})",
       "Unable to patch the block device: no drive `nope` in this microVM. Please verify the request arguments."},
      {"/drives/data", R"({"drive_id": "data"})", "nothing to change"},
      {"/drives/data", R"({"drive_id": "data", "rate_limiter": null})", "nothing to change"},
  };
  for (const auto& c : cases) {
    auto r = api.handle({"PATCH", c.path, c.body});
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(fault(r).find(c.says), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_TRUE(vm.drive_updates.empty());
  // What the VMM refuses (a missing file) is Firecracker's patch error, naming the cause.
  vm.fail_update = true;
  auto r = api.handle({"PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": "/nope"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(fault(r), "Unable to patch the block device: cannot open '/nope': No such file or "
                      "directory. Please verify the request arguments.");
  // Before the start: Firecracker's error (PUT describes drives then).
  vm.fail_update = false;
  vm.state_ = InstanceState::kNotStarted;
  r = api.handle({"PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": "/x"})"});
  EXPECT_EQ(fault(r), "The requested operation is not supported before starting the microVM.");
  EXPECT_TRUE(vm.drive_updates.empty());
}

TEST(VmApi, PatchNetworkInterfaceChangesEachDirectionsLimit) {
  RecordingVm vm = running_vm();
  VmApi api(vm);
  auto r = api.handle({"PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0",
      "tx_rate_limiter": {"bandwidth": {"size": 1000000, "refill_time": 1000}}})"});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.net_updates.size(), 1u);
  EXPECT_EQ(vm.net_updates[0].id, "eth0");
  EXPECT_FALSE(vm.net_updates[0].rx);
  EXPECT_EQ(vm.net_updates[0].tx, (virtio::RateLimit{.bytes_per_second = 1000000}));
  r = api.handle({"PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0",
      "rx_rate_limiter": {"bandwidth": {"size": 100, "refill_time": 1000}}})"});
  EXPECT_EQ(r.status, 204) << r.body;
  ASSERT_EQ(vm.net_updates.size(), 2u);
  EXPECT_EQ(vm.net_updates[1].rx, (virtio::RateLimit{.bytes_per_second = 100, .ops_per_second = 5}));
  EXPECT_FALSE(vm.net_updates[1].tx);

  for (const auto& [path, body, says] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/network-interfaces/eth0", R"({"iface_id": "eth0", "host_dev_name": "tap1"})",
            "unknown field `host_dev_name`"},
           {"/network-interfaces/eth0", R"({"iface_id": 1})", "invalid type for `iface_id`"},
           {"/network-interfaces/eth0", R"({"iface_id": "eth0", "rx_rate_limiter": []})",
            "invalid type in `rx_rate_limiter`: expected a JSON object"},
           {"/network-interfaces/eth0", R"({"iface_id": "eth1"})",
            "The id from the path does not match the id from the body!"},
           {"/network-interfaces/eth1", R"({"iface_id": "eth1"})", "no network interface `eth1`"},
       }) {
    auto bad = api.handle({"PATCH", path, body});
    EXPECT_EQ(bad.status, 400) << body;
    EXPECT_NE(fault(bad).find(says), std::string::npos) << body << " -> " << bad.body;
  }
  vm.state_ = InstanceState::kNotStarted;
  r = api.handle({"PATCH", "/network-interfaces/eth0", R"({"iface_id": "eth0"})"});
  EXPECT_EQ(fault(r), "The requested operation is not supported before starting the microVM.");
  EXPECT_EQ(vm.net_updates.size(), 2u);
}

TEST(VmApi, BalloonIsReadAndChanged) {
  RecordingVm vm = running_vm();
  VmApi api(vm);
  auto r = api.handle({"GET", "/balloon", ""});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body),
            json::parse(R"({"amount_mib": 64, "deflate_on_oom": true, "stats_polling_interval_s": 1})"));
  EXPECT_EQ(api.handle({"PATCH", "/balloon", R"({"amount_mib": 100})"}).status, 204);
  ASSERT_EQ(vm.balloon_targets, std::vector<uint64_t>{100ull << 20});
  EXPECT_EQ(api.handle({"PATCH", "/balloon/statistics", R"({"stats_polling_interval_s": 5})"}).status, 204);
  EXPECT_EQ(vm.stats_intervals, std::vector<uint32_t>{5});

  for (const auto& [path, body, says] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"/balloon", R"({"amount_mib": "1"})", "invalid type for `amount_mib`"},
           {"/balloon", R"({"amount_mib": -1})", "expected an unsigned integer"},
           {"/balloon", R"({"amount_mib": 1, "deflate_on_oom": true})", "unknown field `deflate_on_oom`"},
           {"/balloon", R"({})", "missing field `amount_mib`"},
           {"/balloon", R"({"amount_mib": 256})", "Amount of pages requested is too large."},
           {"/balloon/statistics", R"({"stats_polling_interval_s": 0})",
            "Cannot enable/disable the statistics after boot."},
           {"/balloon/statistics", R"({"stats_polling_interval_s": 1.5})", "expected an unsigned integer"},
           {"/balloon/statistics", R"({"stats_polling_interval_s": 99999})", "more than a day"},
           {"/balloon/statistics", "{", "parse error"},
       }) {
    auto bad = api.handle({"PATCH", path, body});
    EXPECT_EQ(bad.status, 400) << body;
    EXPECT_NE(fault(bad).find(says), std::string::npos) << body << " -> " << bad.body;
  }
  EXPECT_EQ(vm.balloon_targets.size(), 1u);
  EXPECT_EQ(vm.stats_intervals.size(), 1u);
}

TEST(VmApi, BalloonStatisticsInFirecrackersShape) {
  RecordingVm vm = running_vm();
  vm.balloon_stats = {.target_pages = 512, .actual_pages = 256, .tags = {{0, 11}, {4, 4096}, {5, 8192}, {9, 3}, {42, 1}}};
  VmApi api(vm);
  auto r = api.handle({"GET", "/balloon/statistics", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"target_pages": 512, "actual_pages": 256,
      "target_mib": 2, "actual_mib": 1, "swap_in": 11, "free_memory": 4096, "total_memory": 8192,
      "hugetlb_failures": 3})"));
  // Statistics off, no balloon, not started: Firecracker's errors.
  vm.cfg.balloon->stats_seconds = 0;
  EXPECT_EQ(fault(api.handle({"GET", "/balloon/statistics", ""})),
            "Statistics for the balloon device are not enabled");
  EXPECT_EQ(fault(api.handle({"PATCH", "/balloon/statistics", R"({"stats_polling_interval_s": 2})"})),
            "Cannot enable/disable the statistics after boot.");
  vm.cfg.balloon.reset();
  for (const auto& [method, path, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/balloon", ""},
           {"GET", "/balloon/statistics", ""},
           {"PATCH", "/balloon", R"({"amount_mib": 1})"},
           {"PATCH", "/balloon/statistics", R"({"stats_polling_interval_s": 1})"}})
    EXPECT_EQ(fault(api.handle({method, path, body})), "No balloon device found.") << method << path;
  vm.state_ = InstanceState::kNotStarted;
  EXPECT_EQ(fault(api.handle({"GET", "/balloon/statistics", ""})),
            "The requested operation is not supported before starting the microVM.");
  EXPECT_EQ(fault(api.handle({"PATCH", "/balloon", R"({"amount_mib": 1})"})),
            "The requested operation is not supported before starting the microVM.");
  EXPECT_TRUE(vm.balloon_targets.empty());
  EXPECT_TRUE(vm.stats_intervals.empty());
}

TEST(VmApi, GetBalloonBeforeTheStartShowsWhatWasPut) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  EXPECT_EQ(fault(api.handle({"GET", "/balloon", ""})), "No balloon device found.");
  ASSERT_EQ(api.handle({"PUT", "/balloon", R"({"amount_mib": 8, "deflate_on_oom": false})"}).status, 204);
  auto r = api.handle({"GET", "/balloon", ""});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["amount_mib"], 8);
  EXPECT_EQ(json::parse(r.body)["stats_polling_interval_s"], 0);
}

TEST(VmApi, VmConfigShowsRateLimiters) {
  RecordingVm vm = running_vm();
  vm.cfg.nets[0].tx_limit = {.bytes_per_second = 2000, .bytes_burst = 10};
  VmApi api(vm);
  auto c = json::parse(api.handle({"GET", "/vm/config", ""}).body);
  EXPECT_EQ(c["drives"][0]["rate_limiter"], json::parse(R"({"bandwidth": {"size": 1000, "refill_time": 1000},
      "ops": {"size": 10, "refill_time": 1000}})"));
  EXPECT_EQ(c["network-interfaces"][0]["rx_rate_limiter"],
            json::parse(R"({"ops": {"size": 5, "refill_time": 1000}})"));
  EXPECT_EQ(c["network-interfaces"][0]["tx_rate_limiter"],
            json::parse(R"({"bandwidth": {"size": 2000, "refill_time": 1000, "one_time_burst": 10}})"));
  EXPECT_EQ(c["balloon"]["amount_mib"], 64);
}

TEST(VmApi, PatchMachineConfigChangesOnlyTheFieldsGivenBeforeTheStart) {
  RecordingVm vm;
  vm.state_ = InstanceState::kNotStarted;
  VmApi api(vm);
  // Over Firecracker's defaults (1 vCPU, 128 MiB) where nothing was put.
  EXPECT_EQ(api.handle({"PATCH", "/machine-config", R"({"vcpu_count": 2})"}).status, 204);
  auto j = json::parse(api.handle({"GET", "/machine-config", ""}).body);
  EXPECT_EQ(j["vcpu_count"], 2);
  EXPECT_EQ(j["mem_size_mib"], 128);
  ASSERT_EQ(api.handle({"PUT", "/machine-config", R"({"vcpu_count": 4, "mem_size_mib": 512})"}).status, 204);
  EXPECT_EQ(api.handle({"PATCH", "/machine-config", R"({"mem_size_mib": 256})"}).status, 204);
  j = json::parse(api.handle({"GET", "/machine-config", ""}).body);
  EXPECT_EQ(j["vcpu_count"], 4);
  EXPECT_EQ(j["mem_size_mib"], 256);
  // Refusals name the field and change nothing.
  auto r = api.handle({"PATCH", "/machine-config", R"({"vcpu_count": 0})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("vcpu_count"), std::string::npos) << r.body;
  r = api.handle({"PATCH", "/machine-config", R"({"cores": 2})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("cores"), std::string::npos) << r.body;
  EXPECT_EQ(api.handle({"PATCH", "/machine-config", "[1]"}).status, 400);
  EXPECT_EQ(fault(api.handle({"PATCH", "/machine-config", "{}"})), "Empty PATCH request.");
  j = json::parse(api.handle({"GET", "/machine-config", ""}).body);
  EXPECT_EQ(j["vcpu_count"], 4);
  vm.state_ = InstanceState::kRunning;
  r = api.handle({"PATCH", "/machine-config", R"({"vcpu_count": 2})"});
  EXPECT_EQ(fault(r), "The requested operation is not supported after starting the microVM.");
}

}  // namespace
}  // namespace vireo::api
