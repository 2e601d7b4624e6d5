// A bzImage's payload decompressed on the host versus by the kernel's own decompressor in
// the guest (where guest kernel mode is emulated, that decompressor is the slowest part of
// a boot).
//   build/bin/vireo_unpack_bench        uses $VIREO_LINUX_DIR/bzImage (our minimal kernel)
//                                       and $VIREO_DEBIAN_DIR/vmlinuz (Debian's, as shipped)
//                                       (scripts/test.sh prints both directories)
// BM_Unpack*: in-process decompression of the payload to the vmlinux ELF (what a cache
// miss costs). BM_Banner*: exec of vireo to the kernel's "Linux version" line on the
// console, with --bzimage-unpack host (cache warm) and guest.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "arch/x86/kernel_unpack.h"
#include "support/process.h"
#include "util/file.h"

namespace {

std::string fixture(const char* env, const char* file) {
  const char* d = std::getenv(env);
  if (!d || !*d) return "";
  std::string p = std::string(d) + "/" + file;
  return ::access(p.c_str(), R_OK) == 0 ? p : "";
}

void unpack_bench(benchmark::State& state, const std::string& path) {
  if (path.empty()) return state.SkipWithError("fixture not set (VIREO_LINUX_DIR / VIREO_DEBIAN_DIR)");
  auto image = vireo::read_file(path, "kernel");
  if (!image.ok()) return state.SkipWithError(image.error().message().c_str());
  size_t out = 0;
  for (auto _ : state) {
    auto elf = vireo::arch::x86::unpack_bzimage(*image);
    if (!elf.ok()) return state.SkipWithError(elf.error().message().c_str());
    out = elf->size();
    benchmark::DoNotOptimize(elf->data());
  }
  auto payload = vireo::arch::x86::find_bzimage_payload(*image);
  state.SetLabel(std::string(vireo::arch::x86::compression_name(payload->compression)));
  state.counters["vmlinux_MB"] = static_cast<double>(out) / 1e6;
  state.SetBytesProcessed(static_cast<int64_t>(out) * state.iterations());
}

void BM_UnpackMinimal(benchmark::State& s) { unpack_bench(s, fixture("VIREO_LINUX_DIR", "bzImage")); }
void BM_UnpackDebian(benchmark::State& s) { unpack_bench(s, fixture("VIREO_DEBIAN_DIR", "vmlinuz")); }

void banner_bench(benchmark::State& state, const std::string& where) {
  const std::string path = fixture("VIREO_LINUX_DIR", "bzImage");
  if (path.empty()) return state.SkipWithError("VIREO_LINUX_DIR not set");
  const std::vector<std::string> cmd = {VIREO_BIN, "run", "--kernel", path, "--memory", "128M",
                                        "--quiet", "--bzimage-unpack", where};
  if (where == "host") {  // warm the unpacked-kernel cache outside the timing
    vireo::test::Process warm(cmd);
    warm.wait_for_output("Linux version", std::chrono::seconds(120));
  }
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    vireo::test::Process p(cmd);
    if (!p.wait_for_output("Linux version", std::chrono::seconds(1800)))
      return state.SkipWithError("no kernel banner");
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }  // ~Process stops the VM
}

void BM_BannerHostUnpack(benchmark::State& s) { banner_bench(s, "host"); }
void BM_BannerGuestDecompressor(benchmark::State& s) { banner_bench(s, "guest"); }

}  // namespace

BENCHMARK(BM_UnpackMinimal)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_UnpackDebian)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BannerHostUnpack)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BannerGuestDecompressor)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
