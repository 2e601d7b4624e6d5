#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace vireo::test {

Process::Process(const std::vector<std::string>& argv) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  start_ = std::chrono::steady_clock::now();
  int rc = posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
  if (rc != 0) {
    pid_ = -1;
    res_.err = std::string("spawn failed: ") + std::strerror(rc);
  }
  ::signal(SIGPIPE, SIG_IGN);
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  for (int fd : {in_, out_, err_})
    if (fd >= 0) ::close(fd);
}

void Process::write_stdin(const std::string& data) {
  size_t done = 0;
  while (in_ >= 0 && done < data.size()) {
    ssize_t w = ::write(in_, data.data() + done, data.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
}

void Process::close_stdin() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

void Process::send_signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

bool Process::pump(int timeout_ms) {
  if (out_ < 0 && err_ < 0) return false;
  pollfd pf[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
  int n = ::poll(pf, 2, timeout_ms);
  if (n < 0) return errno == EINTR;
  char buf[65536];
  for (int i = 0; i < 2; ++i) {
    if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = ::read(pf[i].fd, buf, sizeof(buf));
    if (r <= 0) {
      ::close(pf[i].fd);
      (i == 0 ? out_ : err_) = -1;
      continue;
    }
    if (i == 0 && res_.first_output_seconds < 0)
      res_.first_output_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    (i == 0 ? res_.out : res_.err).append(buf, static_cast<size_t>(r));
  }
  return true;
}

bool Process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (res_.out.find(needle) != std::string::npos) return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (!pump(std::max(ms, 1))) return res_.out.find(needle) != std::string::npos;
  }
}

ProcessResult Process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return res_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      res_.timed_out = true;
      ::kill(pid_, SIGKILL);
      break;
    }
    int ms = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count());
    if (!pump(std::max(ms, 1))) break;
  }
  close_stdin();
  int status = 0;
  rusage ru{};
  ::wait4(pid_, &status, 0, &ru);
  reaped_ = true;
  res_.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  res_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (WIFEXITED(status))
    res_.exit_status = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    res_.exit_status = 128 + WTERMSIG(status);
  return res_;
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& input,
                          std::chrono::milliseconds timeout) {
  Process p(argv);
  if (!p.started()) return p.wait(timeout);
  p.write_stdin(input);
  p.close_stdin();
  return p.wait(timeout);
}

}  // namespace vireo::test
