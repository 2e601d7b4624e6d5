// What kind of KVM host a VM test runs on (see ../shared/host-kvm.md): hardware
// virtualization, a KVM that emulates guest kernel mode, or the KVM sandbox, whose CPU
// is QEMU's TCG.
#pragma once

#include <chrono>
#include <string>

#include "support/process.h"

namespace vireo::test {

// /proc/cpuinfo has a line matching the extended regular expression `re`.
inline bool cpuinfo_matches(const std::string& re) {
  return run_process({"/bin/grep", "-qE", re, "/proc/cpuinfo"}, "", std::chrono::seconds(10))
             .exit_status == 0;
}

// /dev/kvm works but the CPU has neither vmx nor svm: guest kernel mode is emulated.
inline bool emulated_kernel_mode_host() { return !cpuinfo_matches(R"(^flags.*\b(vmx|svm)\b)"); }

// The CPU is QEMU's TCG (inside scripts/kvm-sandbox.sh): SVM is real KVM, but a few
// instruction details differ from silicon (LDMXCSR with a reserved bit raises no #GP).
inline bool tcg_cpu() { return cpuinfo_matches(R"(^model name.*QEMU TCG)"); }

}  // namespace vireo::test
