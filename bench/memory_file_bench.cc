// A snapshot's guest memory file (memory/memory_file.h), in-process, no KVM:
// BM_MapMemoryFile: mapping a memory file back for a restore, for 256 MiB, 1 GiB and
//   4 GiB guests: private and copy-on-write, so it must not grow with the size.
// BM_WriteMemoryFile: writing one, with 1/16 of the pages in use (the rest are holes):
//   what a snapshot of a mostly idle guest costs, per GiB of guest memory.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "memory/memory_file.h"
#include "util/unique_fd.h"

namespace {

using vireo::memory::GuestMemory;

std::string bench_file() { return "/var/tmp/vireo-memfile-bench-" + std::to_string(::getpid()); }

// A file of `bytes` with one page of data in every 16.
bool make_file(uint64_t bytes, const std::string& path) {
  auto mem = GuestMemory::create({{0, bytes}}, "vireo-bench");
  if (!mem.ok()) return false;
  for (uint64_t off = 0; off < bytes; off += 16 * 4096)
    if (!mem->write_obj<uint64_t>(off, off | 1).ok()) return false;
  return vireo::memory::write_memory_file(*mem, path).ok();
}

void BM_MapMemoryFile(benchmark::State& state) {
  const uint64_t bytes = static_cast<uint64_t>(state.range(0)) << 20;
  const std::string path = bench_file();
  if (!make_file(bytes, path)) {
    state.SkipWithError("cannot write the memory file");
    return;
  }
  vireo::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  for (auto _ : state) {
    auto mem = GuestMemory::map_file({{0, bytes}}, fd.get());
    if (!mem.ok()) state.SkipWithError(mem.error().message().c_str());
    benchmark::DoNotOptimize(mem);
  }
  ::unlink(path.c_str());
}

void BM_WriteMemoryFile(benchmark::State& state) {
  const uint64_t bytes = static_cast<uint64_t>(state.range(0)) << 20;
  auto mem = GuestMemory::create({{0, bytes}}, "vireo-bench");
  if (!mem.ok()) {
    state.SkipWithError(mem.error().message().c_str());
    return;
  }
  for (uint64_t off = 0; off < bytes; off += 16 * 4096) (void)mem->write_obj<uint64_t>(off, off | 1);
  const std::string path = bench_file();
  for (auto _ : state) {
    auto r = vireo::memory::write_memory_file(*mem, path);
    if (!r.ok()) state.SkipWithError(r.error().message().c_str());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  ::unlink(path.c_str());
}

}  // namespace

BENCHMARK(BM_MapMemoryFile)->ArgName("MiB")->Arg(256)->Arg(1024)->Arg(4096)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WriteMemoryFile)->ArgName("MiB")->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond)->Iterations(2);
