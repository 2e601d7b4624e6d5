// libFuzzer target for what the API takes from its clients (issue 10): every input is
// (1) a byte stream on an API connection, parsed by HttpConnection and routed by VmApi
// over a VMM that has not started (so PUTs run the configuration model), and (2) a
// Firecracker config-file document for api::config_from_json. Nothing may crash, hang,
// leak or trip the sanitizers; answers are read and thrown away.
//
//   build-fuzz/bin/vireo_api_fuzz tests/fuzz/corpus/api -max_total_time=60
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "api/config_file.h"
#include "api/http_connection.h"
#include "api/vm_api.h"

namespace {

using namespace vireo;

class NotStartedVm : public api::VmControl {
 public:
  api::InstanceState state() const override { return state_; }
  Result<void> pause() override { return {}; }
  Result<void> resume() override { return {}; }
  Result<void> send_ctrl_alt_del() override { return {}; }
  Result<void> start(const vmm::VmConfig& machine) override {
    cfg_ = machine;  // so that the PATCH routes find its devices
    state_ = api::InstanceState::kRunning;
    return {};
  }
  const vmm::VmConfig& config() const override { return cfg_; }
  // No files are opened: the fuzzer names them.
  Result<void> configure_logger(const vmm::LogConfig&) override { return {}; }
  Result<void> configure_metrics(const std::string&) override { return {}; }
  Result<void> flush_metrics() override { return {}; }
  void report_metrics(metrics::Collector& out) const override {
    out.scope("vm");
    out.gauge("vcpus", 1);
  }
  Result<void> update_drive(const std::string&, const std::optional<std::string>&,
                            const std::optional<virtio::RateLimit>&) override {
    return {};
  }
  Result<void> update_net_limits(const std::string&, const std::optional<virtio::RateLimit>&,
                                 const std::optional<virtio::RateLimit>&) override {
    return {};
  }
  Result<void> set_balloon_target(uint64_t) override { return {}; }
  Result<void> set_balloon_stats_interval(uint32_t) override { return {}; }
  Result<api::BalloonStatistics> balloon_statistics() const override {
    return api::BalloonStatistics{};
  }

 private:
  api::InstanceState state_ = api::InstanceState::kNotStarted;
  vmm::VmConfig cfg_;
};

void drain(int fd) {
  char buf[65536];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 60000) return 0;  // the socket pair's buffer; bigger bodies are refused anyway
  const std::string input(reinterpret_cast<const char*>(data), size);
  {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return 0;
    UniqueFd client(fds[1]);
    NotStartedVm vm;
    api::VmApi routes(vm);
    api::HttpConnection conn(UniqueFd(fds[0]), [&routes](const api::HttpRequest& r) {
      return routes.handle(r);
    });
    size_t sent = 0;
    while (sent < input.size()) {  // in pieces, as a socket delivers them
      const size_t piece = std::min<size_t>(input.size() - sent, 1 + (sent * 7919 + size) % 4096);
      const ssize_t n = ::send(client.get(), input.data() + sent, piece, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
      const bool open = conn.on_readable();
      drain(client.get());
      if (!open) break;
    }
    ::shutdown(client.get(), SHUT_WR);
    (void)conn.on_readable();
    drain(client.get());
  }
  (void)api::config_from_json(input);
  return 0;
}
