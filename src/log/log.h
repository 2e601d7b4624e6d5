// The VMM's log: one process-wide logger with levels and a target, as Firecracker's.
//
// Warnings and errors always go to stderr as "vireo: message" (the convention for a
// process run from a terminal or a supervisor). A log file or FIFO (--log-path, the
// API's PUT /logger, the config file's "logger") gets every message at its level and
// above, one line each, in Firecracker's shape:
//
//   2026-12-03T19:30:00.123456789 [anonymous-instance:vcpu0:WARN:src/vmm/vcpu.cc:42] text
//
// where the level and the origin are shown on request. A FIFO nobody reads does not
// block the VMM: a line that does not fit is dropped and counted (missed_lines()).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"

namespace vireo::log {

enum class Level { kOff, kError, kWarning, kInfo, kDebug, kTrace };

// Firecracker's names, any case: "Off", "Error", "Warning" (or "Warn"), "Info", "Debug",
// "Trace".
Result<Level> parse_level(std::string_view name);
const char* level_name(Level level);  // "ERROR", "WARN", ...

struct Options {
  Level level = Level::kInfo;
  bool show_level = false;
  bool show_origin = false;  // the source file and line
  std::string module;        // only messages from files under this path ("" = all)
  bool operator==(const Options&) const = default;
};

// Sends the log to `path` (a regular file, appended to and created if missing, or a
// FIFO). Replaces an earlier target.
Result<void> open(const std::string& path, const Options& options);
// Back to stderr only.
void close();
bool has_target();

// Whether a message at `level` goes anywhere (cheap: one atomic load).
bool enabled(Level level);
// One message; `file` is __FILE__.
void write(Level level, const char* file, int line, std::string_view message);

// Lines written to the target, and those a FIFO had no room for.
uint64_t written_lines();
uint64_t missed_lines();

// The thread's name in the log ("main", "vcpu0", ...): the kernel's name for it.
std::string thread_name();

}  // namespace vireo::log

#define VIREO_LOG(level, ...)                                                   \
  do {                                                                          \
    if (::vireo::log::enabled(level))                                           \
      ::vireo::log::write(level, __FILE__, __LINE__, ::fmt::format(__VA_ARGS__)); \
  } while (0)
#define LOG_ERROR(...) VIREO_LOG(::vireo::log::Level::kError, __VA_ARGS__)
#define LOG_WARN(...) VIREO_LOG(::vireo::log::Level::kWarning, __VA_ARGS__)
#define LOG_INFO(...) VIREO_LOG(::vireo::log::Level::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) VIREO_LOG(::vireo::log::Level::kDebug, __VA_ARGS__)
