// The serial console between vireo's standard streams and the guest's UART: output that
// nobody reads, a reader that goes away, input the guest does not take, and the shared
// file descriptions of the caller's terminal or pipes.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/vm_test.h"

extern char** environ;

namespace vireo::test {
namespace {

using namespace std::chrono_literals;

// vireo with its standard streams set by the test (fd -1: /dev/null).
class Vireo {
 public:
  Vireo(const std::vector<std::string>& args, int in, int out, int err) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int fds[3] = {in, out, err};
    for (int i = 0; i < 3; ++i) {
      if (fds[i] >= 0) {
        posix_spawn_file_actions_adddup2(&fa, fds[i], i);
      } else {
        posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
      }
    }
    std::vector<std::string> argv = {vireo_bin(), "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    if (posix_spawn(&pid_, a[0], &fa, nullptr, a.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Vireo() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  // The exit status (128+signal if killed), or -1 if it has not ended within `limit`.
  int wait(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      std::this_thread::sleep_for(20ms);
    }
    return -1;
  }
  // User + system CPU seconds so far (/proc/PID/stat).
  double cpu_seconds() const {
    std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), {});
    std::istringstream rest(s.substr(s.rfind(')') + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoul(field);
      if (i == 15) stime = std::stoul(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

 private:
  pid_t pid_ = -1;
};

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) == 0) {
      r = p[0];
      w = p[1];
    }
  }
  ~Pipe() {
    close_r();
    close_w();
  }
  void close_r() {
    if (r >= 0) ::close(r);
    r = -1;
  }
  void close_w() {
    if (w >= 0) ::close(w);
    w = -1;
  }
};

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

// Output nobody reads fills the pipe and then the UART's buffer; the guest waits on its
// transmitter, and vireo still answers SIGTERM at once. (It used to block the vCPU in a
// write under the UART's lock, and then hang on the signal.)
TEST(Console, StalledOutputDoesNotHangTheVmm) {
  VIREO_REQUIRE_KVM();
  Pipe out;
  Vireo v({"--kernel", guest("chatter")}, -1, out.w, -1);
  ASSERT_GT(v.pid(), 0);
  out.close_w();
  // Wait until the pipe (64 KiB) is full, then a little more for the UART's buffer to
  // fill behind it.
  const auto give_up = std::chrono::steady_clock::now() + 90s;
  int queued = 0;
  while (::ioctl(out.r, FIONREAD, &queued) == 0 && queued < 65536 - 4096 &&
         std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(100ms);
  ASSERT_GE(queued, 65536 - 4096) << "the guest did not fill the pipe";
  std::this_thread::sleep_for(2s);
  ::kill(v.pid(), SIGTERM);
  const auto t0 = std::chrono::steady_clock::now();
  const int status = v.wait(10s);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 128 + SIGTERM) << "vireo did not end on SIGTERM while its output was stalled";
  // The final flush may wait 2 s for the stalled reader.
  EXPECT_LT(secs, 5.0);
}

// The reader going away (`vireo run ... | head`) is no reason to die of SIGPIPE: the VM
// runs on, its console output discarded, and ends as the guest says.
TEST(Console, ClosedOutputPipeIsNotFatal) {
  VIREO_REQUIRE_KVM();
  Pipe out, err;
  Vireo v({"--kernel", guest("chatter"), "--cmdline", "lines=300"}, -1, out.w, err.w);
  ASSERT_GT(v.pid(), 0);
  out.close_w();
  err.close_w();
  char first[64];
  ASSERT_GT(::read(out.r, first, sizeof first), 0);
  out.close_r();  // like head after its lines
  EXPECT_EQ(v.wait(60s), 1) << "the guest exits with 0 after its lines; stderr: " << read_all(err.r);
}

// Console input that the guest never takes waits in vireo without a busy loop, and stdin's
// shared open file description keeps its flags (O_NONBLOCK there would reach the shell).
TEST(Console, PendingInputNeitherSpinsNorTouchesStdin) {
  VIREO_REQUIRE_KVM();
  Pipe in, out;
  Vireo v({"--kernel", guest("chatter"), "--cmdline", "lines=1 then=halt"}, in.r, out.w, -1);
  ASSERT_GT(v.pid(), 0);
  out.close_w();
  char buf[256];
  std::string seen;
  while (seen.find("chatter: done") == std::string::npos) {
    ssize_t n = ::read(out.r, buf, sizeof buf);
    ASSERT_GT(n, 0) << seen;
    seen.append(buf, static_cast<size_t>(n));
  }
  // More than the UART and vireo's input queue hold.
  const std::string typed(8192, 'k');
  ASSERT_EQ(::write(in.w, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  std::this_thread::sleep_for(500ms);
  const double cpu0 = v.cpu_seconds();
  std::this_thread::sleep_for(3s);
  const double cpu = v.cpu_seconds() - cpu0;
  EXPECT_LT(cpu, 0.5) << "vireo used " << cpu << " s of CPU in 3 s with input pending";
  const int flags = ::fcntl(in.r, F_GETFL);
  EXPECT_FALSE(flags & O_NONBLOCK) << "vireo set O_NONBLOCK on the stdin pipe it shares";
  ::kill(v.pid(), SIGTERM);
  EXPECT_EQ(v.wait(10s), 128 + SIGTERM);
}

}  // namespace
}  // namespace vireo::test
