// The console escape sequence: Ctrl-A then a command key, as in QEMU and screen.
//   Ctrl-A x       end the VM
//   Ctrl-A Ctrl-A  send a literal Ctrl-A to the guest
//   Ctrl-A h       show help
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vireo::vmm {

class ConsoleEscape {
 public:
  static constexpr uint8_t kEscapeKey = 0x01;  // Ctrl-A

  enum class Action { kNone, kQuit, kHelp };

  // Filters keyboard input: bytes for the guest are appended to `to_guest`; the first
  // command seen is returned (bytes after a quit are dropped).
  Action feed(std::span<const uint8_t> in, std::vector<uint8_t>& to_guest);

  static const char* help_text();

 private:
  bool pending_ = false;
};

}  // namespace vireo::vmm
