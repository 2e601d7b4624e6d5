// A vmm::Vm in this process running the `chatter` test guest (numbered lines on COM1
// without end), its console drained into a string by a thread of ours; and the check
// that the lines count up by one. Used by the pause and snapshot tests.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>

#include "vmm/vm.h"

namespace vireo::test {

inline vmm::VmConfig chatter_config(uint32_t cpus, uint64_t memory = 64 << 20) {
  vmm::VmConfig cfg;
  cfg.kernel_path = std::string(VIREO_GUEST_DIR) + "/chatter.elf";
  cfg.cmdline = "";
  cfg.cpus = cpus;
  cfg.memory = memory;
  cfg.quiet = true;
  return cfg;
}

class ChatterVm {
 public:
  explicit ChatterVm(uint32_t cpus) : ChatterVm(chatter_config(cpus)) {}
  explicit ChatterVm(const vmm::VmConfig& cfg) {
    auto vm = vmm::Vm::create(cfg, [] {});
    if (!vm.ok()) {
      error_ = vm.error().message();
      return;
    }
    vm_ = std::move(*vm);
    drain_ = std::thread([this] {
      uint8_t buf[4096];
      while (!done_) {
        const size_t n = vm_->console_port().take_output(buf);
        if (n) {
          std::lock_guard lock(mu_);
          out_.append(reinterpret_cast<const char*>(buf), n);
        } else {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
    });
  }
  ~ChatterVm() {
    if (vm_) vm_->stop_and_join();
    done_ = true;
    if (drain_.joinable()) drain_.join();
  }
  const std::string& error() const { return error_; }
  vmm::Vm& vm() { return *vm_; }
  std::string out() const {
    std::lock_guard lock(mu_);
    return out_;
  }
  // Waits until the output has `more` bytes beyond `from`.
  bool wait_for_more(size_t from, size_t more, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (out().size() >= from + more) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

 private:
  std::string error_;
  std::unique_ptr<vmm::Vm> vm_;
  mutable std::mutex mu_;
  std::string out_;
  std::atomic<bool> done_{false};
  std::thread drain_;
};

// The numbers of the complete "chatter N" lines, which must count up by one from
// `first`.
inline testing::AssertionResult lines_count_up(const std::string& out, uint64_t first = 1) {
  std::regex line(R"(chatter (\d+) \.+\r?\n)");
  uint64_t want = first;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
    const uint64_t n = std::stoull((*it)[1].str());
    if (n != want) return testing::AssertionFailure() << "line " << n << " where " << want << " was due";
    ++want;
  }
  if (want < first + 1) return testing::AssertionFailure() << "no lines: " << out.substr(0, 200);
  return testing::AssertionSuccess() << (want - first) << " lines";
}

}  // namespace vireo::test
