// What device code pays per guest memory access, and what dirty tracking adds to it.
// In-process, no KVM (scripts/bench.sh runs them on the host, with BM_Unpack*).
// BM_GuestMemoryWrite: write() of 64 B (a used-ring element, a small header) and 4 KiB
// (a page of a disk read), dirty tracking off and on. The destination moves through
// 4 MiB so the marks land on different pages and bitmap words, as a device's do.
// BM_GuestMemoryLoadAcquireU16 / StoreReleaseU16: a virtqueue index read or published.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "memory/guest_memory.h"

namespace {

using vireo::memory::GuestMemory;

constexpr uint64_t kRam = 16ull << 20;
constexpr uint64_t kWindow = 4ull << 20;  // destinations cycle through this much RAM

GuestMemory make_ram(benchmark::State& state, bool tracking) {
  auto mem = GuestMemory::create({{0, kRam}}, "vireo-bench");
  if (!mem.ok()) {
    state.SkipWithError(mem.error().message().c_str());
    return {};
  }
  if (tracking) {
    if (auto r = mem->start_dirty_tracking(); !r.ok()) state.SkipWithError(r.error().message().c_str());
  }
  return std::move(*mem);
}

void BM_GuestMemoryWrite(benchmark::State& state) {
  const auto size = static_cast<uint64_t>(state.range(0));
  const bool tracking = state.range(1) != 0;
  GuestMemory mem = make_ram(state, tracking);
  if (mem.regions().empty()) return;
  std::vector<uint8_t> data(size, 0x5a);
  // Step by a page plus the size, so consecutive writes hit different pages.
  const uint64_t step = size + vireo::memory::kPageSize;
  uint64_t gpa = 0;
  for (auto _ : state) {
    auto r = mem.write(gpa, data);
    benchmark::DoNotOptimize(r);
    gpa += step;
    if (gpa + size > kWindow) gpa = 0;
  }
  state.SetLabel(tracking ? "tracking on" : "tracking off");
  state.SetBytesProcessed(static_cast<int64_t>(size) * state.iterations());
}

void BM_GuestMemoryLoadAcquireU16(benchmark::State& state) {
  GuestMemory mem = make_ram(state, false);
  if (mem.regions().empty()) return;
  for (auto _ : state) {
    auto v = mem.load_acquire<uint16_t>(0x1002);
    benchmark::DoNotOptimize(v);
  }
}

void BM_GuestMemoryStoreReleaseU16(benchmark::State& state) {
  const bool tracking = state.range(0) != 0;
  GuestMemory mem = make_ram(state, tracking);
  if (mem.regions().empty()) return;
  uint16_t idx = 0;
  for (auto _ : state) {
    auto r = mem.store_release<uint16_t>(0x1002, ++idx);
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(tracking ? "tracking on" : "tracking off");
}

}  // namespace

BENCHMARK(BM_GuestMemoryWrite)->ArgNames({"bytes", "tracking"})->ArgsProduct({{64, 4096}, {0, 1}});
BENCHMARK(BM_GuestMemoryLoadAcquireU16);
BENCHMARK(BM_GuestMemoryStoreReleaseU16)->ArgName("tracking")->Arg(0)->Arg(1);
