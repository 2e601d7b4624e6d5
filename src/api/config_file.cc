#include "api/config_file.h"

#include <fmt/format.h>

#include <fstream>
#include <set>
#include <sstream>

#include "api/json_checks.h"
#include "virtio/mac.h"

namespace vireo::api {

namespace {

using nlohmann::json;

constexpr uint64_t kDefaultMemMib = 128;  // Firecracker's

// `section.field` (or `section[i].field`) for messages.
Error at(const std::string& where, const Error& e) {
  return Error(fmt::format("`{}`: {}", where, e.message()));
}

// One token bucket {size, one_time_burst, refill_time (ms)} as a per-second rate.
Result<void> read_bucket(const json& j, const std::string& where, uint64_t& rate, uint64_t& burst) {
  if (auto c = check_object(j, where, {"size", "refill_time"}, {"one_time_burst"}); !c.ok()) return c.error();
  VIREO_ASSIGN_OR_RETURN(uint64_t size, get_u64(j, "size", where));
  VIREO_ASSIGN_OR_RETURN(uint64_t refill_ms, get_u64(j, "refill_time", where));
  if (refill_ms == 0) return Error(fmt::format("`{}.refill_time` must be at least 1 (milliseconds)", where));
  if (size > UINT64_MAX / 1000) return Error(fmt::format("`{}.size` is too large", where));
  rate = size * 1000 / refill_ms;
  burst = 0;
  if (j.contains("one_time_burst")) {
    VIREO_ASSIGN_OR_RETURN(burst, get_u64(j, "one_time_burst", where));
  }
  return {};
}

// An optional field that vireo takes only with the value it always has.
Result<void> only_value(const json& j, const char* field, const std::string& where,
                        const json& allowed, const char* why) {
  if (!j.contains(field) || j[field] == allowed) return {};
  return Error(fmt::format("`{}.{}`: {} is not supported ({}); leave it out or set {}", where,
                           field, dump_json(j[field]), why, dump_json(allowed)));
}

Result<void> read_boot_source(const json& j, vmm::VmConfig& cfg) {
  const std::string w = "boot-source";
  VIREO_TRY(check_object(j, w, {"kernel_image_path"}, {"boot_args", "initrd_path"}));
  VIREO_ASSIGN_OR_RETURN(cfg.kernel_path, get_string(j, "kernel_image_path", w));
  if (j.contains("boot_args")) {
    VIREO_ASSIGN_OR_RETURN(cfg.cmdline, get_string(j, "boot_args", w));
  }
  if (j.contains("initrd_path")) {
    VIREO_ASSIGN_OR_RETURN(auto initrd, get_string(j, "initrd_path", w));
    cfg.initrd_path = initrd;
  }
  return {};
}

Result<void> read_machine_config(const json& j, vmm::VmConfig& cfg) {
  const std::string w = "machine-config";
  VIREO_TRY(check_object(j, w, {"vcpu_count", "mem_size_mib"},
                         {"smt", "track_dirty_pages", "cpu_template", "huge_pages"}));
  VIREO_ASSIGN_OR_RETURN(uint64_t cpus, get_u64(j, "vcpu_count", w));
  if (cpus < 1 || cpus > vmm::kMaxCpus)
    return Error(fmt::format("`{}.vcpu_count`: {} is out of range (1-{})", w, cpus, vmm::kMaxCpus));
  cfg.cpus = static_cast<uint32_t>(cpus);
  VIREO_ASSIGN_OR_RETURN(uint64_t mib, get_u64(j, "mem_size_mib", w));
  if (mib < 16 || mib > (1ull << 26))
    return Error(fmt::format("`{}.mem_size_mib`: {} is out of range (16-{})", w, mib, 1ull << 26));
  cfg.memory = mib << 20;
  VIREO_TRY(only_value(j, "smt", w, false, "vCPUs are one thread per core"));
  VIREO_TRY(only_value(j, "track_dirty_pages", w, false, "snapshots are not built yet"));
  VIREO_TRY(only_value(j, "cpu_template", w, "None", "the guest sees the host's CPU model"));
  VIREO_TRY(only_value(j, "huge_pages", w, "None",
                       "guest memory uses transparent huge pages where the host allows"));
  return {};
}

Result<void> read_drives(const json& j, vmm::VmConfig& cfg) {
  if (!j.is_array()) return Error("`drives`: expected an array");
  std::optional<vmm::DiskConfig> root;
  std::optional<std::string> root_partuuid;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string w = fmt::format("drives[{}]", i);
    const json& d = j[i];
    VIREO_TRY(check_object(d, w, {"drive_id", "path_on_host", "is_root_device"},
                           {"is_read_only", "partuuid", "cache_type", "io_engine", "rate_limiter"}));
    vmm::DiskConfig disk;
    VIREO_ASSIGN_OR_RETURN(disk.id, get_string(d, "drive_id", w));
    if (disk.id.empty()) return Error(fmt::format("`{}.drive_id` is empty", w));
    disk.serial = disk.id;
    VIREO_ASSIGN_OR_RETURN(disk.path, get_string(d, "path_on_host", w));
    VIREO_ASSIGN_OR_RETURN(bool is_root, get_bool(d, "is_root_device", w));
    if (d.contains("is_read_only")) {
      VIREO_ASSIGN_OR_RETURN(disk.readonly, get_bool(d, "is_read_only", w));
    }
    // Writeback is what vireo does (flushes are real fdatasyncs); Unsafe would drop them.
    if (d.contains("cache_type")) VIREO_TRY(one_of(d, "cache_type", w, {"Writeback"}));
    // Both engines mean "serve the requests": vireo uses io_uring where it can.
    if (d.contains("io_engine")) VIREO_TRY(one_of(d, "io_engine", w, {"Sync", "Async"}));
    if (d.contains("rate_limiter")) {
      VIREO_ASSIGN_OR_RETURN(disk.limit, read_rate_limiter(d["rate_limiter"], w + ".rate_limiter"));
    }
    if (is_root) {
      if (root) return Error(fmt::format("`{}`: a second root device (`{}` is one)", w, root->id));
      if (d.contains("partuuid")) {
        VIREO_ASSIGN_OR_RETURN(auto p, get_string(d, "partuuid", w));
        root_partuuid = p;
      }
      root = disk;
    } else {
      if (d.contains("partuuid"))
        return Error(fmt::format("`{}.partuuid` is only for the root device", w));
      cfg.disks.push_back(disk);
    }
  }
  if (root) {
    cfg.disks.insert(cfg.disks.begin(), *root);  // first: the guest's /dev/vda
    cfg.cmdline += root_partuuid ? fmt::format(" root=PARTUUID={}", *root_partuuid) : " root=/dev/vda";
    cfg.cmdline += root->readonly ? " ro" : " rw";
  }
  return {};
}

Result<void> read_network_interfaces(const json& j, vmm::VmConfig& cfg) {
  if (!j.is_array()) return Error("`network-interfaces`: expected an array");
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string w = fmt::format("network-interfaces[{}]", i);
    const json& n = j[i];
    VIREO_TRY(check_object(n, w, {"iface_id", "host_dev_name"},
                           {"guest_mac", "rx_rate_limiter", "tx_rate_limiter"}));
    vmm::NetConfig net;
    VIREO_ASSIGN_OR_RETURN(net.id, get_string(n, "iface_id", w));
    VIREO_ASSIGN_OR_RETURN(net.tap, get_string(n, "host_dev_name", w));
    if (net.id.empty() || net.tap.empty())
      return Error(fmt::format("`{}`: iface_id and host_dev_name must not be empty", w));
    if (n.contains("guest_mac")) {
      VIREO_ASSIGN_OR_RETURN(auto text, get_string(n, "guest_mac", w));
      auto mac = virtio::parse_mac(text);
      if (!mac.ok()) return at(w + ".guest_mac", mac.error());
      net.mac = virtio::format_mac(*mac);
    }
    if (n.contains("rx_rate_limiter")) {
      VIREO_ASSIGN_OR_RETURN(net.rx_limit, read_rate_limiter(n["rx_rate_limiter"], w + ".rx_rate_limiter"));
    }
    if (n.contains("tx_rate_limiter")) {
      VIREO_ASSIGN_OR_RETURN(net.tx_limit, read_rate_limiter(n["tx_rate_limiter"], w + ".tx_rate_limiter"));
    }
    cfg.nets.push_back(net);
  }
  return {};
}

Result<void> read_vsock(const json& j, vmm::VmConfig& cfg) {
  const std::string w = "vsock";
  VIREO_TRY(check_object(j, w, {"guest_cid", "uds_path"}, {"vsock_id"}));
  vmm::VsockConfig v;
  VIREO_ASSIGN_OR_RETURN(v.cid, get_u64(j, "guest_cid", w));
  if (v.cid < 3 || v.cid > 0xfffffffeull)
    return Error(fmt::format("`vsock.guest_cid`: {} is out of range (3-4294967294)", v.cid));
  VIREO_ASSIGN_OR_RETURN(v.uds, get_string(j, "uds_path", w));
  if (j.contains("vsock_id")) VIREO_TRY(get_string(j, "vsock_id", w));
  cfg.vsock = v;
  return {};
}

Result<void> read_balloon(const json& j, vmm::VmConfig& cfg) {
  const std::string w = "balloon";
  VIREO_TRY(check_object(j, w, {"amount_mib", "deflate_on_oom"}, {"stats_polling_interval_s"}));
  vmm::BalloonConfig b;
  VIREO_ASSIGN_OR_RETURN(uint64_t mib, get_u64(j, "amount_mib", w));
  b.size = mib << 20;
  VIREO_ASSIGN_OR_RETURN(b.deflate_on_oom, get_bool(j, "deflate_on_oom", w));
  if (j.contains("stats_polling_interval_s")) {
    VIREO_ASSIGN_OR_RETURN(uint64_t s, get_u64(j, "stats_polling_interval_s", w));
    if (s > 86400) return Error("`balloon.stats_polling_interval_s` is more than a day");
    b.stats_seconds = static_cast<uint32_t>(s);
  }
  cfg.balloon = b;
  return {};
}

}  // namespace

Result<vmm::LogConfig> read_logger(const json& j, const std::string& where) {
  VIREO_TRY(check_object(j, where, {"log_path"}, {"level", "show_level", "show_log_origin", "module"}));
  vmm::LogConfig c;
  VIREO_ASSIGN_OR_RETURN(c.path, get_string(j, "log_path", where));
  if (c.path.empty()) return Error(fmt::format("`{}.log_path` is empty", where));
  if (j.contains("level")) {
    VIREO_ASSIGN_OR_RETURN(auto name, get_string(j, "level", where));
    auto level = log::parse_level(name);
    if (!level.ok()) return at(where + ".level", level.error());
    c.options.level = *level;
  }
  if (j.contains("show_level")) {
    VIREO_ASSIGN_OR_RETURN(c.options.show_level, get_bool(j, "show_level", where));
  }
  if (j.contains("show_log_origin")) {
    VIREO_ASSIGN_OR_RETURN(c.options.show_origin, get_bool(j, "show_log_origin", where));
  }
  if (j.contains("module")) {
    VIREO_ASSIGN_OR_RETURN(c.options.module, get_string(j, "module", where));
  }
  return c;
}

Result<std::string> read_metrics(const json& j, const std::string& where) {
  VIREO_TRY(check_object(j, where, {"metrics_path"}));
  VIREO_ASSIGN_OR_RETURN(auto path, get_string(j, "metrics_path", where));
  if (path.empty()) return Error(fmt::format("`{}.metrics_path` is empty", where));
  return path;
}

Result<vmm::VmConfig> config_from_json(const std::string& text) {
  auto doc = parse_json(text);
  if (!doc.ok()) return doc.error();
  const json& j = *doc;
  VIREO_TRY(check_object(j, "", {"boot-source"},
                         {"machine-config", "drives", "network-interfaces", "vsock", "balloon",
                          "entropy", "logger", "metrics", "mmds-config", "cpu-config"}));
  for (const char* later : {"mmds-config", "cpu-config"})
    if (j.contains(later)) return Error(fmt::format("`{}` is not built into vireo yet", later));
  vmm::VmConfig cfg;
  cfg.memory = kDefaultMemMib << 20;
  VIREO_TRY(read_boot_source(j["boot-source"], cfg));
  if (j.contains("machine-config")) VIREO_TRY(read_machine_config(j["machine-config"], cfg));
  if (j.contains("drives")) VIREO_TRY(read_drives(j["drives"], cfg));
  if (j.contains("network-interfaces")) VIREO_TRY(read_network_interfaces(j["network-interfaces"], cfg));
  if (j.contains("vsock") && !j["vsock"].is_null()) VIREO_TRY(read_vsock(j["vsock"], cfg));
  if (j.contains("balloon") && !j["balloon"].is_null()) VIREO_TRY(read_balloon(j["balloon"], cfg));
  if (j.contains("logger") && !j["logger"].is_null()) {
    VIREO_ASSIGN_OR_RETURN(auto log, read_logger(j["logger"], "logger"));
    cfg.log = std::move(log);
  }
  if (j.contains("metrics") && !j["metrics"].is_null()) {
    VIREO_ASSIGN_OR_RETURN(auto path, read_metrics(j["metrics"], "metrics"));
    cfg.metrics_path = std::move(path);
  }
  if (j.contains("entropy") && !j["entropy"].is_null()) {
    VIREO_TRY(check_object(j["entropy"], "entropy", {}, {}));
    cfg.rng = true;
  }
  std::set<std::string> ids;
  for (const auto& d : cfg.disks)
    if (!ids.insert(d.id).second) return Error(fmt::format("drive_id `{}` is used twice", d.id));
  for (const auto& n : cfg.nets)
    if (!ids.insert(n.id).second) return Error(fmt::format("iface_id `{}` is used twice", n.id));
  if (cfg.balloon && cfg.balloon->size >= cfg.memory)
    return Error(fmt::format("`balloon.amount_mib` ({} MiB) must be less than the guest's memory ({} MiB)",
                             cfg.balloon->size >> 20, cfg.memory >> 20));
  VIREO_TRY(vmm::validate(cfg));  // what is left (the same checks as for flags)
  return cfg;
}

Result<virtio::RateLimit> read_rate_limiter(const json& j, const std::string& where) {
  virtio::RateLimit l;
  if (j.is_null()) return l;
  VIREO_TRY(check_object(j, where, {}, {"bandwidth", "ops"}));
  if (j.contains("bandwidth") && !j["bandwidth"].is_null())
    VIREO_TRY(read_bucket(j["bandwidth"], where + ".bandwidth", l.bytes_per_second, l.bytes_burst));
  if (j.contains("ops") && !j["ops"].is_null())
    VIREO_TRY(read_bucket(j["ops"], where + ".ops", l.ops_per_second, l.ops_burst));
  return l;
}

json rate_limiter_json(const virtio::RateLimit& l) {
  if (!l.limited()) return nullptr;
  json out = json::object();
  auto bucket = [](uint64_t rate, uint64_t burst) {
    json b = {{"size", rate}, {"refill_time", uint64_t{1000}}};
    if (burst) b["one_time_burst"] = burst;
    return b;
  };
  if (l.bytes_per_second) out["bandwidth"] = bucket(l.bytes_per_second, l.bytes_burst);
  if (l.ops_per_second) out["ops"] = bucket(l.ops_per_second, l.ops_burst);
  return out;
}

Result<vmm::VmConfig> load_config_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Error::from_errno(fmt::format("--config-file: cannot read '{}'", path));
  std::stringstream s;
  s << f.rdbuf();
  auto cfg = config_from_json(s.str());
  if (!cfg.ok()) return Error(fmt::format("--config-file {}: {}", path, cfg.error().message()));
  return cfg;
}

}  // namespace vireo::api
