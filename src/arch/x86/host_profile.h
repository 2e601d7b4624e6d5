// What kind of KVM host this is. On hosts without VT-x/AMD-V whose KVM still works
// (nested KVM that runs guest kernel code in an instruction emulator), some guest
// ring-0 instructions come back as emulation failures: vireo completes those itself and
// steers the guest away from the ones it cannot complete soundly.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vireo::arch::x86 {

struct HostProfile {
  bool hardware_virtualization = true;  // vmx or svm in /proc/cpuinfo
  // True when /dev/kvm works but the CPU has no virtualization extensions: guest kernel
  // mode is emulated by the host.
  bool emulated_kernel_mode() const { return !hardware_virtualization; }
};

// Reads the CPU flags from `cpuinfo_text` (the contents of /proc/cpuinfo).
HostProfile detect_host_profile(std::string_view cpuinfo_text);
// Reads /proc/cpuinfo (cheap: one file read).
HostProfile detect_host_profile();

// Kernel command-line switches for Linux guests on an emulated-kernel-mode host, each
// with its reason. Required ones keep the guest away from instruction classes vireo
// cannot complete soundly; tuning ones skip boot work that costs minutes when every
// guest kernel instruction is interpreted (~1 us each) and buys nothing there
// (`vireo run --no-boot-tuning` leaves them out).
struct CmdlineSwitch {
  enum class Kind { kRequired, kTuning };
  const char* option;
  Kind kind;
  const char* reason;
};
const std::vector<CmdlineSwitch>& emulated_host_switches();

// Appends the switches the user has not already given (by option name) to `cmdline`;
// the tuning ones only when `tuning` is set.
std::string add_emulated_host_switches(const std::string& cmdline, bool tuning = true);

}  // namespace vireo::arch::x86
