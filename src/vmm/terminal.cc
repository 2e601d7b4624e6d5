#include "vmm/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace vireo::vmm {

namespace {

// One saved state process-wide: only one console per process.
std::atomic<bool> g_saved{false};
int g_fd = -1;
termios g_termios;

void fatal_signal_handler(int sig) {
  restore_terminal_now();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_emergency_restore() {
  static bool installed = false;
  if (installed) return;
  installed = true;
  std::atexit(restore_terminal_now);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
    struct sigaction sa {};
    sa.sa_handler = fatal_signal_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace

void restore_terminal_now() {
  if (g_saved.exchange(false)) ::tcsetattr(g_fd, TCSAFLUSH, &g_termios);
}

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  if (!::isatty(fd) || ::tcgetattr(fd, &saved_) != 0) return;
  termios raw = saved_;
  // Raw input (no echo, no line editing, no signal keys: Ctrl-C goes to the guest),
  // raw output (the guest sends its own CR/LF).
  raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  raw.c_oflag &= ~OPOST;
  raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  raw.c_cflag &= ~(CSIZE | PARENB);
  raw.c_cflag |= CS8;
  raw.c_cc[VMIN] = 1;
  raw.c_cc[VTIME] = 0;
  g_fd = fd;
  g_termios = saved_;
  g_saved = true;
  install_emergency_restore();
  if (::tcsetattr(fd, TCSAFLUSH, &raw) != 0) {
    g_saved = false;
    return;
  }
  active_ = true;
}

RawTerminal::~RawTerminal() { restore(); }

void RawTerminal::restore() {
  if (!active_) return;
  active_ = false;
  restore_terminal_now();
}

}  // namespace vireo::vmm
