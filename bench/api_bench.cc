// The REST API's costs (issue 10), measured on a running vireo:
//   - latency of GET / and of PATCH /vm (pause, then resume) with 1 and with 64 clients,
//     of GET /metrics (Prometheus text) and of FlushMetrics (a JSON line to a file)
//     at once, each on a keep-alive connection of its own: p50 and p99;
//   - InstanceStart to the guest's first instruction: vireo started with only --api-sock,
//     the boot source put, then the time from sending InstanceStart to the first byte
//     that bench/guest/first_byte.elf writes to COM1 as its first instruction;
//   - resident memory of an idle vireo with its API socket (after one request) against
//     one without, beside guest RAM (smaps).
//
//   vireo_api_bench [--requests N]     (N per client, default 2000)
//
// Needs /dev/kvm (run it in scripts/kvm-sandbox.sh where there is none).
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int connect_to(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request on keep-alive connection `fd`; true on a 2xx answer (read whole).
bool request(int fd, const std::string& method, const std::string& path, const std::string& body) {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return false;
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    got.append(buf, static_cast<size_t>(n));
    const size_t end = got.find("\r\n\r\n");
    if (end == std::string::npos) continue;
    size_t len = 0;
    if (auto cl = got.find("Content-Length: "); cl != std::string::npos && cl < end)
      len = std::stoul(got.substr(cl + 16));
    if (got.size() >= end + 4 + len) return got.compare(9, 1, "2") == 0;
  }
}

struct Percentiles {
  double p50_us, p99_us;
  size_t failed;
};

// `clients` threads, each with its own connection, `n` requests each (of `make(i)`).
template <class Make>
Percentiles measure(const std::string& sock, int clients, int n, Make make) {
  std::vector<std::vector<double>> per(clients);
  std::atomic<size_t> failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      const int fd = connect_to(sock);
      if (fd < 0) {
        failed += n;
        return;
      }
      for (int i = 0; i < n; ++i) {
        auto [method, path, body] = make(c, i);
        const auto t0 = Clock::now();
        if (!request(fd, method, path, body)) ++failed;
        per[c].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  if (all.empty()) return {0, 0, failed};
  return {all[all.size() / 2], all[std::min(all.size() - 1, all.size() * 99 / 100)], failed};
}

bool wait_for_socket(const std::string& path) {
  for (int i = 0; i < 400; ++i) {
    const int fd = connect_to(path);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// KiB resident beside guest RAM (mappings advised for huge pages are guest RAM).
long beside_guest_kib(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  long total = 0, rss = 0;
  while (std::getline(f, line)) {
    if (line.rfind("Rss:", 0) == 0) rss = std::stol(line.substr(4));
    if (line.rfind("VmFlags:", 0) == 0 && line.find(" hg") == std::string::npos) total += rss;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int n = 2000;
  if (argc == 3 && std::string(argv[1]) == "--requests") n = std::atoi(argv[2]);
  const std::string vireo = VIREO_BIN;
  const std::string idle = std::string(VIREO_GUEST_DIR) + "/idle.elf";
  const std::string sock = "/tmp/vireo-api-bench-" + std::to_string(::getpid()) + ".sock";
  ::signal(SIGPIPE, SIG_IGN);

  // Latency, on a VM that idles (its vCPU halted).
  {
    const std::string metrics_file = sock + ".metrics";
    vireo::test::Process vm({vireo, "run", "--kernel", idle, "--memory", "64M", "--api-sock", sock,
                             "--metrics-path", metrics_file});
    if (!wait_for_socket(sock)) {
      std::fprintf(stderr, "vireo did not serve %s\n", sock.c_str());
      return 1;
    }
    std::printf("%-34s %10s %10s %8s\n", "case", "p50 (us)", "p99 (us)", "failed");
    for (int clients : {1, 64}) {
      const int each = clients == 1 ? n : std::max(50, n / 16);
      auto get = measure(sock, clients, each, [](int, int) {
        return std::tuple<std::string, std::string, std::string>{"GET", "/", ""};
      });
      std::printf("%-34s %10.1f %10.1f %8zu\n",
                  ("GET /, " + std::to_string(clients) + " client(s)").c_str(), get.p50_us, get.p99_us, get.failed);
      // Pause and resume alternate per client; with many clients the states interleave
      // (a pause of a paused VM is a no-op: every request still does its full work).
      auto patch = measure(sock, clients, each, [](int, int i) {
        return std::tuple<std::string, std::string, std::string>{
            "PATCH", "/vm", i % 2 ? R"({"state":"Resumed"})" : R"({"state":"Paused"})"};
      });
      std::printf("%-34s %10.1f %10.1f %8zu\n",
                  ("PATCH /vm, " + std::to_string(clients) + " client(s)").c_str(), patch.p50_us, patch.p99_us,
                  patch.failed);
    }
    // The metrics: every counter as Prometheus text, and a line written to the file.
    auto scrape = measure(sock, 1, n, [](int, int) {
      return std::tuple<std::string, std::string, std::string>{"GET", "/metrics", ""};
    });
    std::printf("%-34s %10.1f %10.1f %8zu\n", "GET /metrics, 1 client", scrape.p50_us, scrape.p99_us,
                scrape.failed);
    auto flush = measure(sock, 1, n, [](int, int) {
      return std::tuple<std::string, std::string, std::string>{"PUT", "/actions",
                                                               R"({"action_type":"FlushMetrics"})"};
    });
    std::printf("%-34s %10.1f %10.1f %8zu\n", "FlushMetrics, 1 client", flush.p50_us, flush.p99_us,
                flush.failed);
    vm.send_signal(SIGTERM);
    vm.wait(10s);
    ::unlink(metrics_file.c_str());
  }

  // InstanceStart to the first instruction.
  {
    std::vector<double> ms;
    for (int run = 0; run < 10; ++run) {
      vireo::test::Process vm({vireo, "run", "--api-sock", sock});
      if (!wait_for_socket(sock)) return 1;
      const int fd = connect_to(sock);
      request(fd, "PUT", "/boot-source",
              std::string(R"({"kernel_image_path": ")") + VIREO_BENCH_GUEST + R"("})");
      request(fd, "PUT", "/machine-config", R"({"vcpu_count": 1, "mem_size_mib": 64})");
      const auto t0 = Clock::now();
      request(fd, "PUT", "/actions", R"({"action_type": "InstanceStart"})");
      if (!vm.wait_for_output("!", 10s)) return 1;
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      ::close(fd);
      vm.wait(10s);
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-34s %10.2f ms (median of %zu; min %.2f, max %.2f)\n",
                "InstanceStart to first instruction", ms[ms.size() / 2], ms.size(), ms.front(), ms.back());
  }

  // Resident memory beside guest RAM, idle, with and without the API socket.
  {
    long kib[2];
    for (int with_api = 0; with_api < 2; ++with_api) {
      std::vector<std::string> cmd = {vireo, "run", "--kernel", idle, "--memory", "64M"};
      if (with_api) cmd.insert(cmd.end(), {"--api-sock", sock});
      vireo::test::Process vm(cmd);
      std::this_thread::sleep_for(1s);
      if (with_api) {
        const int fd = connect_to(sock);
        request(fd, "GET", "/", "");
        ::close(fd);
      }
      std::this_thread::sleep_for(200ms);
      kib[with_api] = beside_guest_kib(vm.pid());
      vm.send_signal(SIGTERM);
      vm.wait(10s);
    }
    std::printf("%-34s %7ld KiB without the API, %ld KiB with it (+%ld KiB)\n",
                "idle vireo beside guest RAM", kib[0], kib[1], kib[1] - kib[0]);
  }
  return 0;
}
