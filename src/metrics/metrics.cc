#include "metrics/metrics.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>


namespace vireo::metrics {

namespace {

// Metric and label names: [a-zA-Z_][a-zA-Z0-9_]*.
std::string metric_name(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') c = '_';
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

// A label value: backslash, double quote and newline escaped.
std::string label_value(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string family_of(const Sample& s) {
  return fmt::format("vireo_{}_{}{}", metric_name(s.component), metric_name(s.name),
                     s.kind == Kind::kCounter ? "_total" : "");
}

}  // namespace

void Collector::scope(std::string component, std::string label, std::string instance) {
  component_ = std::move(component);
  label_ = std::move(label);
  instance_ = std::move(instance);
}

void Collector::counter(std::string_view name, uint64_t value) { add(name, Kind::kCounter, value); }
void Collector::gauge(std::string_view name, uint64_t value) { add(name, Kind::kGauge, value); }

void Collector::add(std::string_view name, Kind kind, uint64_t value) {
  samples_.push_back({component_, label_, instance_, std::string(name), kind, value});
}

std::string group_key(const Sample& s) {
  return s.instance.empty() ? s.component : s.component + "_" + s.instance;
}

std::string prometheus_text(const std::vector<Sample>& samples) {
  std::vector<std::pair<std::string, const Sample*>> rows;
  rows.reserve(samples.size());
  for (const auto& s : samples) rows.emplace_back(family_of(s), &s);
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  const std::string* family = nullptr;
  for (const auto& [name, s] : rows) {
    if (!family || *family != name) {
      out += fmt::format("# TYPE {} {}\n", name, s->kind == Kind::kCounter ? "counter" : "gauge");
      family = &name;
    }
    if (s->label.empty())
      out += fmt::format("{} {}\n", name, s->value);
    else
      out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, metric_name(s->label),
                         label_value(s->instance), s->value);
  }
  return out;
}

std::string JsonLines::line(const std::vector<Sample>& samples, uint64_t utc_ms) {
  nlohmann::ordered_json j;
  j["utc_timestamp_ms"] = utc_ms;
  for (const auto& s : samples) {
    const std::string group = group_key(s);
    uint64_t v = s.value;
    if (s.kind == Kind::kCounter) {
      uint64_t& last = last_[group + "/" + s.name];
      v = s.value >= last ? s.value - last : s.value;  // a counter that restarted (new VM)
      last = s.value;
    }
    j[group][s.name] = v;
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace vireo::metrics
