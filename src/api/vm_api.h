// VmApi: Firecracker's REST API (the v1 paths and bodies of its OpenAPI description) over
// a running vireo VM. Requests arrive on the VMM's event loop (ApiServer), so the
// handlers act on the VM directly, through VmControl.
//
// Served so far:
//   Before InstanceStart (vireo run --api-sock PATH alone), the machine is described piece
//   by piece, each piece checked as the config file's section is (api/config_file.h):
//   PUT  /boot-source, /machine-config, /vsock, /balloon, /entropy
//   PUT  /drives/{drive_id}, /network-interfaces/{iface_id}   (added, or replaced by id)
//   PATCH /machine-config  some of vcpu_count, mem_size_mib, ...: those fields replaced
//   PUT  /actions {"action_type": "InstanceStart"}: builds and boots it
//   After the start these are Firecracker's 400 "not supported after starting".
//   GET  /                 InstanceInfo: app_name, id, state ("Not started", "Running",
//                          "Paused"), vmm_version
//   GET  /machine-config   vcpu_count, mem_size_mib, smt, track_dirty_pages
//   GET  /vm/config        the whole configuration, in the sections of Firecracker's
//                          --config-file (boot-source, machine-config, drives, ...)
//   GET  /balloon          BalloonConfig: amount_mib, deflate_on_oom,
//                          stats_polling_interval_s (before the start too)
//   PATCH /vm              {"state": "Paused" | "Resumed"}: 204
//   PUT  /actions          {"action_type": "InstanceStart" | "SendCtrlAltDel" |
//                          "FlushMetrics"}: SendCtrlAltDel types Ctrl-Alt-Del on the
//                          i8042 keyboard (204); InstanceStart of a started VM is refused
//                          as Firecracker refuses it; FlushMetrics writes a metrics line
//                          now (nothing without a metrics file, as Firecracker)
//   PUT  /logger           {log_path, [level], [show_level], [show_log_origin], [module]}
//   PUT  /metrics          {metrics_path}: both before InstanceStart, as Firecracker; the
//                          metrics file takes a line every --metrics-interval (60 s)
//   GET  /metrics          every counter in Prometheus' text format (a vireo addition,
//                          for a Prometheus server to scrape)
//   After the start (before it: Firecracker's 400 "not supported before starting"):
//   PATCH /drives/{drive_id}  PartialDrive {drive_id, [path_on_host], [rate_limiter]}:
//                          another backing file (opened with the drive's read-only flag
//                          before anything changes; the guest sees its size through a
//                          configuration-change interrupt) and/or another rate limit
//   PATCH /network-interfaces/{iface_id}  {iface_id, [rx_rate_limiter], [tx_rate_limiter]}
//   PATCH /balloon         {amount_mib}: a new target
//   GET  /balloon/statistics  BalloonStats: target/actual pages and MiB, and what the
//                          guest reported (swap_in, ..., hugetlb_failures)
//   PATCH /balloon/statistics {stats_polling_interval_s} (statistics cannot be switched
//                          on or off after the start)
// Everything else is Firecracker's 400 "Invalid request method and/or path". Bodies are
// checked as Firecracker's serde models check them: JSON objects with exactly the known
// fields, of the right types and values; every refusal is a 400 whose fault_message
// names the field and what it may be, and changes nothing.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "api/http_connection.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "util/result.h"
#include "vmm/config.h"

namespace vireo::api {

enum class InstanceState { kNotStarted, kRunning, kPaused };

// The balloon's numbers (GET /balloon/statistics).
struct BalloonStatistics {
  uint32_t target_pages = 0;
  uint32_t actual_pages = 0;
  std::map<uint16_t, uint64_t> tags;  // the driver's latest, by VIRTIO_BALLOON_S_* tag
};

// What the API needs from the VMM.
class VmControl {
 public:
  virtual ~VmControl() = default;
  virtual InstanceState state() const = 0;
  virtual Result<void> pause() = 0;
  virtual Result<void> resume() = 0;
  virtual Result<void> send_ctrl_alt_del() = 0;
  // InstanceStart: builds the machine `machine` describes (with the VMM's other
  // settings) and runs it. Fails, changing nothing, if it cannot be built.
  virtual Result<void> start(const vmm::VmConfig& machine) = 0;
  // The configuration, changes made through the API included.
  virtual const vmm::VmConfig& config() const = 0;
  // The log's target (PUT /logger) and the metrics file (PUT /metrics); FlushMetrics;
  // every counter of the VMM and its VM (GET /metrics, the metrics file).
  virtual Result<void> configure_logger(const vmm::LogConfig& log) = 0;
  virtual Result<void> configure_metrics(const std::string& path) = 0;
  virtual Result<void> flush_metrics() = 0;
  virtual void report_metrics(metrics::Collector& out) const = 0;
  // Changes to the running machine; VmApi checked the body, the state and that the
  // device exists in config(). Each fails changing nothing, or succeeds and shows in
  // config().
  virtual Result<void> update_drive(const std::string& id, const std::optional<std::string>& path,
                                    const std::optional<virtio::RateLimit>& limit) = 0;
  virtual Result<void> update_net_limits(const std::string& id,
                                         const std::optional<virtio::RateLimit>& rx,
                                         const std::optional<virtio::RateLimit>& tx) = 0;
  virtual Result<void> set_balloon_target(uint64_t bytes) = 0;
  virtual Result<void> set_balloon_stats_interval(uint32_t seconds) = 0;
  virtual Result<BalloonStatistics> balloon_statistics() const = 0;
};

class VmApi {
 public:
  explicit VmApi(VmControl& vm) : vm_(vm) {}
  HttpResponse handle(const HttpRequest& request);
  // The API's own counters: requests by method, answers by class.
  void report_metrics(metrics::Collector& out) const;

 private:
  HttpResponse route(const HttpRequest& request);
  HttpResponse put_logger(const std::string& body);
  HttpResponse put_metrics(const std::string& body);
  HttpResponse get_metrics() const;
  HttpResponse patch_vm(const std::string& body);
  HttpResponse patch_machine_config(const std::string& body);
  HttpResponse put_section(const std::string& section, const std::string& body);
  HttpResponse put_item(const std::string& list, const char* id_field, const std::string& id,
                        const std::string& body);
  HttpResponse instance_start();
  // `doc` as a configuration (a placeholder kernel while no boot-source was given).
  static Result<vmm::VmConfig> check_pending(nlohmann::json doc);
  HttpResponse put_actions(const std::string& body);
  HttpResponse instance_info() const;
  HttpResponse machine_config() const;
  HttpResponse vm_config() const;
  HttpResponse patch_drive(const std::string& id, const std::string& body);
  HttpResponse patch_net(const std::string& id, const std::string& body);
  HttpResponse get_balloon() const;
  HttpResponse patch_balloon(const std::string& body);
  HttpResponse balloon_statistics() const;
  HttpResponse patch_balloon_statistics(const std::string& body);
  // The machine as configured now (before the start: as described so far), if valid.
  Result<vmm::VmConfig> current_config() const;

  VmControl& vm_;
  // Before InstanceStart: the machine so far, as a Firecracker config document.
  nlohmann::json pending_ = nlohmann::json::object();
  struct Counts {
    uint64_t get = 0, put = 0, patch = 0, other = 0;
    uint64_t ok = 0, client_errors = 0, server_errors = 0;
  } counts_;
};

}  // namespace vireo::api
