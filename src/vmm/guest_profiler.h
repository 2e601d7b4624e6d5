// GuestProfiler: a sampling profiler of the guest. A sampler thread interrupts every vCPU
// at a fixed rate (the vCPU leaves KVM_RUN as for any kick); each vCPU then records its
// instruction pointer and privilege level before it re-enters. At exit, write() prints
// a histogram by symbol (with a System.map) or by address: where guest time goes, e.g.
// which kernel functions dominate a slow boot on hosts that emulate guest kernel mode.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "util/result.h"
#include "util/symbol_map.h"

namespace vireo::vmm {

class GuestProfiler {
 public:
  void record(uint64_t rip, bool user);
  uint64_t samples() const;

  // Histogram, most frequent first: one line per symbol ("[user]" for CPL 3 samples)
  // with its sample count and share; addresses without a symbol map are grouped by
  // 256-byte block.
  std::string report(const SymbolMap* symbols, size_t max_lines = 60) const;

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, uint64_t> kernel_;  // rip -> samples
  uint64_t user_ = 0;
};

// Calls `tick` every `period` on its own thread until destroyed.
class PeriodicThread {
 public:
  PeriodicThread(std::chrono::microseconds period, std::function<void()> tick);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace vireo::vmm
