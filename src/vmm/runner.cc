#include "vmm/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <deque>

#include "util/file.h"
#include "util/symbol_map.h"
#include "vmm/console_escape.h"
#include "vmm/terminal.h"
#include "vmm/vm.h"

namespace vireo::vmm {

namespace {

enum Token : uint64_t { kTokStdin = 1, kTokSignal = 2, kTokStop = 3 };

// Writes all bytes to fd, waiting when it is non-blocking and full.
void write_all(int fd, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EINTR)) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      ::usleep(1000);
    } else {
      return;  // output closed: drop console output, keep the VM running
    }
  }
}

void print_error(const std::string& line) { fmt::print(stderr, "vireo: {}\n", line); }

class ConsoleSession {
 public:
  // Feeds pending keyboard bytes into the VM's UART as room allows.
  void flush_to(devices::Serial& serial) {
    while (!pending_.empty()) {
      size_t room = serial.input_room();
      if (room == 0) return;
      size_t n = std::min(room, pending_.size());
      std::vector<uint8_t> chunk(pending_.begin(), pending_.begin() + static_cast<long>(n));
      serial.enqueue_input(chunk);
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(n));
    }
  }
  bool has_pending() const { return !pending_.empty(); }
  void add(const std::vector<uint8_t>& bytes) { pending_.insert(pending_.end(), bytes.begin(), bytes.end()); }
  ConsoleEscape& escape() { return escape_; }

 private:
  std::deque<uint8_t> pending_;
  ConsoleEscape escape_;
};

// Runs one VM instance; returns its stop event.
Result<StopEvent> run_once(const VmConfig& cfg, Epoll& epoll, int sigfd, bool& stdin_open,
                           ConsoleSession& console) {
  std::optional<SymbolMap> symbols;
  if (cfg.profile_symbols) {
    VIREO_ASSIGN_OR_RETURN(auto m, SymbolMap::load(*cfg.profile_symbols));
    symbols = std::move(m);
  }
  auto vm_r = Vm::create(cfg, [](std::span<const uint8_t> out) { write_all(STDOUT_FILENO, out); });
  if (!vm_r.ok()) return vm_r.error();
  auto vm = std::move(*vm_r);
  VIREO_TRY(epoll.add(vm->stop_fd(), EPOLLIN, kTokStop));
  static bool host_reported = false;
  // Said once, for Linux guests (which get extra switches); test guests stay silent.
  bool added = vm->effective_cmdline() != cfg.cmdline;
  if (!cfg.quiet && !host_reported && vm->host().emulated_kernel_mode() && added) {
    host_reported = true;
    fmt::print(stderr,
               "vireo: this host's CPU has no VT-x/AMD-V: its KVM emulates guest kernel mode, and "
               "vireo completes the instructions it rejects{}{}",
               added ? fmt::format(" (guest command line += \"{}\")",
                                   vm->effective_cmdline().substr(cfg.cmdline.size() + (cfg.cmdline.empty() ? 0 : 1)))
                     : "",
               ::isatty(STDIN_FILENO) ? "\r\n" : "\n");
  }
  auto started = std::chrono::steady_clock::now();
  vm->start();

  epoll_event events[8];
  bool stopping = false;
  while (!stopping) {
    int timeout = console.has_pending() ? 10 : -1;
    auto n = epoll.wait(events, 8, timeout);
    if (!n.ok()) {
      vm->request_stop({StopReason::kError, 0, n.error().message()});
      break;
    }
    if (console.has_pending()) console.flush_to(vm->serial());
    for (int i = 0; i < *n; ++i) {
      switch (events[i].data.u64) {
        case kTokStop:
          stopping = true;
          break;
        case kTokSignal: {
          signalfd_siginfo si;
          while (::read(sigfd, &si, sizeof(si)) == sizeof(si))
            vm->request_stop({StopReason::kSignal, si.ssi_signo});
          break;
        }
        case kTokStdin: {
          if (console.has_pending()) break;  // back-pressure: the UART is full
          uint8_t buf[256];
          ssize_t r = ::read(STDIN_FILENO, buf, sizeof(buf));
          if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            (void)epoll.remove(STDIN_FILENO);  // EOF: the VM keeps running without input
            stdin_open = false;
            break;
          }
          if (r < 0) break;
          std::vector<uint8_t> to_guest;
          auto action = console.escape().feed(std::span<const uint8_t>(buf, static_cast<size_t>(r)), to_guest);
          console.add(to_guest);
          console.flush_to(vm->serial());
          if (action == ConsoleEscape::Action::kQuit)
            vm->request_stop({StopReason::kConsoleQuit});
          else if (action == ConsoleEscape::Action::kHelp)
            fmt::print(stderr, "{}", ConsoleEscape::help_text());
          break;
        }
      }
    }
  }
  (void)epoll.remove(vm->stop_fd());
  StopEvent ev = vm->stop_and_join();
  if (cfg.profile_path && vm->profiler()) {
    // The terminal gets the top 60 lines; a file gets every row (for offline symbolizing).
    const bool to_terminal = *cfg.profile_path == "-";
    std::string report = vm->profiler()->report(symbols ? &*symbols : nullptr,
                                                to_terminal ? 60 : SIZE_MAX);
    if (to_terminal) {
      fmt::print(stderr, "{}", report);
    } else if (auto w = write_file(*cfg.profile_path, report); !w.ok()) {
      fmt::print(stderr, "vireo: {}\n", w.error().message());
    }
  }
  if (cfg.stats) {
    fmt::print(stderr, "{}", vm->assist_stats().report(std::chrono::steady_clock::now() - started));
    if (vm->syscall_repairs())
      fmt::print(stderr, "vireo: SYSCALLs completed for the host: {}\n", vm->syscall_repairs());
  }
  return ev;
}

}  // namespace

int run_with_console(const VmConfig& cfg) {
  auto sigfd = block_signals_to_fd({SIGINT, SIGTERM, SIGHUP, SIGQUIT});
  if (!sigfd.ok()) {
    print_error(sigfd.error().message());
    return exit_code::kVmmError;
  }
  auto epoll = Epoll::create();
  if (!epoll.ok()) {
    print_error(epoll.error().message());
    return exit_code::kVmmError;
  }
  bool stdin_open = true;
  int flags = ::fcntl(STDIN_FILENO, F_GETFL);
  if (flags < 0 || !epoll->add(STDIN_FILENO, EPOLLIN, kTokStdin).ok()) {
    stdin_open = false;  // no stdin, or not pollable (a regular file): no console input
  } else {
    ::fcntl(STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
  }
  (void)epoll->add(sigfd->get(), EPOLLIN, kTokSignal);

  RawTerminal raw(STDIN_FILENO);
  ConsoleSession console;
  int status = 0;
  for (;;) {
    auto stop = run_once(cfg, *epoll, sigfd->get(), stdin_open, console);
    if (!stop.ok()) {
      raw.restore();
      print_error(stop.error().message());
      status = exit_code::kUsageError;
      break;
    }
    if (stop->reason == StopReason::kReset && cfg.on_reboot == OnReboot::kRestart) {
      if (!cfg.quiet) fmt::print(stderr, "\r\nvireo: guest reset: restarting\r\n");
      continue;
    }
    raw.restore();
    status = stop->exit_status();
    if (stop->reason == StopReason::kError)
      print_error(stop->describe());
    else if (!cfg.quiet && stop->reason != StopReason::kPowerOff &&
             stop->reason != StopReason::kDebugExit)
      fmt::print(stderr, "vireo: {}\n", stop->describe());
    break;
  }
  if (stdin_open && flags >= 0) ::fcntl(STDIN_FILENO, F_SETFL, flags);
  return status;
}

}  // namespace vireo::vmm
