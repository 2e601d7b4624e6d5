#include "api/vm_api.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string_view>

namespace vireo::api {

namespace {

using nlohmann::json;

constexpr std::string_view kDeserializing =
    "An error occurred when deserializing the json body of a request: ";

HttpResponse ok_json(const json& j) { return {200, j.dump()}; }
HttpResponse no_content() { return {204, ""}; }
HttpResponse bad_request(const std::string& message) { return {400, fault_body(message)}; }

std::string expected_list(std::initializer_list<std::string_view> names) {
  std::string s;
  size_t i = 0;
  for (auto n : names) {
    if (i) s += (i + 1 == names.size()) ? " or " : ", ";
    s += fmt::format("`{}`", n);
    ++i;
  }
  return s;
}

// The body as a JSON object whose fields are all among `fields`, every one of them
// present; else the 400 to answer.
Result<json> object_with(const std::string& body, std::initializer_list<std::string_view> fields) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    std::string_view what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (auto at = what.find("] "); at != std::string_view::npos) what.remove_prefix(at + 2);
    return Error(fmt::format("{}{}", kDeserializing, what));
  }
  if (!j.is_object())
    return Error(fmt::format("{}invalid type: expected a JSON object.", kDeserializing));
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto f : fields) known = known || key == f;
    if (!known)
      return Error(fmt::format("{}unknown field `{}`, expected {}.", kDeserializing, key,
                               expected_list(fields)));
  }
  for (auto f : fields)
    if (!j.contains(f)) return Error(fmt::format("{}missing field `{}`.", kDeserializing, f));
  return j;
}

// A string field that must be one of `values`.
Result<std::string> one_of(const json& j, const char* field,
                           std::initializer_list<std::string_view> values) {
  const json& v = j.at(field);
  if (!v.is_string())
    return Error(fmt::format("{}invalid type for `{}`: {}, expected a string.", kDeserializing,
                             field, v.dump()));
  const auto s = v.get<std::string>();
  for (auto allowed : values)
    if (s == allowed) return s;
  return Error(fmt::format("{}unknown variant `{}` for `{}`, expected {}.", kDeserializing, s,
                           field, expected_list(values)));
}

const char* state_name(InstanceState s) {
  switch (s) {
    case InstanceState::kNotStarted: return "Not started";
    case InstanceState::kRunning: return "Running";
    case InstanceState::kPaused: return "Paused";
  }
  return "?";
}

json machine_config_json(const vmm::VmConfig& c) {
  return {{"vcpu_count", c.cpus},
          {"mem_size_mib", c.memory >> 20},
          {"smt", false},
          {"track_dirty_pages", false}};
}

}  // namespace

HttpResponse VmApi::handle(const HttpRequest& r) {
  if (r.method == "GET" && r.path == "/") return instance_info();
  if (r.method == "GET" && r.path == "/machine-config") return machine_config();
  if (r.method == "GET" && r.path == "/vm/config") return vm_config();
  if (r.method == "PATCH" && r.path == "/vm") return patch_vm(r.body);
  if (r.method == "PUT" && r.path == "/actions") return put_actions(r.body);
  return bad_request(fmt::format("Invalid request method and/or path: {} {}.", r.method, r.path));
}

HttpResponse VmApi::instance_info() const {
  return ok_json({{"app_name", "vireo"},
                  {"id", "anonymous-instance"},
                  {"state", state_name(vm_.state())},
                  {"vmm_version", VIREO_VERSION}});
}

HttpResponse VmApi::machine_config() const { return ok_json(machine_config_json(vm_.config())); }

HttpResponse VmApi::vm_config() const {
  const vmm::VmConfig& c = vm_.config();
  json boot = {{"kernel_image_path", c.kernel_path}, {"boot_args", c.cmdline}};
  if (c.initrd_path) boot["initrd_path"] = *c.initrd_path;
  json drives = json::array();
  for (const auto& d : c.disks)
    drives.push_back({{"drive_id", d.id},
                      {"path_on_host", d.path},
                      {"is_root_device", false},
                      {"is_read_only", d.readonly},
                      {"io_engine", "Async"}});
  json nets = json::array();
  for (const auto& n : c.nets) {
    json one = {{"iface_id", n.id}, {"host_dev_name", n.tap}};
    if (!n.mac.empty()) one["guest_mac"] = n.mac;
    nets.push_back(one);
  }
  json out = {{"boot-source", boot},
              {"machine-config", machine_config_json(c)},
              {"drives", drives},
              {"network-interfaces", nets}};
  out["vsock"] = c.vsock ? json{{"guest_cid", c.vsock->cid}, {"uds_path", c.vsock->uds}} : json();
  out["balloon"] = c.balloon ? json{{"amount_mib", c.balloon->size >> 20},
                                    {"deflate_on_oom", c.balloon->deflate_on_oom},
                                    {"stats_polling_interval_s", c.balloon->stats_seconds}}
                             : json();
  out["entropy"] = c.rng ? json::object() : json();
  return ok_json(out);
}

HttpResponse VmApi::patch_vm(const std::string& body) {
  auto j = object_with(body, {"state"});
  if (!j.ok()) return bad_request(j.error().message());
  auto state = one_of(*j, "state", {"Paused", "Resumed"});
  if (!state.ok()) return bad_request(state.error().message());
  if (vm_.state() == InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported before starting the microVM.");
  auto r = *state == "Paused" ? vm_.pause() : vm_.resume();
  if (!r.ok()) return bad_request(r.error().message());
  return no_content();
}

HttpResponse VmApi::put_actions(const std::string& body) {
  auto j = object_with(body, {"action_type"});
  if (!j.ok()) return bad_request(j.error().message());
  auto action = one_of(*j, "action_type", {"FlushMetrics", "InstanceStart", "SendCtrlAltDel"});
  if (!action.ok()) return bad_request(action.error().message());
  if (*action == "InstanceStart") {
    if (vm_.state() != InstanceState::kNotStarted)
      return bad_request("The requested operation is not supported after starting the microVM.");
    return bad_request("vireo starts the VM given on its command line by itself (an empty "
                       "process configured through the API is not built yet).");
  }
  return bad_request(fmt::format("{} is not built into vireo yet.", *action));
}

}  // namespace vireo::api
