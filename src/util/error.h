// Error values that say what failed and why.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

namespace vireo {

// An error carries a human-readable message naming the operation and its subject
// (the ioctl, the file, the guest address) and, when it came from the OS, the errno.
class Error {
 public:
  Error() = default;
  explicit Error(std::string message, int os_errno = 0)
      : message_(std::move(message)), errno_(os_errno) {}

  // Builds an error from the current errno: "<what>: <strerror(errno)>".
  static Error from_errno(const std::string& what);
  static Error from_errno(const std::string& what, int err);

  const std::string& message() const { return message_; }
  int os_errno() const { return errno_; }

  // Prefixes context: Error("open x").context("loading kernel") -> "loading kernel: open x".
  Error context(const std::string& outer) const;

 private:
  std::string message_;
  int errno_ = 0;
};

}  // namespace vireo
