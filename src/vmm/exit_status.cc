#include "vmm/exit_status.h"

#include <fmt/format.h>

#include <cstring>

namespace vireo::vmm {

int StopEvent::exit_status() const {
  switch (reason) {
    case StopReason::kNone:
    case StopReason::kPowerOff: return exit_code::kPowerOff;
    case StopReason::kReset: return exit_code::kGuestReset;
    case StopReason::kTripleFault:
    case StopReason::kGuestCrash: return exit_code::kGuestCrash;
    case StopReason::kDebugExit: return exit_code::debug_exit(value);
    case StopReason::kSignal: return exit_code::kSignalBase + static_cast<int>(value);
    case StopReason::kConsoleQuit: return exit_code::kConsoleQuit;
    case StopReason::kError: return exit_code::kVmmError;
  }
  return exit_code::kVmmError;
}

std::string StopEvent::describe() const {
  switch (reason) {
    case StopReason::kNone: return "running";
    case StopReason::kPowerOff: return "guest powered off";
    case StopReason::kReset: return "guest reset";
    case StopReason::kTripleFault: return "guest triple fault (shutdown)";
    case StopReason::kGuestCrash: return "guest reported a crash";
    case StopReason::kDebugExit: return fmt::format("guest wrote {:#x} to the debug-exit port", value);
    case StopReason::kSignal: return fmt::format("stopped by signal {} ({})", value, strsignal(static_cast<int>(value)));
    case StopReason::kConsoleQuit: return "stopped from the console (Ctrl-A x)";
    case StopReason::kError: return detail;
  }
  return detail;
}

}  // namespace vireo::vmm
