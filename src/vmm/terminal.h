// Puts a terminal in raw mode for the serial console and always restores it: on
// destruction, at exit, and from fatal-signal handlers.
#pragma once

#include <termios.h>

namespace vireo::vmm {

class RawTerminal {
 public:
  // Does nothing if `fd` is not a terminal.
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  bool active() const { return active_; }
  void restore();

 private:
  int fd_;
  bool active_ = false;
  termios saved_{};
};

// Restores any terminal put in raw mode (async-signal-safe).
void restore_terminal_now();

}  // namespace vireo::vmm
