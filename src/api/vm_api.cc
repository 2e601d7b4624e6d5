#include "api/vm_api.h"

#include "api/config_file.h"
#include "api/json_checks.h"
#include "log/log.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <string_view>

namespace vireo::api {

namespace {

using nlohmann::json;

HttpResponse ok_json(const json& j) { return {200, dump_json(j)}; }
HttpResponse no_content() { return {204, ""}; }
HttpResponse bad_request(const std::string& message) { return {400, fault_body(message)}; }

// The 400 for a body that does not deserialize.
HttpResponse deserializing(const Error& e) {
  return bad_request(fmt::format("{}{}", kDeserializing, e.message()));
}

constexpr const char* kNotStarted =
    "The requested operation is not supported before starting the microVM.";
constexpr const char* kNoBalloon = "No balloon device found.";

// The body as an object with exactly the `required` fields and maybe the `optional`
// ones; else the 400's message.
Result<json> body_with(const std::string& body, std::initializer_list<std::string_view> required,
                       std::initializer_list<std::string_view> optional = {}) {
  auto j = parse_json(body);
  if (!j.ok()) return Error(fmt::format("{}{}", kDeserializing, j.error().message()));
  if (auto c = check_object(*j, "", required, optional); !c.ok())
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

// A rate limiter in a PATCH body: the buckets it gives replace the device's (a size of 0
// makes one unlimited); those it leaves out (or null) stay, as on Firecracker.
struct LimitPatch {
  virtio::RateLimit given;
  bool bandwidth = false, ops = false;
  virtio::RateLimit applied_to(virtio::RateLimit l) const {
    if (bandwidth) {
      l.bytes_per_second = given.bytes_per_second;
      l.bytes_burst = given.bytes_burst;
    }
    if (ops) {
      l.ops_per_second = given.ops_per_second;
      l.ops_burst = given.ops_burst;
    }
    return l;
  }
};

// Field `field` of the body as a LimitPatch (none if absent or null); else the 400's message.
Result<std::optional<LimitPatch>> limit_patch(const json& body, const char* field) {
  if (!body.contains(field) || body[field].is_null()) return std::optional<LimitPatch>();
  const json& j = body[field];
  auto given = read_rate_limiter(j, field);
  if (!given.ok()) return Error(fmt::format("{}{}", kDeserializing, given.error().message()));
  auto has = [&](const char* bucket) { return j.contains(bucket) && !j[bucket].is_null(); };
  return std::optional<LimitPatch>(LimitPatch{*given, has("bandwidth"), has("ops")});
}

std::optional<virtio::RateLimit> patched(const std::optional<LimitPatch>& p, const virtio::RateLimit& now) {
  if (!p) return std::nullopt;
  return p->applied_to(now);
}

// Firecracker's BalloonStats field names by VIRTIO_BALLOON_S_* tag (virtio 1.2, 5.5.6.3;
// 8 and 9 are Linux's hugetlb counters).
constexpr std::pair<uint16_t, const char*> kBalloonTags[] = {
    {0, "swap_in"},       {1, "swap_out"},     {2, "major_faults"},     {3, "minor_faults"},
    {4, "free_memory"},   {5, "total_memory"}, {6, "available_memory"}, {7, "disk_caches"},
    {8, "hugetlb_allocations"}, {9, "hugetlb_failures"}};
constexpr unsigned kBalloonPagesPerMib = (1u << 20) / 4096;  // the balloon's pages: 4 KiB

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
  if (r.method == "GET" && r.path == "/balloon") return get_balloon();
  if (r.method == "GET" && r.path == "/balloon/statistics") return balloon_statistics();
  if (r.method == "PATCH") {
    if (r.path == "/vm") return patch_vm(r.body);
    if (r.path.starts_with("/drives/") && r.path.size() > 8) return patch_drive(r.path.substr(8), r.body);
    if (r.path.starts_with("/network-interfaces/") && r.path.size() > 20)
      return patch_net(r.path.substr(20), r.body);
    if (r.path == "/balloon") return patch_balloon(r.body);
    if (r.path == "/balloon/statistics") return patch_balloon_statistics(r.body);
    if (r.path == "/machine-config") return patch_machine_config(r.body);
  }
  if (r.method == "PUT" && r.path == "/actions") return put_actions(r.body);
  return bad_request(fmt::format("Invalid request method and/or path: {} {}.", r.method, r.path));
}

Result<vmm::VmConfig> VmApi::check_pending(json doc) {
  if (!doc.contains("boot-source")) doc["boot-source"] = {{"kernel_image_path", "-"}};
  return config_from_json(dump_json(doc));
}

HttpResponse VmApi::patch_machine_config(const std::string& body) {
  auto j = parse_json(body);
  if (!j.ok()) return bad_request(fmt::format("{}{}", kDeserializing, j.error().message()));
  if (!j->is_object()) return bad_request(fmt::format("{}the body must be a JSON object.", kDeserializing));
  if (j->empty()) return bad_request("Empty PATCH request.");
  if (vm_.state() != InstanceState::kNotStarted)
    return bad_request("The requested operation is not supported after starting the microVM.");
  // The fields given replace those of the configuration so far (Firecracker's defaults
  // where none was put); the result is checked as a PUT would be.
  json merged = pending_.contains("machine-config")
                    ? pending_["machine-config"]
                    : json{{"vcpu_count", 1}, {"mem_size_mib", 128}};
  for (const auto& [key, value] : j->items()) merged[key] = value;
  return put_section("machine-config", dump_json(merged));
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
  for (const auto& d : c.disks) {
    json one = {{"drive_id", d.id},
                {"path_on_host", d.path},
                {"is_root_device", false},
                {"is_read_only", d.readonly},
                {"io_engine", "Async"}};
    if (d.limit.limited()) one["rate_limiter"] = rate_limiter_json(d.limit);
    drives.push_back(one);
  }
  json nets = json::array();
  for (const auto& n : c.nets) {
    json one = {{"iface_id", n.id}, {"host_dev_name", n.tap}};
    if (!n.mac.empty()) one["guest_mac"] = n.mac;
    if (n.rx_limit.limited()) one["rx_rate_limiter"] = rate_limiter_json(n.rx_limit);
    if (n.tx_limit.limited()) one["tx_rate_limiter"] = rate_limiter_json(n.tx_limit);
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

Result<vmm::VmConfig> VmApi::current_config() const {
  if (vm_.state() == InstanceState::kNotStarted) return check_pending(pending_);
  return vm_.config();
}

HttpResponse VmApi::patch_drive(const std::string& id, const std::string& body) {
  auto j = body_with(body, {"drive_id"}, {"path_on_host", "rate_limiter"});
  if (!j.ok()) return bad_request(j.error().message());
  auto drive_id = get_string(*j, "drive_id", "");
  if (!drive_id.ok()) return deserializing(drive_id.error());
  std::optional<std::string> path;
  if (j->contains("path_on_host")) {
    auto p = get_string(*j, "path_on_host", "");
    if (!p.ok()) return deserializing(p.error());
    path = *p;
  }
  auto limit = limit_patch(*j, "rate_limiter");
  if (!limit.ok()) return bad_request(limit.error().message());
  if (*drive_id != id) return bad_request("The id from the path does not match the id from the body!");
  if (vm_.state() == InstanceState::kNotStarted) return bad_request(kNotStarted);
  auto refused = [](const std::string& why) {
    return bad_request(fmt::format("Unable to patch the block device: {}. Please verify the request arguments.", why));
  };
  const auto& disks = vm_.config().disks;
  auto disk = std::find_if(disks.begin(), disks.end(), [&](const auto& d) { return d.id == id; });
  if (disk == disks.end()) return refused(fmt::format("no drive `{}` in this microVM", id));
  if (!path && !*limit) return refused("nothing to change (give `path_on_host` or `rate_limiter`)");
  if (path && path->empty()) return refused("`path_on_host` is empty");
  if (auto r = vm_.update_drive(id, path, patched(*limit, disk->limit)); !r.ok())
    return refused(r.error().message());
  return no_content();
}

HttpResponse VmApi::patch_net(const std::string& id, const std::string& body) {
  auto j = body_with(body, {"iface_id"}, {"rx_rate_limiter", "tx_rate_limiter"});
  if (!j.ok()) return bad_request(j.error().message());
  auto iface_id = get_string(*j, "iface_id", "");
  if (!iface_id.ok()) return deserializing(iface_id.error());
  auto rx = limit_patch(*j, "rx_rate_limiter");
  if (!rx.ok()) return bad_request(rx.error().message());
  auto tx = limit_patch(*j, "tx_rate_limiter");
  if (!tx.ok()) return bad_request(tx.error().message());
  if (*iface_id != id) return bad_request("The id from the path does not match the id from the body!");
  if (vm_.state() == InstanceState::kNotStarted) return bad_request(kNotStarted);
  auto refused = [](const std::string& why) {
    return bad_request(fmt::format("Unable to update the network interface: {}.", why));
  };
  const auto& nets = vm_.config().nets;
  auto net = std::find_if(nets.begin(), nets.end(), [&](const auto& n) { return n.id == id; });
  if (net == nets.end()) return refused(fmt::format("no network interface `{}` in this microVM", id));
  if (auto r = vm_.update_net_limits(id, patched(*rx, net->rx_limit), patched(*tx, net->tx_limit)); !r.ok())
    return refused(r.error().message());
  return no_content();
}

HttpResponse VmApi::get_balloon() const {
  auto c = current_config();
  if (!c.ok() || !c->balloon) return bad_request(kNoBalloon);
  return ok_json({{"amount_mib", c->balloon->size >> 20},
                  {"deflate_on_oom", c->balloon->deflate_on_oom},
                  {"stats_polling_interval_s", c->balloon->stats_seconds}});
}

HttpResponse VmApi::patch_balloon(const std::string& body) {
  auto j = body_with(body, {"amount_mib"});
  if (!j.ok()) return bad_request(j.error().message());
  auto mib = get_u64(*j, "amount_mib", "");
  if (!mib.ok()) return deserializing(mib.error());
  if (vm_.state() == InstanceState::kNotStarted) return bad_request(kNotStarted);
  const vmm::VmConfig& c = vm_.config();
  if (!c.balloon) return bad_request(kNoBalloon);
  // As the config file: the balloon must leave the guest some memory.
  if (*mib >= (c.memory >> 20)) return bad_request("Amount of pages requested is too large.");
  if (auto r = vm_.set_balloon_target(*mib << 20); !r.ok()) return bad_request(r.error().message());
  return no_content();
}

HttpResponse VmApi::balloon_statistics() const {
  if (vm_.state() == InstanceState::kNotStarted) return bad_request(kNotStarted);
  const vmm::VmConfig& c = vm_.config();
  if (!c.balloon) return bad_request(kNoBalloon);
  if (c.balloon->stats_seconds == 0)
    return bad_request("Statistics for the balloon device are not enabled");
  auto s = vm_.balloon_statistics();
  if (!s.ok()) return bad_request(s.error().message());
  json out = {{"target_pages", s->target_pages},
              {"actual_pages", s->actual_pages},
              {"target_mib", s->target_pages / kBalloonPagesPerMib},
              {"actual_mib", s->actual_pages / kBalloonPagesPerMib}};
  for (const auto& [tag, name] : kBalloonTags)
    if (auto it = s->tags.find(tag); it != s->tags.end()) out[name] = it->second;
  return ok_json(out);
}

HttpResponse VmApi::patch_balloon_statistics(const std::string& body) {
  auto j = body_with(body, {"stats_polling_interval_s"});
  if (!j.ok()) return bad_request(j.error().message());
  auto seconds = get_u64(*j, "stats_polling_interval_s", "");
  if (!seconds.ok()) return deserializing(seconds.error());
  if (*seconds > 86400)
    return deserializing(Error("`stats_polling_interval_s` is more than a day"));
  if (vm_.state() == InstanceState::kNotStarted) return bad_request(kNotStarted);
  const vmm::VmConfig& c = vm_.config();
  if (!c.balloon) return bad_request(kNoBalloon);
  if ((*seconds == 0) != (c.balloon->stats_seconds == 0))
    return bad_request("Cannot enable/disable the statistics after boot.");
  if (auto r = vm_.set_balloon_stats_interval(static_cast<uint32_t>(*seconds)); !r.ok())
    return bad_request(r.error().message());
  return no_content();
}

HttpResponse VmApi::patch_vm(const std::string& body) {
  auto j = body_with(body, {"state"});
  if (!j.ok()) return bad_request(j.error().message());
  auto state = body_one_of(*j, "state", {"Paused", "Resumed"});
  if (!state.ok()) return bad_request(state.error().message());
  if (vm_.state() == InstanceState::kNotStarted)
    return bad_request(kNotStarted);
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
      return bad_request(kNotStarted);
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
