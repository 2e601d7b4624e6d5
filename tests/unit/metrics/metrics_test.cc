// The two formats of the VMM's counters: Prometheus text and Firecracker-style lines.
#include "metrics/metrics.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace vireo::metrics {
namespace {

Collector sample_set(uint64_t reads, uint64_t connections) {
  Collector c;
  c.scope("block", "drive", "rootfs");
  c.counter("read_bytes", reads);
  c.scope("vsock", "device", "vsock0");
  c.gauge("connections", connections);
  c.scope("block", "drive", "data");
  c.counter("read_bytes", 7);
  c.scope("api");
  c.counter("get_requests", 3);
  return c;
}

TEST(Prometheus, FamiliesAreGroupedTypedAndSuffixed) {
  EXPECT_EQ(prometheus_text(sample_set(100, 2).samples()),
            "# TYPE vireo_api_get_requests_total counter\n"
            "vireo_api_get_requests_total 3\n"
            "# TYPE vireo_block_read_bytes_total counter\n"
            "vireo_block_read_bytes_total{drive=\"rootfs\"} 100\n"
            "vireo_block_read_bytes_total{drive=\"data\"} 7\n"
            "# TYPE vireo_vsock_connections gauge\n"
            "vireo_vsock_connections{device=\"vsock0\"} 2\n");
}

TEST(Prometheus, LabelValuesAreEscapedAndNamesSanitized) {
  Collector c;
  c.scope("net-x", "iface", "a\"b\\c\nd");
  c.counter("rx.bytes", 1);
  EXPECT_EQ(prometheus_text(c.samples()),
            "# TYPE vireo_net_x_rx_bytes_total counter\n"
            "vireo_net_x_rx_bytes_total{iface=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(JsonLines, CountersAreDeltasSinceTheLastLineGaugesAreValues) {
  JsonLines lines;
  auto first = nlohmann::json::parse(lines.line(sample_set(100, 2).samples(), 1000));
  EXPECT_EQ(first["utc_timestamp_ms"], 1000);
  EXPECT_EQ(first["block_rootfs"]["read_bytes"], 100);
  EXPECT_EQ(first["block_data"]["read_bytes"], 7);
  EXPECT_EQ(first["vsock_vsock0"]["connections"], 2);
  EXPECT_EQ(first["api"]["get_requests"], 3);
  const std::string text = lines.line(sample_set(150, 1).samples(), 2000);
  ASSERT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\n'), text.size() - 1);  // one line
  auto second = nlohmann::json::parse(text);
  EXPECT_EQ(second["block_rootfs"]["read_bytes"], 50);
  EXPECT_EQ(second["block_data"]["read_bytes"], 0);
  EXPECT_EQ(second["vsock_vsock0"]["connections"], 1);
  // A counter that went back (the guest rebooted into a new VM) starts over.
  auto third = nlohmann::json::parse(lines.line(sample_set(30, 1).samples(), 3000));
  EXPECT_EQ(third["block_rootfs"]["read_bytes"], 30);
}

}  // namespace
}  // namespace vireo::metrics
