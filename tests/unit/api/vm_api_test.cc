// VmApi's routes and body checks over a VmControl that records what it was asked.
#include "api/vm_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>

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
    if (!metrics_path) return Error("There is no metrics file to flush to: PUT /metrics first.");
    ++flushes;
    return {};
  }
  void report_metrics(metrics::Collector& out) const override {
    out.scope("block", "drive", "root\"fs");
    out.counter("read_bytes", 4096);
    out.scope("vm");
    out.gauge("vcpus", 2);
  }

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
  auto r = api.handle({"PUT", "/actions", R"({"action_type":"FlushMetrics"})"});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(fault(r).find("PUT /metrics first"), std::string::npos) << r.body;
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

}  // namespace
}  // namespace vireo::api
