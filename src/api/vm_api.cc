#include "api/vm_api.h"

#include "api/config_file.h"
#include "api/json_checks.h"
#include "log/log.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string_view>

namespace vireo::api {

namespace {

using nlohmann::json;

HttpResponse ok_json(const json& j) { return {200, dump_json(j)}; }
HttpResponse no_content() { return {204, ""}; }
HttpResponse bad_request(const std::string& message) { return {400, fault_body(message)}; }

// The body as an object with exactly `fields`; else the 400's message.
Result<json> body_with(const std::string& body, std::initializer_list<std::string_view> fields) {
  auto j = parse_json(body);
  if (!j.ok()) return Error(fmt::format("{}{}", kDeserializing, j.error().message()));
  if (auto c = check_object(*j, "", fields); !c.ok())
    return Error(fmt::format("{}{}.", kDeserializing, c.error().message()));
  return j;
}

// A field of the body that must be one of `values`; else the 400's message.
Result<std::string> body_one_of(const json& j, const char* field,
                                std::initializer_list<std::string_view> values) {
  auto v = one_of(j, field, "", values);
  if (!v.ok()) return Error(fmt::format("{}{}.", kDeserializing, v.error().message()));
  return v;
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
  if (r.method == "GET") ++counts_.get;
  else if (r.method == "PUT") ++counts_.put;
  else if (r.method == "PATCH") ++counts_.patch;
  else ++counts_.other;
  HttpResponse answer = route(r);
  if (answer.status >= 500) ++counts_.server_errors;
  else if (answer.status >= 400) ++counts_.client_errors;
  else ++counts_.ok;
  if (answer.status >= 400)
    LOG_INFO("API {} {}: {} {}", r.method, r.path, answer.status, answer.body);
  else
    LOG_DEBUG("API {} {}: {}", r.method, r.path, answer.status);
  return answer;
}

void VmApi::report_metrics(metrics::Collector& out) const {
  out.scope("api");
  out.counter("get_requests", counts_.get);
  out.counter("put_requests", counts_.put);
  out.counter("patch_requests", counts_.patch);
  out.counter("other_requests", counts_.other);
  out.counter("ok_responses", counts_.ok);
  out.counter("client_errors", counts_.client_errors);
  out.counter("server_errors", counts_.server_errors);
}

HttpResponse VmApi::route(const HttpRequest& r) {
  if (r.method == "PUT" && r.path == "/logger") return put_logger(r.body);
  if (r.method == "PUT" && r.path == "/metrics") return put_metrics(r.body);
  if (r.method == "GET" && r.path == "/metrics") return get_metrics();
  if (r.method == "PUT") {
    for (const char* section : {"boot-source", "machine-config", "vsock", "balloon", "entropy"})
      if (r.path == std::string("/") + section) return put_section(section, r.body);
    if (r.path.starts_with("/drives/") && r.path.size() > 8)
      return put_item("drives", "drive_id", r.path.substr(8), r.body);
    if (r.path.starts_with("/network-interfaces/") && r.path.size() > 20)
      return put_item("network-interfaces", "iface_id", r.path.substr(20), r.body);
  }
  if (r.method == "GET" && r.path == "/") return instance_info();
  if (r.method == "GET" && r.path == "/machine-config") return machine_config();
  if (r.method == "GET" && r.path == "/vm/config") return vm_config();
  if (r.method == "PATCH" && r.path == "/vm") return patch_vm(r.body);
  if (r.method == "PUT" && r.path == "/actions") return put_actions(r.body);
  return bad_request(fmt::format("Invalid request method and/or path: {} {}.", r.method, r.path));
}

Result<vmm::VmConfig> VmApi::check_pending(json doc) {
  if (!doc.contains("boot-source")) doc["boot-source"] = {{"kernel_image_path", "-"}};
  return config_from_json(dump_json(doc));
}

HttpResponse VmApi::put_section(const std::string& section, const std::string& body) {
  auto j = parse_json(body);
  if (!j.ok()) return bad_request(fmt::format("{}{}", kDeserializing, j.error().message()));
  if (vm_.state() != InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported after starting the microVM.");
  json trial = pending_;
  trial[section] = *j;
  if (auto c = check_pending(trial); !c.ok()) return bad_request(c.error().message());
  pending_ = std::move(trial);
  return no_content();
}

HttpResponse VmApi::put_item(const std::string& list, const char* id_field, const std::string& id,
                             const std::string& body) {
  auto j = parse_json(body);
  if (!j.ok()) return bad_request(fmt::format("{}{}", kDeserializing, j.error().message()));
  if (vm_.state() != InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported after starting the microVM.");
  if (!j->is_object() || !j->contains(id_field) || (*j)[id_field] != id)
    return bad_request("The id from the path does not match the id from the body!");
  json trial = pending_;
  json& items = trial[list];
  if (!items.is_array()) items = json::array();
  bool replaced = false;
  for (auto& item : items) {
    if (item.is_object() && item.value(id_field, json()) == id) {
      item = *j;
      replaced = true;
    }
  }
  if (!replaced) items.push_back(*j);
  if (auto c = check_pending(trial); !c.ok()) return bad_request(c.error().message());
  pending_ = std::move(trial);
  return no_content();
}

HttpResponse VmApi::instance_start() {
  if (!pending_.contains("boot-source"))
    return bad_request("Cannot start the microVM without a kernel: PUT /boot-source first.");
  auto cfg = config_from_json(dump_json(pending_));
  if (!cfg.ok()) return bad_request(cfg.error().message());
  if (auto r = vm_.start(*cfg); !r.ok())
    return bad_request(fmt::format("Start microvm error: {}", r.error().message()));
  return no_content();
}

HttpResponse VmApi::put_logger(const std::string& body) {
  auto j = parse_json(body);
  if (!j.ok()) return bad_request(fmt::format("{}{}", kDeserializing, j.error().message()));
  auto log = read_logger(*j, "the body");
  if (!log.ok()) return bad_request(fmt::format("{}{}", kDeserializing, log.error().message()));
  if (vm_.state() != InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported after starting the microVM.");
  if (auto r = vm_.configure_logger(*log); !r.ok())
    return bad_request(fmt::format("Cannot initialize logging system: {}", r.error().message()));
  return no_content();
}

HttpResponse VmApi::put_metrics(const std::string& body) {
  auto j = parse_json(body);
  if (!j.ok()) return bad_request(fmt::format("{}{}", kDeserializing, j.error().message()));
  auto path = read_metrics(*j, "the body");
  if (!path.ok()) return bad_request(fmt::format("{}{}", kDeserializing, path.error().message()));
  if (vm_.state() != InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported after starting the microVM.");
  if (auto r = vm_.configure_metrics(*path); !r.ok())
    return bad_request(fmt::format("Cannot initialize the metrics system: {}", r.error().message()));
  return no_content();
}

HttpResponse VmApi::get_metrics() const {
  metrics::Collector c;
  report_metrics(c);
  vm_.report_metrics(c);
  HttpResponse r{200, metrics::prometheus_text(c.samples())};
  r.content_type = "text/plain; version=0.0.4";
  return r;
}

HttpResponse VmApi::instance_info() const {
  return ok_json({{"app_name", "vireo"},
                  {"id", "anonymous-instance"},
                  {"state", state_name(vm_.state())},
                  {"vmm_version", VIREO_VERSION}});
}

HttpResponse VmApi::machine_config() const {
  if (vm_.state() == InstanceState::kNotStarted) {  // what the API said so far, or the defaults
    auto c = check_pending(pending_);
    if (c.ok()) return ok_json(machine_config_json(*c));
  }
  return ok_json(machine_config_json(vm_.config()));
}

HttpResponse VmApi::vm_config() const {
  if (vm_.state() == InstanceState::kNotStarted) return ok_json(pending_);  // the document so far
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
  auto j = body_with(body, {"state"});
  if (!j.ok()) return bad_request(j.error().message());
  auto state = body_one_of(*j, "state", {"Paused", "Resumed"});
  if (!state.ok()) return bad_request(state.error().message());
  if (vm_.state() == InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported before starting the microVM.");
  auto r = *state == "Paused" ? vm_.pause() : vm_.resume();
  if (!r.ok()) return bad_request(r.error().message());
  return no_content();
}

HttpResponse VmApi::put_actions(const std::string& body) {
  auto j = body_with(body, {"action_type"});
  if (!j.ok()) return bad_request(j.error().message());
  auto action = body_one_of(*j, "action_type", {"FlushMetrics", "InstanceStart", "SendCtrlAltDel"});
  if (!action.ok()) return bad_request(action.error().message());
  if (*action == "SendCtrlAltDel") {
    if (vm_.state() == InstanceState::kNotStarted)
      return bad_request("The requested operation is not supported before starting the microVM.");
    if (auto r = vm_.send_ctrl_alt_del(); !r.ok()) return bad_request(r.error().message());
    return no_content();
  }
  if (*action == "InstanceStart") {
    if (vm_.state() != InstanceState::kNotStarted)
      return bad_request("The requested operation is not supported after starting the microVM.");
    return instance_start();
  }
  // FlushMetrics
  if (auto r = vm_.flush_metrics(); !r.ok()) return bad_request(r.error().message());
  return no_content();
}

}  // namespace vireo::api
