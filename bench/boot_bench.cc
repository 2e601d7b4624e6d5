// Boot latency and memory overhead: vireo vs QEMU (microvm) booting the same PVH guests.
//   build/bin/vireo_boot_bench [--benchmark_repetitions=N]
// Times are wall-clock from posix_spawn of the VMM; "cpu_ms" is the VMM's own CPU time.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"

namespace {

using vireo::test::Process;
using vireo::test::ProcessResult;

std::vector<std::string> vireo_cmd(const std::string& elf) {
  return {VIREO_BIN, "run", "--kernel", elf, "--memory", "128M", "--quiet"};
}

std::vector<std::string> qemu_cmd(const std::string& elf) {
  // -cpu host,-arch-capabilities: QEMU 7.2 aborts setting that MSR on this nested host.
  return {"/usr/bin/qemu-system-x86_64", "-M", "microvm,x-option-roms=off,rtc=off",
          "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-m", "128", "-nodefaults",
          "-no-user-config", "-nographic", "-serial", "stdio", "-device",
          "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", elf};
}

bool have_qemu() { return ::access("/usr/bin/qemu-system-x86_64", X_OK) == 0; }

// Spawns the VMM, waits for `needle` on the console and for the exit.
void boot_bench(benchmark::State& state, std::vector<std::string> cmd, const std::string& needle,
                bool to_first_byte) {
  double cpu = 0;
  for (auto _ : state) {
    Process p(cmd);
    bool seen = p.wait_for_output(needle, std::chrono::seconds(30));
    ProcessResult r = p.wait(std::chrono::seconds(30));
    if (!seen || r.exit_status != 1) {
      state.SkipWithError(("guest did not run: " + r.err.substr(0, 200)).c_str());
      return;
    }
    state.SetIterationTime(to_first_byte ? r.first_output_seconds : r.seconds);
    cpu += r.cpu_seconds;
  }
  state.counters["cpu_ms"] = benchmark::Counter(cpu * 1e3 / static_cast<double>(state.iterations()));
}

void BM_Vireo_FirstInstruction(benchmark::State& s) { boot_bench(s, vireo_cmd(VIREO_BENCH_GUEST), "!", true); }
void BM_Qemu_FirstInstruction(benchmark::State& s) {
  if (!have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  boot_bench(s, qemu_cmd(VIREO_BENCH_GUEST), "!", true);
}
void BM_Vireo_HelloFirstSerialByte(benchmark::State& s) {
  boot_bench(s, vireo_cmd(std::string(VIREO_GUEST_DIR) + "/hello.elf"), "Hello", true);
}
void BM_Qemu_HelloFirstSerialByte(benchmark::State& s) {
  if (!have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  boot_bench(s, qemu_cmd(std::string(VIREO_GUEST_DIR) + "/hello.elf"), "Hello", true);
}
void BM_Vireo_HelloToExit(benchmark::State& s) {
  boot_bench(s, vireo_cmd(std::string(VIREO_GUEST_DIR) + "/hello.elf"), "Hello", false);
}
void BM_Qemu_HelloToExit(benchmark::State& s) {
  if (!have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  boot_bench(s, qemu_cmd(std::string(VIREO_GUEST_DIR) + "/hello.elf"), "Hello", false);
}

// Memory of the VMM process that is not guest RAM: Rss of every mapping except the
// guest memory (vireo: the "vireo-guest-ram" memfd; QEMU: its anonymous RAM block of
// exactly the guest size is found by size).
struct RssSplit {
  uint64_t total_kib = 0;
  uint64_t guest_kib = 0;
};

RssSplit read_rss(pid_t pid, uint64_t guest_bytes) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/smaps");
  RssSplit r;
  std::string line;
  bool in_guest = false;
  while (std::getline(f, line)) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > 8) {
      in_guest = line.find("vireo-guest-ram") != std::string::npos || (hi - lo) == guest_bytes;
      continue;
    }
    if (line.rfind("Rss:", 0) == 0) {
      uint64_t kib = std::stoull(line.substr(4));
      r.total_kib += kib;
      if (in_guest) r.guest_kib += kib;
    }
  }
  return r;
}

void rss_bench(benchmark::State& state, std::vector<std::string> cmd, uint64_t guest_bytes) {
  RssSplit last;
  for (auto _ : state) {
    Process p(cmd);
    if (!p.wait_for_output("idle: waiting", std::chrono::seconds(30))) {
      state.SkipWithError("idle guest did not start");
      return;
    }
    ::usleep(200 * 1000);
    last = read_rss(p.pid(), guest_bytes);
    p.send_signal(SIGTERM);
    p.wait(std::chrono::seconds(10));
  }
  state.counters["rss_kib"] = static_cast<double>(last.total_kib);
  state.counters["guest_kib"] = static_cast<double>(last.guest_kib);
  state.counters["overhead_kib"] = static_cast<double>(last.total_kib - last.guest_kib);
}

void BM_Vireo_MemoryOverhead(benchmark::State& s) {
  rss_bench(s, vireo_cmd(std::string(VIREO_GUEST_DIR) + "/idle.elf"), 128ull << 20);
}
void BM_Qemu_MemoryOverhead(benchmark::State& s) {
  if (!have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  rss_bench(s, qemu_cmd(std::string(VIREO_GUEST_DIR) + "/idle.elf"), 128ull << 20);
}

BENCHMARK(BM_Vireo_FirstInstruction)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Qemu_FirstInstruction)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Vireo_HelloFirstSerialByte)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Qemu_HelloFirstSerialByte)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Vireo_HelloToExit)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Qemu_HelloToExit)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(30);
BENCHMARK(BM_Vireo_MemoryOverhead)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Qemu_MemoryOverhead)->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
