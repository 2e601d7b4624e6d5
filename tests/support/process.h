// Runs a program with pipes for stdin/stdout/stderr and deadlines (for tests/benches).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace vireo::test {

struct ProcessResult {
  int exit_status = -1;   // exit code, or 128+signal if killed by a signal
  bool timed_out = false;
  std::string out;
  std::string err;
  double seconds = 0;
  double first_output_seconds = -1;  // time to the first stdout byte
  double cpu_seconds = 0;            // user + system CPU time of the child
};

class Process {
 public:
  explicit Process(const std::vector<std::string>& argv);
  ~Process();  // kills the child if still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  bool started() const { return pid_ > 0; }
  void write_stdin(const std::string& data);
  void close_stdin();
  // Reads output until stdout contains `needle` (true) or the timeout/EOF (false).
  bool wait_for_output(const std::string& needle, std::chrono::milliseconds timeout);
  void send_signal(int sig);
  // Reads the rest of the output and reaps the child; SIGKILL after `timeout`.
  ProcessResult wait(std::chrono::milliseconds timeout);
  const std::string& out() const { return res_.out; }
  pid_t pid() const { return pid_; }

 private:
  // One poll round; returns false when both pipes are closed.
  bool pump(int timeout_ms);

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::chrono::steady_clock::time_point start_;
  ProcessResult res_;
  bool reaped_ = false;
};

// Runs argv to completion: writes `input` to stdin, then closes it.
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input = "",
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace vireo::test
