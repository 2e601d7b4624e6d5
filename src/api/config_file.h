// Firecracker's --config-file document, read into vireo's one configuration model
// (vmm::VmConfig), so a VM can be described by command-line flags, by this file, or (later)
// piece by piece through the API, and is validated the same way.
//
// Sections (Firecracker's names and fields):
//   boot-source          kernel_image_path, [boot_args], [initrd_path]
//   machine-config       vcpu_count, mem_size_mib, [smt: false], [track_dirty_pages: false],
//                        [cpu_template: "None"], [huge_pages: "None"]
//                        (absent: 1 vCPU, 128 MiB, as Firecracker)
//   drives[]             drive_id, path_on_host, is_root_device, [is_read_only],
//                        [partuuid], [cache_type], [io_engine], [rate_limiter]
//   network-interfaces[] iface_id, host_dev_name, [guest_mac], [rx_rate_limiter] (on what
//                        the guest receives), [tx_rate_limiter] (on what it sends)
//   vsock                guest_cid, uds_path, [vsock_id]
//   balloon              amount_mib, deflate_on_oom, [stats_polling_interval_s]
//   entropy              {} (a virtio-rng)
//   logger               log_path, [level], [show_level], [show_log_origin], [module]
//   metrics              metrics_path
// A root device is placed first (the guest's /dev/vda) and "root=/dev/vda rw" (ro for a
// read-only one; root=PARTUUID=... with partuuid) is added to the boot arguments, as
// Firecracker does. A rate limiter's token buckets ({size, one_time_burst, refill_time}
// for bandwidth and ops) become vireo's per-second rates. Everything vireo cannot do is
// refused by name (no field is silently ignored).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "util/result.h"
#include "virtio/rate_limiter.h"
#include "vmm/config.h"

namespace vireo::api {

// The "logger" section (PUT /logger's body): log_path, [level], [show_level],
// [show_log_origin], [module]; and "metrics" (PUT /metrics's): metrics_path. `where`
// names it in errors.
Result<vmm::LogConfig> read_logger(const nlohmann::json& j, const std::string& where);
Result<std::string> read_metrics(const nlohmann::json& j, const std::string& where);

// `text` -> a configuration; errors name the field ("`drives[1].path_on_host`: ...").
Result<vmm::VmConfig> config_from_json(const std::string& text);
// Reads and parses the file; errors start with "--config-file FILE: ".
Result<vmm::VmConfig> load_config_file(const std::string& path);

// Firecracker's RateLimiter object ({bandwidth, ops}, each a token bucket; null or absent:
// unlimited) as vireo's per-second rates. `where` names it in errors ("`where.ops`: ...").
Result<virtio::RateLimit> read_rate_limiter(const nlohmann::json& j, const std::string& where);
// The other way (buckets refilled every second); null when unlimited.
nlohmann::json rate_limiter_json(const virtio::RateLimit& limit);

}  // namespace vireo::api
