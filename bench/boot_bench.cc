// Boot latency and memory overhead: vireo vs QEMU booting the same guests: our PVH test
// guests (QEMU microvm), and Linux to power-off (QEMU -M pc): our minimal kernel with 1
// vCPU ($VIREO_LINUX_DIR) and Debian's stock cloud kernel with 2 ($VIREO_DEBIAN_DIR).
//   build/bin/vireo_boot_bench [--benchmark_repetitions=N]
// Times are wall-clock from posix_spawn of the VMM; "cpu_ms" is the VMM's own CPU time.
// Where a machine has no /dev/kvm, run it inside the KVM sandbox (scripts/bench.sh does);
// there absolute times are those of QEMU's TCG, and only ratios mean something.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
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

// Spawns the VMM, waits for `needle` on the console and for the exit with `status`.
void boot_bench(benchmark::State& state, std::vector<std::string> cmd, const std::string& needle,
                bool to_first_byte, int status = 1,
                std::chrono::seconds timeout = std::chrono::seconds(30)) {
  double cpu = 0;
  for (auto _ : state) {
    Process p(cmd);
    bool seen = p.wait_for_output(needle, timeout);
    ProcessResult r = p.wait(timeout);
    if (!seen || r.exit_status != status) {
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

// Linux to power-off: a fixture directory's kernel and initramfs, its /init told to power
// off at once. QEMU boots the same vmlinux through its PVH note on -M pc (SeaBIOS, ACPI).
std::string fixture_dir(const char* env) {
  const char* d = std::getenv(env);
  return d && *d && ::access((std::string(d) + "/vmlinux").c_str(), R_OK) == 0 ? d : "";
}
constexpr const char* kLinuxCmdline = "console=ttyS0 reboot=k panic=-1 vireo.then=poweroff";

void linux_bench(benchmark::State& s, bool qemu, const char* env, const char* initrd, int cpus,
                 const char* mem) {
  const std::string dir = fixture_dir(env);
  if (dir.empty()) return s.SkipWithError((std::string("fixture not built: $") + env).c_str());
  if (qemu && !have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  std::vector<std::string> cmd;
  if (qemu)
    cmd = {"/usr/bin/qemu-system-x86_64", "-M", "pc", "-accel", "kvm", "-cpu",
           "host,-arch-capabilities", "-smp", std::to_string(cpus), "-m", mem, "-nodefaults",
           "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot", "-kernel",
           dir + "/vmlinux", "-initrd", dir + "/" + initrd, "-append", kLinuxCmdline};
  else
    cmd = {VIREO_BIN, "run", "--kernel", dir + "/vmlinux", "--initrd", dir + "/" + initrd,
           "--cpus", std::to_string(cpus), "--memory", mem, "--quiet", "--cmdline", kLinuxCmdline};
  boot_bench(s, cmd, "reboot: Power down", false, 0, std::chrono::seconds(300));
}
void BM_Vireo_MinimalLinuxToPowerOff(benchmark::State& s) {
  linux_bench(s, false, "VIREO_LINUX_DIR", "initramfs.cpio", 1, "128M");
}
void BM_Qemu_MinimalLinuxToPowerOff(benchmark::State& s) {
  linux_bench(s, true, "VIREO_LINUX_DIR", "initramfs.cpio", 1, "128M");
}
void BM_Vireo_DebianToPowerOff2Cpu(benchmark::State& s) {
  linux_bench(s, false, "VIREO_DEBIAN_DIR", "initramfs.cpio", 2, "256M");
}
void BM_Qemu_DebianToPowerOff2Cpu(benchmark::State& s) {
  linux_bench(s, true, "VIREO_DEBIAN_DIR", "initramfs.cpio", 2, "256M");
}

// Memory of the VMM process that is not guest RAM: Rss of every mapping except the
// guest memory (vireo: the "vireo-guest-ram" memfd; QEMU: its anonymous RAM block of
// exactly the guest size is found by size).
struct RssSplit {
  uint64_t total_kib = 0;
  uint64_t guest_kib = 0;
  uint64_t private_kib = 0;  // of the rest: pages only this process has
  uint64_t shared_kib = 0;   // of the rest: pages shared with other processes (libraries)
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
    if (in_guest) continue;
    if (line.rfind("Private_Clean:", 0) == 0 || line.rfind("Private_Dirty:", 0) == 0)
      r.private_kib += std::stoull(line.substr(14));
    if (line.rfind("Shared_Clean:", 0) == 0 || line.rfind("Shared_Dirty:", 0) == 0)
      r.shared_kib += std::stoull(line.substr(13));
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
  state.counters["private_kib"] = static_cast<double>(last.private_kib);
  state.counters["shared_kib"] = static_cast<double>(last.shared_kib);
}

// A 64 MiB raw image for the device variants, removed at exit.
const std::string& scratch_image() {
  static const std::string path = [] {
    std::string p = "/tmp/vireo-bench-disk-" + std::to_string(::getpid()) + ".img";
    std::ofstream(p).close();
    if (::truncate(p.c_str(), 64 << 20) != 0) return std::string();
    std::atexit([] { ::unlink(scratch_image().c_str()); });
    return p;
  }();
  return path;
}

void BM_Vireo_MemoryOverhead(benchmark::State& s) {
  rss_bench(s, vireo_cmd(std::string(VIREO_GUEST_DIR) + "/idle.elf"), 128ull << 20);
}
// The same with the virtio devices vireo has so far: one disk (virtio-blk with its
// io_uring) and an entropy device, each with its I/O thread.
void BM_Vireo_MemoryOverheadWithDiskAndRng(benchmark::State& s) {
  auto cmd = vireo_cmd(std::string(VIREO_GUEST_DIR) + "/idle.elf");
  cmd.insert(cmd.end(), {"--rng", "--disk", "path=" + scratch_image()});
  rss_bench(s, cmd, 128ull << 20);
}
void BM_Qemu_MemoryOverheadWithDiskAndRng(benchmark::State& s) {
  if (!have_qemu()) return s.SkipWithError("qemu-system-x86_64 not installed");
  auto cmd = qemu_cmd(std::string(VIREO_GUEST_DIR) + "/idle.elf");
  cmd.insert(cmd.end(), {"-global", "virtio-mmio.force-legacy=false", "-device",
                         "virtio-rng-device", "-drive",
                         "file=" + scratch_image() + ",format=raw,if=none,id=d0,aio=io_uring",
                         "-device", "virtio-blk-device,drive=d0"});
  rss_bench(s, cmd, 128ull << 20);
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
BENCHMARK(BM_Vireo_MemoryOverheadWithDiskAndRng)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Qemu_MemoryOverheadWithDiskAndRng)->Iterations(3)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Vireo_MinimalLinuxToPowerOff)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Qemu_MinimalLinuxToPowerOff)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Vireo_DebianToPowerOff2Cpu)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK(BM_Qemu_DebianToPowerOff2Cpu)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
