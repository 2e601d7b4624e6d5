// Completes instructions the host's KVM could not emulate (KVM_EXIT_INTERNAL_ERROR with
// the emulation suberror), as happens on hosts that run guest kernel mode in an
// instruction emulator: decode, perform or turn into the right exception, resume.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "arch/x86/emulator/cpu_features.h"
#include "kvm/vcpu_fd.h"
#include "memory/guest_memory.h"
#include "util/result.h"

namespace vireo::vmm {

// Counts and time per instruction kind, shared by all vCPUs.
class AssistStats {
 public:
  struct Entry {
    uint64_t count = 0;
    std::chrono::nanoseconds time{0};
  };
  void record(const std::string& insn, std::chrono::nanoseconds t);
  std::map<std::string, Entry> snapshot() const;
  uint64_t total_count() const;
  std::chrono::nanoseconds total_time() const;
  // Multi-line report ("assist: <insn> x<count> <us>"), or empty when nothing happened.
  std::string report(std::chrono::nanoseconds vm_wall_time) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

class InsnAssist {
 public:
  InsnAssist(const memory::GuestMemory& mem, arch::x86::emu::CpuFeatures features)
      : mem_(mem), features_(features) {}

  // Handles the emulation failure in vcpu's kvm_run. Ok: resume the vCPU. Error: the
  // instruction cannot be completed; the message names it (bytes, RIP, mode).
  Result<void> handle(const kvm::VcpuFd& vcpu);

  const AssistStats& stats() const { return stats_; }

 private:
  const memory::GuestMemory& mem_;
  arch::x86::emu::CpuFeatures features_;
  AssistStats stats_;
};

}  // namespace vireo::vmm
