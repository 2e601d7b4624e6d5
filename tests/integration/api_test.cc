// The REST API of a running vireo (--api-sock), spoken to as a client would: raw HTTP/1.1
// over the Unix socket. The `chatter` guest prints numbered lines without end, so its
// output shows whether it runs.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstring>
#include <fstream>
#include <regex>
#include <utility>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/kvm_required.h"
#include "support/linux_fixture.h"
#include "support/net_namespace.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

using namespace std::chrono_literals;

int connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on a connection of its own; the whole answer (the server closes after it).
std::string http(const std::string& path, const std::string& method, const std::string& target,
                 const std::string& body = "") {
  const int fd = connect_to(path);
  if (fd < 0) return "";
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
  if (!body.empty() || method != "GET") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  (void)::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The same through curl, as Firecracker's getting-started guide drives it:
// `curl --unix-socket SOCK -i -X METHOD -d BODY http://localhost/TARGET`; the answer with
// its status line and headers.
std::string curl(const std::string& path, const std::string& method, const std::string& target,
                 const std::string& body = "") {
  std::vector<std::string> args = {"/usr/bin/curl", "-sS", "-i", "--unix-socket", path, "-X", method,
                                   "-H", "Accept: application/json"};
  if (!body.empty()) args.insert(args.end(), {"-H", "Content-Type: application/json", "-d", body});
  args.push_back("http://localhost" + target);
  auto r = run_process(args, "", std::chrono::seconds(60));
  return r.exit_status == 0 ? r.out : "curl failed (" + std::to_string(r.exit_status) + "): " + r.err;
}

class ApiOnARunningVm : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vireo-api-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    sock_ = dir_ + "/api.sock";
  }
  void TearDown() override { ::rmdir(dir_.c_str()); }
  // Output after `ms` more milliseconds of reading it.
  static size_t output_after(Process& p, std::chrono::milliseconds ms) {
    p.wait_for_output("\n~never~", ms);
    return p.out().size();
  }
  std::string dir_, sock_;
};

TEST_F(ApiOnARunningVm, PauseStopsTheGuestResumeGoesOnBadRequestsHarmNothing) {
  VIREO_REQUIRE_KVM();
  Process p({vireo_bin(), "run", "--kernel", guest("chatter"), "--cpus", "2", "--memory", "64M",
             "--api-sock", sock_});
  ASSERT_TRUE(p.wait_for_output("chatter 100 ", 60s)) << p.out();

  std::string r = http(sock_, "GET", "/");
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos) << r;
  EXPECT_NE(r.find("\"state\":\"Running\""), std::string::npos) << r;
  r = http(sock_, "GET", "/machine-config");
  EXPECT_NE(r.find("\"mem_size_mib\":64"), std::string::npos) << r;
  EXPECT_NE(r.find("\"vcpu_count\":2"), std::string::npos) << r;

  r = http(sock_, "PATCH", "/vm", R"({"state": "Paused"})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << r;
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Paused\""), std::string::npos);
  const size_t paused_at = output_after(p, 200ms);
  EXPECT_EQ(output_after(p, 500ms), paused_at) << "the guest printed while paused";

  // Bad requests while paused: answered 400, nothing changes.
  r = http(sock_, "PATCH", "/vm", R"({"state": "Running"})");
  EXPECT_NE(r.find("HTTP/1.1 400 Bad Request"), std::string::npos) << r;
  EXPECT_NE(r.find("unknown variant `Running`"), std::string::npos) << r;
  EXPECT_NE(http(sock_, "PATCH", "/vm", "{").find("400 Bad Request"), std::string::npos);
  EXPECT_NE(http(sock_, "PUT", "/vm", std::string(60000, ' ')).find("larger than the limit"),
            std::string::npos);
  EXPECT_NE(http(sock_, "GET", "/drives").find("Invalid request method and/or path"), std::string::npos);
  {  // a client that goes away halfway through its request
    const int fd = connect_to(sock_);
    const std::string half = "PATCH /vm HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"sta";
    (void)::send(fd, half.data(), half.size(), MSG_NOSIGNAL);
    ::close(fd);
  }
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Paused\""), std::string::npos);
  EXPECT_EQ(output_after(p, 100ms), paused_at);

  r = http(sock_, "PATCH", "/vm", R"({"state": "Resumed"})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204 No Content\r\n", 0), 0u) << r;
  EXPECT_NE(http(sock_, "GET", "/").find("\"state\":\"Running\""), std::string::npos);
  // Output again (slow where vireo is sanitized and the KVM itself emulated: wait for it).
  for (int i = 0; i < 120 && p.out().size() < paused_at + 1000; ++i) output_after(p, 250ms);
  EXPECT_GT(p.out().size(), paused_at + 1000) << "no output after resume";

  p.send_signal(SIGTERM);
  auto done = p.wait(30s);
  EXPECT_EQ(done.exit_status, 128 + SIGTERM) << done.err;
  struct stat st {};
  EXPECT_NE(::lstat(sock_.c_str(), &st), 0) << "the API socket outlived vireo";
}

TEST_F(ApiOnARunningVm, SocketInUseIsOneLineAndStatus2) {
  VIREO_REQUIRE_KVM();
  Process first({vireo_bin(), "run", "--kernel", guest("chatter"), "--memory", "64M", "--api-sock", sock_});
  ASSERT_TRUE(first.wait_for_output("chatter 10 ", 60s)) << first.out();
  auto second = run_process({vireo_bin(), "run", "--kernel", guest("hello"), "--api-sock", sock_});
  EXPECT_EQ(second.exit_status, 2);
  EXPECT_EQ(second.err, "vireo: --api-sock: " + sock_ + " is in use by another program\n");
  first.send_signal(SIGTERM);
  first.wait(30s);
}

// The log and the metrics of a VM the API starts: a log file at Debug with levels, a
// metrics file with a line every second and one per FlushMetrics, and Prometheus text on
// GET /metrics whose vCPU counters grow while the guest prints.
TEST_F(ApiOnARunningVm, LogAndMetricsFollowTheGuest) {
  VIREO_REQUIRE_KVM();
  const std::string log_path = dir_ + "/vireo.log", metrics_path = dir_ + "/metrics.json";
  Process p({vireo_bin(), "run", "--api-sock", sock_, "--metrics-interval", "1"});
  for (int i = 0; i < 200 && ::access(sock_.c_str(), F_OK) != 0; ++i) std::this_thread::sleep_for(50ms);
  auto put = [&](const std::string& target, const std::string& body) {
    return http(sock_, "PUT", target, body);
  };
  EXPECT_NE(put("/logger", R"({"log_path": ")" + log_path + R"(", "level": "Debug", "show_level": true})")
                .find("204 No Content"), std::string::npos);
  EXPECT_NE(put("/metrics", R"({"metrics_path": ")" + metrics_path + R"("})").find("204 No Content"),
            std::string::npos);
  EXPECT_NE(put("/metrics", R"({"metrics_path": "/tmp/x"})").find("Reinitialization of metrics not allowed."),
            std::string::npos);
  EXPECT_NE(put("/boot-source", R"({"kernel_image_path": ")" + guest("chatter") + R"("})").find("204"),
            std::string::npos);
  EXPECT_NE(put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 64})").find("204"), std::string::npos);
  EXPECT_NE(put("/actions", R"({"action_type": "InstanceStart"})").find("204"), std::string::npos);
  ASSERT_TRUE(p.wait_for_output("chatter 100 ", 60s)) << p.out();

  // Prometheus: the first vCPU writes the serial port, so its port-write exits grow.
  auto io_out = [&] {
    const std::string r = http(sock_, "GET", "/metrics");
    std::smatch m;
    static const std::regex re(R"(vireo_vcpu_exit_io_out_total\{vcpu="0"\} (\d+))");
    return std::regex_search(r, m, re) ? std::stoull(m[1]) : 0ull;
  };
  const std::string text = http(sock_, "GET", "/metrics");
  EXPECT_NE(text.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE vireo_vcpu_exit_io_out_total counter"), std::string::npos) << text;
  EXPECT_NE(text.find("vireo_vm_vcpus 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vireo_vm_memory_bytes 67108864\n"), std::string::npos) << text;
  EXPECT_NE(text.find("vireo_api_put_requests_total 6\n"), std::string::npos) << text;
  const uint64_t before = io_out();
  EXPECT_GT(before, 100u);
  p.wait_for_output("chatter 400 ", 60s);
  EXPECT_GT(io_out(), before);

  // The metrics file: the period's lines and FlushMetrics', each a JSON object.
  EXPECT_NE(put("/actions", R"({"action_type": "FlushMetrics"})").find("204"), std::string::npos);
  std::vector<nlohmann::json> lines;
  for (int i = 0; i < 240 && lines.size() < 3; ++i) {
    std::this_thread::sleep_for(250ms);
    lines.clear();
    std::ifstream f(metrics_path);
    for (std::string line; std::getline(f, line);) lines.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  ASSERT_GE(lines.size(), 3u);
  uint64_t exits = 0;
  for (const auto& j : lines) {
    ASSERT_TRUE(j.is_object());
    EXPECT_TRUE(j.contains("utc_timestamp_ms"));
    if (j.contains("vcpu_0")) exits += j["vcpu_0"].value("exit_io_out", 0ull);
  }
  EXPECT_GT(exits, 100u) << "the lines' deltas add up to the guest's port writes";

  EXPECT_NE(put("/logger", R"({"log_path": "/tmp/y"})").find("not supported after starting"), std::string::npos);
  p.send_signal(SIGTERM);
  auto done = p.wait(30s);
  EXPECT_EQ(done.exit_status, 128 + SIGTERM) << done.err;
  std::ifstream f(log_path);
  std::stringstream log;
  log << f.rdbuf();
  EXPECT_NE(log.str().find("[anonymous-instance:main:INFO] VM started: 2 vCPUs, 64 MiB"), std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find(":DEBUG] API PUT /actions: 204"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find(":INFO] API PUT /logger: 400"), std::string::npos) << log.str();
  EXPECT_NE(log.str().find(":INFO] VM stopped: "), std::string::npos) << log.str();
  ::unlink(log_path.c_str());
  ::unlink(metrics_path.c_str());
}

// Firecracker's getting-started flow, driven by curl --unix-socket, on Debian's cloud kernel (its i8042 and atkbd
// drivers built in), from an empty process: vireo starts with only the API socket (in a
// network namespace with a tap), the API describes the machine (kernel, initrd, 2 vCPUs,
// a disk, a NIC) and starts it; the guest finds both devices, then prints its uptime
// five times a second; paused, it prints nothing and its clock stands still; resumed, it
// goes on where it was; its data disk is swapped for a larger one (PATCH /drives) and it
// sees the new size and bytes; the NIC's limits change (PATCH /network-interfaces);
// Ctrl-Alt-Del makes its init power off cleanly: exit status 0.
TEST(DebianKernelApi, GettingStartedPauseResumeAndCtrlAltDel) {
  VIREO_REQUIRE_KVM();
  const std::string dir = debian_dir();
  VIREO_REQUIRE_DEBIAN(dir);
  NetNamespace ns("vtap0", "10.0.9.1/24");
  ASSERT_TRUE(ns.ok()) << "could not make a network namespace with a tap (root needed)";
  char tmp[] = "/tmp/vireo-api-XXXXXX";
  ASSERT_NE(::mkdtemp(tmp), nullptr);
  const std::string scratch = tmp, sock = scratch + "/api.sock", disk = scratch + "/disk.img",
                    disk2 = scratch + "/disk2.img";
  ASSERT_EQ(run_process({"/bin/sh", "-c", "printf api-disk > " + disk + " && truncate -s 8M " + disk +
                                              " && printf api-dsk2 > " + disk2 + " && truncate -s 12M " + disk2})
                .exit_status,
            0);
  Process p(ns.exec({vireo_bin(), "run", "--api-sock", sock}));
  for (int i = 0; i < 100 && ::access(sock.c_str(), F_OK) != 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_NE(curl(sock, "GET", "/").find("\"state\":\"Not started\""), std::string::npos);

  // Each tick also looks at the disk's size: when it changes (PATCH /drives), the new
  // size and the disk's first bytes (the page cache dropped) are printed.
  const std::string cmd = "echo disk=$(head -c 8 /dev/vda) mac=$(cat /sys/class/net/eth0/address); "
                          "s0=$(cat /sys/block/vda/size); echo ready-$((40+2)); i=0; while :; do i=$((i+1)); "
                          "echo tick-$i-up-$(cut -d' ' -f1 /proc/uptime); s=$(cat /sys/block/vda/size); "
                          "if [ $s != $s0 ]; then s0=$s; echo 3 > /proc/sys/vm/drop_caches; "
                          "echo vda-$s-$(head -c 8 /dev/vda); fi; sleep 0.2; done";
  const nlohmann::json boot = {{"kernel_image_path", dir + "/vmlinuz"},
                               {"initrd_path", dir + "/initramfs.cpio"},
                               {"boot_args", "console=ttyS0 vireo.then=reboot vireo.cmd=\"" + cmd + "\""}};
  auto put = [&](const std::string& path, const std::string& body) {
    const std::string r = curl(sock, "PUT", path, body);
    EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << path << ": " << r;
  };
  put("/boot-source", boot.dump());
  put("/machine-config", R"({"vcpu_count": 2, "mem_size_mib": 256})");
  put("/drives/data", R"({"drive_id": "data", "path_on_host": ")" + disk +
                          R"(", "is_root_device": false, "is_read_only": true})");
  put("/network-interfaces/eth0",
      R"({"iface_id": "eth0", "host_dev_name": "vtap0", "guest_mac": "06:00:ac:10:00:02"})");
  // Changing a drive is for a running machine (before it, PUT describes drives).
  EXPECT_NE(curl(sock, "PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": ")" + disk2 + "\"}")
                .find("not supported before starting the microVM"),
            std::string::npos);
  put("/actions", R"({"action_type": "InstanceStart"})");
  EXPECT_NE(curl(sock, "GET", "/").find("\"state\":\"Running\""), std::string::npos);
  ASSERT_TRUE(p.wait_for_output("ready-42", 600s)) << p.out();
  EXPECT_NE(p.out().find("disk=api-disk mac=06:00:ac:10:00:02"), std::string::npos) << p.out();
  ASSERT_TRUE(p.wait_for_output("AT Translated Set 2 keyboard", 60s)) << p.out();
  ASSERT_TRUE(p.wait_for_output("tick-5-", 60s)) << p.out();

  // The last tick's number and uptime in `out`.
  auto last_tick = [](const std::string& out) {
    std::pair<int, double> last{-1, 0};
    std::regex re(R"(tick-(\d+)-up-([0-9.]+))");
    for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
      last = {std::stoi((*it)[1].str()), std::stod((*it)[2].str())};
    return last;
  };
  EXPECT_EQ(curl(sock, "PATCH", "/vm", R"({"state": "Paused"})").rfind("HTTP/1.1 204", 0), 0u);
  p.wait_for_output("\n~never~", 500ms);  // what was on its way
  const auto at_pause = last_tick(p.out());
  p.wait_for_output("\n~never~", 3s);
  EXPECT_EQ(last_tick(p.out()).first, at_pause.first) << "the guest ticked while paused";
  EXPECT_EQ(curl(sock, "PATCH", "/vm", R"({"state": "Resumed"})").rfind("HTTP/1.1 204", 0), 0u);
  ASSERT_TRUE(p.wait_for_output("tick-" + std::to_string(at_pause.first + 3) + "-", 60s)) << p.out();
  // The guest's clock left the 3 s pause out: a few ticks later it is not 3 s ahead.
  const auto after = last_tick(p.out());
  const double ticks_time = 0.2 * (after.first - at_pause.first);
  EXPECT_LT(after.second - at_pause.second, ticks_time + 2.0)
      << "uptime " << at_pause.second << " -> " << after.second << " over "
      << after.first - at_pause.first << " ticks";

  // PATCH /drives: a file that is not there is refused and the disk stays; then the disk is
  // swapped for a larger one with other bytes, and the guest sees its size and bytes.
  std::string r = curl(sock, "PATCH", "/drives/data",
                       R"({"drive_id": "data", "path_on_host": ")" + scratch + "/missing.img\"}");
  EXPECT_NE(r.find("HTTP/1.1 400"), std::string::npos) << r;
  EXPECT_NE(r.find("path_on_host: cannot open"), std::string::npos) << r;
  r = curl(sock, "PATCH", "/drives/data", R"({"drive_id": "data", "path_on_host": ")" + disk2 + "\"}");
  EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << r;
  ASSERT_TRUE(p.wait_for_output("vda-24576-api-dsk2", 60s)) << p.out();
  EXPECT_EQ(p.out().find("vda-24576-api-disk"), std::string::npos) << "stale bytes of the old disk";
  EXPECT_NE(curl(sock, "GET", "/vm/config").find("\"path_on_host\":\"" + disk2 + "\""), std::string::npos);
  // PATCH /network-interfaces: each direction's limit changes on the live device.
  r = curl(sock, "PATCH", "/network-interfaces/eth0",
           R"({"iface_id": "eth0", "rx_rate_limiter": {"bandwidth": {"size": 1048576, "refill_time": 100}},
               "tx_rate_limiter": {"ops": {"size": 1000, "refill_time": 1000}}})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << r;
  r = curl(sock, "GET", "/vm/config");
  EXPECT_NE(r.find(R"("rx_rate_limiter":{"bandwidth":{"refill_time":1000,"size":10485760}})"), std::string::npos) << r;
  const int ticks = last_tick(p.out()).first;
  ASSERT_TRUE(p.wait_for_output("tick-" + std::to_string(ticks + 2) + "-", 60s)) << p.out();

  r = curl(sock, "PUT", "/actions", R"({"action_type": "SendCtrlAltDel"})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << r;
  auto done = p.wait(120s);
  EXPECT_EQ(done.exit_status, 0) << done.out << done.err;
  EXPECT_NE(done.out.find("VIREO-INIT: ctrl-alt-del"), std::string::npos) << done.out;
  run_process({"/bin/rm", "-rf", scratch});
}

// The balloon through the API on our minimal Linux kernel (its virtio_balloon built in;
// the Debian fixture's initramfs does not load that module): PATCH /balloon inflates it
// further (the guest's MemTotal shrinks by the difference), GET /balloon/statistics has
// the numbers the guest reported, the statistics interval changes but cannot be turned off.
TEST(LinuxKernelApi, BalloonTargetAndStatistics) {
  VIREO_REQUIRE_KVM();
  const std::string dir = linux_dir();
  VIREO_REQUIRE_LINUX(dir);
  char tmp[] = "/tmp/vireo-api-XXXXXX";
  ASSERT_NE(::mkdtemp(tmp), nullptr);
  const std::string scratch = tmp, sock = scratch + "/api.sock";
  const std::string cmd = "i=0; while [ $i -lt 600 ]; do i=$((i+1)); "
                          "echo mem-$i-$(awk '/MemTotal/{print $2}' /proc/meminfo)-kib; sleep 0.2; done";
  Process p({vireo_bin(), "run", "--kernel", dir + "/vmlinux", "--initrd", dir + "/initramfs.cpio",
             "--memory", "256M", "--balloon", "size=16M,stats=1", "--api-sock", sock, "--cmdline",
             "console=ttyS0 reboot=k panic=1 vireo.then=poweroff vireo.cmd=\"" + cmd + "\""});
  // The last line's number and MemTotal.
  auto last_mem = [&p]() {
    std::pair<int, long> last{-1, -1};
    std::regex re(R"(mem-(\d+)-(\d+)-kib)");
    const std::string out = p.out();
    for (auto it = std::sregex_iterator(out.begin(), out.end(), re); it != std::sregex_iterator(); ++it)
      last = {std::stoi((*it)[1].str()), std::stol((*it)[2].str())};
    return last;
  };
  // GET /balloon/statistics once it says `pages` are in the balloon (and has the guest's
  // numbers: they come every second).
  std::string r;
  auto stats_when = [&](uint64_t pages) {
    nlohmann::json stats;
    for (int i = 0; i < 600; ++i) {
      r = http(sock, "GET", "/balloon/statistics");
      const auto body = r.find("\r\n\r\n");
      if (r.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos)
        stats = nlohmann::json::parse(r.substr(body + 4), nullptr, false);
      if (stats.is_object() && stats.contains("free_memory") && stats["actual_pages"] == pages) break;
      p.wait_for_output("\n~never~", 100ms);
    }
    return stats;
  };
  ASSERT_TRUE(p.wait_for_output("mem-3-", 300s)) << p.out();
  auto stats = stats_when(16 * 256);
  ASSERT_EQ(stats["actual_pages"], 16 * 256) << r;
  // A line printed after the balloon got there.
  ASSERT_TRUE(p.wait_for_output("mem-" + std::to_string(last_mem().first + 1) + "-", 30s)) << p.out();
  const long before = last_mem().second;

  r = http(sock, "PATCH", "/balloon", R"({"amount_mib": 64})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << r;
  EXPECT_NE(http(sock, "GET", "/balloon").find(R"("amount_mib":64)"), std::string::npos);
  stats = stats_when(64 * 256);
  ASSERT_EQ(stats["actual_pages"], 64 * 256) << r;
  EXPECT_EQ(stats["target_mib"], 64);
  EXPECT_EQ(stats["actual_mib"], 64);
  EXPECT_EQ(stats["target_pages"], 64 * 256);
  EXPECT_GT(stats["total_memory"].get<uint64_t>(), 100ull << 20);
  EXPECT_GT(stats["free_memory"].get<uint64_t>(), 0u);
  long after = before;
  for (int i = 0; i < 300 && after > before - 47 * 1024; ++i) {
    p.wait_for_output("\n~never~", 100ms);
    after = last_mem().second;
  }
  EXPECT_LE(after, before - 47 * 1024) << "MemTotal " << before << " -> " << after << " KiB";

  r = http(sock, "PATCH", "/balloon/statistics", R"({"stats_polling_interval_s": 2})");
  EXPECT_EQ(r.rfind("HTTP/1.1 204", 0), 0u) << r;
  r = http(sock, "PATCH", "/balloon/statistics", R"({"stats_polling_interval_s": 0})");
  EXPECT_NE(r.find("Cannot enable/disable the statistics after boot."), std::string::npos) << r;
  EXPECT_NE(http(sock, "GET", "/balloon").find(R"("stats_polling_interval_s":2)"), std::string::npos);

  p.send_signal(SIGTERM);
  p.wait(30s);
  run_process({"/bin/rm", "-rf", scratch});
}

// The third way to describe a VM: Firecracker's configuration file.
TEST(ConfigFileBoot, BootsTheGuestItDescribes) {
  VIREO_REQUIRE_KVM();
  char name[] = "/tmp/vireo-config-XXXXXX";
  const int fd = ::mkstemp(name);
  ASSERT_GE(fd, 0);
  ::close(fd);
  const std::string path = name;
  std::ofstream(path) << R"({"boot-source": {"kernel_image_path": ")" << guest("exit_status")
                      << R"(", "boot_args": "exit=42 marker=from-the-file"},
    "machine-config": {"vcpu_count": 2, "mem_size_mib": 64}})";
  auto r = run_process({vireo_bin(), "run", "--config-file", path});
  EXPECT_EQ(r.exit_status, (42 << 1) | 1) << r.out << r.err;
  EXPECT_NE(r.out.find("cmdline: exit=42 marker=from-the-file"), std::string::npos) << r.out;
  std::ofstream(path) << R"({"boot-source": {"kernel_image_path": ")" << guest("exit_status")
                      << R"("}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "smt": true}})";
  auto bad = run_process({vireo_bin(), "run", "--config-file", path});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_EQ(bad.err, "vireo: --config-file " + path +
                         ": `machine-config.smt`: true is not supported (vCPUs are one thread per "
                         "core); leave it out or set false\n");
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace vireo::test
