#include "log/log.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <strings.h>

#include "util/line_sink.h"

namespace vireo::log {

namespace {

// What reaches stderr whatever the target.
constexpr Level kStderrLevel = Level::kWarning;

struct State {
  std::mutex mu;
  std::optional<LineSink> sink;
  Options options;
  uint64_t written = 0, missed = 0;  // of sinks since replaced, plus the current one's
};

State& state() {
  static State s;
  return s;
}

// The target's level (kOff while there is none): read without the lock.
std::atomic<int> g_target_level{static_cast<int>(Level::kOff)};

// "src/vmm/vcpu.cc" out of the path the compiler gave.
std::string_view origin_of(const char* file) {
  std::string_view f(file);
  if (auto at = f.rfind("/src/"); at != std::string_view::npos) return f.substr(at + 1);
  if (f.starts_with("src/")) return f;
  if (auto slash = f.rfind('/'); slash != std::string_view::npos) return f.substr(slash + 1);
  return f;
}

bool in_module(std::string_view origin, const std::string& module) {
  if (module.empty()) return true;
  if (origin.starts_with(module)) return true;
  return origin.starts_with("src/") && origin.substr(4).starts_with(module);
}

std::string timestamp() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  std::tm tm{};
  ::gmtime_r(&ts.tv_sec, &tm);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:09}", date, ts.tv_nsec);
}

}  // namespace

Result<Level> parse_level(std::string_view name) {
  static constexpr std::pair<const char*, Level> kNames[] = {
      {"off", Level::kOff},     {"error", Level::kError}, {"warning", Level::kWarning},
      {"warn", Level::kWarning}, {"info", Level::kInfo},  {"debug", Level::kDebug},
      {"trace", Level::kTrace}};
  for (const auto& [n, l] : kNames)
    if (name.size() == std::char_traits<char>::length(n) &&
        ::strncasecmp(name.data(), n, name.size()) == 0)
      return l;
  return Error(fmt::format("unknown log level '{}' (one of Off, Error, Warning, Info, Debug, Trace)",
                           name));
}

const char* level_name(Level level) {
  switch (level) {
    case Level::kOff: return "OFF";
    case Level::kError: return "ERROR";
    case Level::kWarning: return "WARN";
    case Level::kInfo: return "INFO";
    case Level::kDebug: return "DEBUG";
    case Level::kTrace: return "TRACE";
  }
  return "?";
}

Result<void> open(const std::string& path, const Options& options) {
  VIREO_ASSIGN_OR_RETURN(auto sink, LineSink::open(path, "log"));
  State& s = state();
  std::lock_guard lock(s.mu);
  if (s.sink) {
    s.written += s.sink->written();
    s.missed += s.sink->missed();
  }
  s.sink.emplace(std::move(sink));
  s.options = options;
  g_target_level.store(static_cast<int>(options.level));
  return {};
}

void close() {
  State& s = state();
  std::lock_guard lock(s.mu);
  g_target_level.store(static_cast<int>(Level::kOff));
  if (s.sink) {
    s.written += s.sink->written();
    s.missed += s.sink->missed();
  }
  s.sink.reset();
}

bool has_target() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.sink.has_value();
}

bool enabled(Level level) {
  if (level == Level::kOff) return false;
  return level <= kStderrLevel || static_cast<int>(level) <= g_target_level.load(std::memory_order_relaxed);
}

std::string thread_name() {
  char name[16] = {};
  if (::pthread_getname_np(::pthread_self(), name, sizeof(name)) != 0 || !name[0]) return "?";
  // The main thread carries the program's name.
  if (::gettid() == ::getpid()) return "main";
  return name;
}

void write(Level level, const char* file, int line, std::string_view message) {
  if (level == Level::kOff) return;
  if (level <= kStderrLevel) {
    // A raw terminal (the console) needs the carriage return.
    const bool raw = ::isatty(STDERR_FILENO) && ::isatty(STDIN_FILENO);
    std::string text = fmt::format("vireo: {}{}", message, raw ? "\r\n" : "\n");
    (void)!::write(STDERR_FILENO, text.data(), text.size());
  }
  if (static_cast<int>(level) > g_target_level.load(std::memory_order_relaxed)) return;
  const std::string_view origin = origin_of(file);
  State& s = state();
  std::lock_guard lock(s.mu);
  if (!s.sink || !in_module(origin, s.options.module)) return;
  std::string text = fmt::format("{} [anonymous-instance:{}", timestamp(), thread_name());
  if (s.options.show_level) text += fmt::format(":{}", level_name(level));
  if (s.options.show_origin) text += fmt::format(":{}:{}", origin, line);
  text += fmt::format("] {}\n", message);
  s.sink->write(text);
}

uint64_t written_lines() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.written + (s.sink ? s.sink->written() : 0);
}

uint64_t missed_lines() {
  State& s = state();
  std::lock_guard lock(s.mu);
  return s.missed + (s.sink ? s.sink->missed() : 0);
}

}  // namespace vireo::log
