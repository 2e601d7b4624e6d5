#include "vmm/console_escape.h"

namespace vireo::vmm {

ConsoleEscape::Action ConsoleEscape::feed(std::span<const uint8_t> in,
                                          std::vector<uint8_t>& to_guest) {
  Action action = Action::kNone;
  for (uint8_t c : in) {
    if (!pending_) {
      if (c == kEscapeKey)
        pending_ = true;
      else
        to_guest.push_back(c);
      continue;
    }
    pending_ = false;
    switch (c) {
      case 'x':
      case 'X':
        return Action::kQuit;
      case 'h':
      case 'H':
      case '?':
        action = Action::kHelp;
        break;
      case kEscapeKey:
        to_guest.push_back(kEscapeKey);
        break;
      default:
        // Not a command: pass both keys through.
        to_guest.push_back(kEscapeKey);
        to_guest.push_back(c);
        break;
    }
  }
  return action;
}

const char* ConsoleEscape::help_text() {
  return "\r\nvireo console: Ctrl-A x  quit | Ctrl-A Ctrl-A  send Ctrl-A | Ctrl-A h  help\r\n";
}

}  // namespace vireo::vmm
