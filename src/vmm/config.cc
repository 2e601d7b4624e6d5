#include "vmm/config.h"

#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <set>

#include "util/size.h"
#include "virtio/mac.h"
#include "virtio/vsock.h"

namespace vireo::vmm {

namespace {

Result<bool> on_off(std::string_view flag, std::string_view key, std::string_view value) {
  if (value == "on") return true;
  if (value == "off") return false;
  return Error(fmt::format("{}: {}={} must be on or off", flag, key, value));
}

// A rate ("10M", "10M/s") or a burst ("64K"); sizes take K/M/G/T suffixes.
Result<uint64_t> amount(std::string_view flag, std::string_view key, std::string_view value,
                        bool rate) {
  if (rate && value.ends_with("/s")) value.remove_suffix(2);
  auto v = parse_size(value, 1);
  if (!v.ok() || value.empty())
    return Error(fmt::format("{}: {}={} is not a {}", flag, key, value,
                             rate ? "rate (a number per second, K/M/G suffixes)" : "number (K/M/G suffixes)"));
  return *v;
}

// Splits "k=v,k=v" and hands each pair to `take`; `keys` lists them for errors.
template <class F>
Result<void> for_each_pair(std::string_view flag, std::string_view spec, std::string_view keys,
                           F take) {
  size_t at = 0;
  while (at <= spec.size()) {
    const size_t comma = std::min(spec.find(',', at), spec.size());
    const std::string_view item = spec.substr(at, comma - at);
    at = comma + 1;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return Error(fmt::format("{}: '{}' is not key=value (keys: {})", flag, item, keys));
    VIREO_ASSIGN_OR_RETURN(bool known, take(item.substr(0, eq), item.substr(eq + 1)));
    if (!known)
      return Error(fmt::format("{}: unknown key '{}' (keys: {})", flag, item.substr(0, eq), keys));
  }
  return {};
}

Result<std::string> device_id(std::string_view flag, std::string_view value) {
  if (value.empty() || value.size() > 64 ||
      value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
          std::string_view::npos)
    return Error(fmt::format("{}: id={} must be 1-64 letters, digits, '-' or '_'", flag, value));
  return std::string(value);
}

// bw=, bw_burst=, ops=, ops_burst=: true if `key` was one of them.
Result<bool> rate_key(std::string_view flag, std::string_view key, std::string_view value,
                      virtio::RateLimit& limit) {
  if (key == "bw") {
    VIREO_ASSIGN_OR_RETURN(limit.bytes_per_second, amount(flag, key, value, true));
  } else if (key == "bw_burst") {
    VIREO_ASSIGN_OR_RETURN(limit.bytes_burst, amount(flag, key, value, false));
  } else if (key == "ops") {
    VIREO_ASSIGN_OR_RETURN(limit.ops_per_second, amount(flag, key, value, true));
  } else if (key == "ops_burst") {
    VIREO_ASSIGN_OR_RETURN(limit.ops_burst, amount(flag, key, value, false));
  } else {
    return false;
  }
  return true;
}

Result<void> check_bursts(std::string_view flag, const virtio::RateLimit& l) {
  if ((l.bytes_burst && !l.bytes_per_second) || (l.ops_burst && !l.ops_per_second))
    return Error(fmt::format("{}: a burst needs its rate (bw_burst= with bw=, ops_burst= with ops=)", flag));
  return {};
}

}  // namespace

Result<NetConfig> parse_net(std::string_view spec, size_t index) {
  NetConfig n;
  VIREO_TRY(for_each_pair("--net", spec,
                          "tap, mac, id, bw, bw_burst, ops, ops_burst (rx_ or tx_ before these: "
                          "one direction)",
                          [&](std::string_view key, std::string_view value) -> Result<bool> {
                            if (key == "tap") {
                              if (value.empty() || value.size() > 15)
                                return Error(fmt::format("--net: tap={} must be 1-15 characters", value));
                              n.tap = value;
                            } else if (key == "mac") {
                              auto mac = virtio::parse_mac(value);
                              if (!mac.ok()) return mac.error().context("--net: mac");
                              n.mac = virtio::format_mac(*mac);
                            } else if (key == "id") {
                              VIREO_ASSIGN_OR_RETURN(n.id, device_id("--net", value));
                            } else if (key.starts_with("rx_")) {
                              return rate_key("--net", key.substr(3), value, n.rx_limit);
                            } else if (key.starts_with("tx_")) {
                              return rate_key("--net", key.substr(3), value, n.tx_limit);
                            } else {
                              // Both directions, each with buckets of its own.
                              VIREO_ASSIGN_OR_RETURN(bool known, rate_key("--net", key, value, n.rx_limit));
                              if (known) VIREO_TRY(rate_key("--net", key, value, n.tx_limit));
                              return known;
                            }
                            return true;
                          }));
  if (n.tap.empty()) return Error("--net: tap=NAME is required");
  VIREO_TRY(check_bursts("--net", n.rx_limit));
  VIREO_TRY(check_bursts("--net", n.tx_limit));
  if (n.id.empty()) n.id = fmt::format("net{}", index);
  return n;
}

Result<BalloonConfig> parse_balloon(std::string_view spec) {
  BalloonConfig b;
  bool have_size = false;
  VIREO_TRY(for_each_pair("--balloon", spec, "size, deflate-on-oom, stats",
                          [&](std::string_view key, std::string_view value) -> Result<bool> {
                            if (key == "size") {
                              VIREO_ASSIGN_OR_RETURN(b.size, amount("--balloon", key, value, false));
                              have_size = true;
                            } else if (key == "deflate-on-oom") {
                              VIREO_ASSIGN_OR_RETURN(b.deflate_on_oom, on_off("--balloon", key, value));
                            } else if (key == "stats") {
                              auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(),
                                                               b.stats_seconds);
                              if (ec != std::errc() || end != value.data() + value.size() ||
                                  value.empty() || b.stats_seconds > 3600)
                                return Error(fmt::format(
                                    "--balloon: stats={} must be seconds from 0 (off) to 3600", value));
                            } else {
                              return false;
                            }
                            return true;
                          }));
  if (!have_size) return Error("--balloon: size=SIZE is required (0 for an empty balloon)");
  if (b.size % 4096 != 0)
    return Error(fmt::format("--balloon: size={} is not a multiple of 4 KiB", b.size));
  return b;
}

Result<VsockConfig> parse_vsock(std::string_view spec) {
  VsockConfig v;
  bool have_cid = false;
  VIREO_TRY(for_each_pair("--vsock", spec, "cid, uds",
                          [&](std::string_view key, std::string_view value) -> Result<bool> {
                            if (key == "cid") {
                              auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v.cid);
                              if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
                                  v.cid < virtio::kMinGuestCid || v.cid > virtio::kMaxGuestCid)
                                return Error(fmt::format("--vsock: cid={} must be a number from {} to {}", value,
                                                         virtio::kMinGuestCid, virtio::kMaxGuestCid));
                              have_cid = true;
                            } else if (key == "uds") {
                              // sun_path holds 108 bytes; guest connections add "_PORT".
                              if (value.empty() || value.size() > 96)
                                return Error(fmt::format("--vsock: uds={} must be 1-96 bytes", value));
                              v.uds = value;
                            } else {
                              return false;
                            }
                            return true;
                          }));
  if (!have_cid) return Error("--vsock: cid=N is required");
  if (v.uds.empty()) return Error("--vsock: uds=PATH is required");
  return v;
}

Result<DiskConfig> parse_disk(std::string_view spec, size_t index) {
  DiskConfig d;
  bool have_path = false;
  VIREO_TRY(for_each_pair(
      "--disk", spec, "path, readonly, id, serial, direct, bw, bw_burst, ops, ops_burst",
      [&](std::string_view key, std::string_view value) -> Result<bool> {
        if (key == "path") {
          if (value.empty()) return Error("--disk: path= is empty");
          d.path = value;
          have_path = true;
        } else if (key == "readonly") {
          VIREO_ASSIGN_OR_RETURN(d.readonly, on_off("--disk", key, value));
        } else if (key == "direct") {
          VIREO_ASSIGN_OR_RETURN(d.direct, on_off("--disk", key, value));
        } else if (key == "id") {
          VIREO_ASSIGN_OR_RETURN(d.id, device_id("--disk", value));
        } else if (key == "serial") {
          if (value.size() > 20)
            return Error(fmt::format("--disk: serial={} is longer than 20 bytes", value));
          d.serial = value;
        } else {
          return rate_key("--disk", key, value, d.limit);
        }
        return true;
      }));
  if (!have_path) return Error("--disk: path=FILE is required");
  VIREO_TRY(check_bursts("--disk", d.limit));
  if (d.id.empty()) d.id = fmt::format("disk{}", index);
  if (d.serial.empty()) d.serial = d.id.substr(0, 20);
  return d;
}

void take_machine(VmConfig& into, const VmConfig& from) {
  into.kernel_path = from.kernel_path;
  into.initrd_path = from.initrd_path;
  into.cmdline = from.cmdline;
  into.cpus = from.cpus;
  into.memory = from.memory;
  into.disks = from.disks;
  into.nets = from.nets;
  into.vsock = from.vsock;
  into.balloon = from.balloon;
  into.rng = from.rng;
  if (from.log) into.log = from.log;
  if (from.metrics_path) into.metrics_path = from.metrics_path;
}

Result<void> validate(const VmConfig& cfg) {
  if (cfg.kernel_path.empty()) return Error("--kernel is required");
  if (cfg.metrics_interval_s == 0 || cfg.metrics_interval_s > 86400)
    return Error(fmt::format("--metrics-interval {} is out of range (1-86400 seconds)",
                             cfg.metrics_interval_s));
  if (cfg.cpus == 0 || cfg.cpus > kMaxCpus)
    return Error(fmt::format("--cpus {} is out of range (1-{})", cfg.cpus, kMaxCpus));
  if (cfg.memory < (16ull << 20))
    return Error(fmt::format("--memory {} is too small (at least 16M)", format_size(cfg.memory)));
  if (cfg.memory % 4096 != 0)
    return Error(fmt::format("--memory {} is not a multiple of 4 KiB", format_size(cfg.memory)));
  if (cfg.memory > (1ull << 46))
    return Error(fmt::format("--memory {} is too large (at most 64T)", format_size(cfg.memory)));
  std::set<std::string> ids;
  for (const auto& d : cfg.disks)
    if (!ids.insert(d.id).second) return Error(fmt::format("--disk: id={} is used twice", d.id));
  if (cfg.balloon && cfg.balloon->size >= cfg.memory)
    return Error(fmt::format("--balloon: size={} must be less than --memory {}",
                             format_size(cfg.balloon->size), format_size(cfg.memory)));
  std::set<std::string> taps;
  for (const auto& n : cfg.nets) {
    if (!ids.insert(n.id).second) return Error(fmt::format("--net: id={} is used twice", n.id));
    if (!taps.insert(n.tap).second) return Error(fmt::format("--net: tap={} is used twice", n.tap));
  }
  return {};
}

Result<void> validate_memory_for_host(uint64_t memory) {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return {};
  uint64_t host = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  if (memory > host)
    return Error(fmt::format("--memory {} is more than this host's {} of RAM",
                             format_size(memory), format_size(host)));
  return {};
}

}  // namespace vireo::vmm
