// VmApi's routes and body checks over a VmControl that records what it was asked.
#include "api/vm_api.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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
  const vmm::VmConfig& config() const override { return cfg; }

  InstanceState state_ = InstanceState::kRunning;
  int pauses = 0, resumes = 0, ctrl_alt_dels = 0;
  bool keyboard_off = false;
  vmm::VmConfig cfg;
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

}  // namespace
}  // namespace vireo::api
