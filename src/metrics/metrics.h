// Metrics: the VMM's counters, collected on demand and written two ways.
//
// Every part of the VMM that counts (vCPUs, devices, the API) reports into a Collector:
// a flat list of samples, each a named counter or gauge of one component instance
// ("block" drive "rootfs", "vcpu" 0, "api"). Counters only grow. Two formats read them:
//   - Prometheus' text format (GET /metrics): vireo_block_read_bytes_total{drive="rootfs"}
//     with the counter's value since the VMM started;
//   - JSON lines (the metrics file, Firecracker's format): one object per flush,
//     {"utc_timestamp_ms": ..., "block_rootfs": {"read_bytes": ...}, ...}, where a
//     counter is what it grew by since the previous line, as Firecracker reports it, and a
//     gauge is its value.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vireo::metrics {

enum class Kind { kCounter, kGauge };

struct Sample {
  std::string component;  // "block", "net", "vcpu", "api", "vmm", ...
  std::string label;      // the instance's label name ("drive", "vcpu"); "" for none
  std::string instance;   // its value ("rootfs", "0")
  std::string name;       // "read_bytes"
  Kind kind = Kind::kCounter;
  uint64_t value = 0;
};

class Collector {
 public:
  // The samples that follow belong to this component instance.
  void scope(std::string component, std::string label = "", std::string instance = "");
  void counter(std::string_view name, uint64_t value);
  void gauge(std::string_view name, uint64_t value);
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  void add(std::string_view name, Kind kind, uint64_t value);
  std::string component_ = "vmm", label_, instance_;
  std::vector<Sample> samples_;
};

// Prometheus text exposition format, version 0.0.4: families sorted by name, each with
// its # TYPE line; counters get the _total suffix.
std::string prometheus_text(const std::vector<Sample>& samples);

// Firecracker-style metric lines: counters as deltas against the previous line.
class JsonLines {
 public:
  // One line (with its '\n').
  std::string line(const std::vector<Sample>& samples, uint64_t utc_ms);

 private:
  std::map<std::string, uint64_t> last_;  // "group/name" -> the counter at the last line
};

// The JSON object key of a sample's instance: "block_rootfs", "vcpu_0", "api".
std::string group_key(const Sample& s);

}  // namespace vireo::metrics
