// How a VM ended, and the process exit status vireo returns for it.
#pragma once

#include <cstdint>
#include <string>

namespace vireo::vmm {

// Exit statuses (also in README.md). Odd values belong to the debug-exit device.
namespace exit_code {
inline constexpr int kPowerOff = 0;        // guest powered off (ACPI S5)
inline constexpr int kUsageError = 2;      // bad flag, bad file, no /dev/kvm, ... (before boot)
inline constexpr int kVmmError = 4;        // KVM failure, unhandled exit or instruction
inline constexpr int kGuestReset = 6;      // guest rebooted and --on-reboot=exit
inline constexpr int kGuestCrash = 8;      // triple fault / guest-reported crash
inline constexpr int kConsoleQuit = 10;    // Ctrl-A x on the console
inline constexpr int kSignalBase = 128;    // 128 + signal number (SIGTERM -> 143)
inline int debug_exit(uint32_t v) { return static_cast<int>((v << 1) | 1); }
}  // namespace exit_code

enum class StopReason {
  kNone,
  kPowerOff,
  kReset,
  kTripleFault,
  kGuestCrash,
  kDebugExit,
  kSignal,
  kConsoleQuit,
  kError,
};

struct StopEvent {
  StopReason reason = StopReason::kNone;
  uint32_t value = 0;   // debug-exit value, or signal number
  std::string detail;   // for errors: one line saying what happened

  int exit_status() const;
  std::string describe() const;
};

}  // namespace vireo::vmm
