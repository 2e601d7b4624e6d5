#include "vmm/runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "api/api_server.h"
#include "api/vm_api.h"
#include "util/file.h"
#include "util/symbol_map.h"
#include "virtio/balloon.h"
#include "vmm/console_escape.h"
#include "vmm/serial_console.h"
#include "vmm/terminal.h"
#include "vmm/vm.h"

namespace vireo::vmm {

namespace {

enum Token : uint64_t {
  kTokStdin = 1,
  kTokSignal,
  kTokStop,
  kTokConsoleWake,
  kTokStdout,
  kTokApi = 64,  // and the API connections after it (api::ApiServer::attach)
};

// The API's view of the VMM: the configuration (the flags, plus the machine the API
// described before InstanceStart), whether it started, and the VM of the moment (none
// between a reset and the next boot).
class RunnerControl : public api::VmControl {
 public:
  using Build = std::function<Result<std::unique_ptr<Vm>>(const VmConfig&)>;
  RunnerControl(const VmConfig& flags, Build build)
      : active_(flags), build_(std::move(build)), started_(!flags.kernel_path.empty()) {}
  void set_vm(Vm* vm) { vm_ = vm; }
  api::InstanceState state() const override {
    if (!started_) return api::InstanceState::kNotStarted;
    return vm_ && vm_->paused() ? api::InstanceState::kPaused : api::InstanceState::kRunning;
  }
  Result<void> pause() override { return vm_ ? vm_->pause() : Result<void>{}; }
  Result<void> resume() override { return vm_ ? vm_->resume() : Result<void>{}; }
  Result<void> send_ctrl_alt_del() override {
    return vm_ ? vm_->send_ctrl_alt_del() : Result<void>{};
  }
  // Builds the VM the API described (with the flags' other settings); it runs as soon
  // as the main loop takes it (take_built()).
  Result<void> start(const VmConfig& machine) override {
    if (started_) return Error("The requested operation is not supported after starting the microVM.");
    VmConfig c = active_;
    take_machine(c, machine);
    VIREO_TRY(validate(c));
    VIREO_ASSIGN_OR_RETURN(built_, build_(c));
    active_ = std::move(c);
    started_ = true;
    return {};
  }
  const VmConfig& config() const override { return active_; }
  Result<void> update_drive(const std::string& id, const std::optional<std::string>& path,
                            const std::optional<virtio::RateLimit>& limit) override {
    VIREO_TRY(running());
    VIREO_TRY(vm_->update_drive(id, path, limit));
    for (auto& d : active_.disks) {
      if (d.id != id) continue;
      if (path) d.path = *path;
      if (limit) d.limit = *limit;
    }
    return {};
  }
  Result<void> update_net_limits(const std::string& id, const std::optional<virtio::RateLimit>& rx,
                                 const std::optional<virtio::RateLimit>& tx) override {
    VIREO_TRY(running());
    VIREO_TRY(vm_->update_net_limits(id, rx, tx));
    for (auto& n : active_.nets) {
      if (n.id != id) continue;
      if (rx) n.rx_limit = *rx;
      if (tx) n.tx_limit = *tx;
    }
    return {};
  }
  Result<void> set_balloon_target(uint64_t bytes) override {
    VIREO_TRY(running());
    if (!vm_->balloon() || !active_.balloon) return Error("No balloon device found.");
    vm_->balloon()->set_target(bytes);
    active_.balloon->size = bytes;
    return {};
  }
  Result<void> set_balloon_stats_interval(uint32_t seconds) override {
    VIREO_TRY(running());
    VIREO_TRY(vm_->set_balloon_stats_interval(seconds));
    if (active_.balloon) active_.balloon->stats_seconds = seconds;
    return {};
  }
  Result<api::BalloonStatistics> balloon_statistics() const override {
    VIREO_TRY(running());
    const virtio::Balloon* b = vm_->balloon();
    if (!b) return Error("No balloon device found.");
    return api::BalloonStatistics{b->target_pages(), b->actual_pages(), b->stats()};
  }
  bool started() const { return started_; }
  std::unique_ptr<Vm> take_built() { return std::move(built_); }

 private:
  VmConfig active_;
  Build build_;
  bool started_;
  std::unique_ptr<Vm> built_;  // by start(), until the main loop runs it
  Vm* vm_ = nullptr;

  // A VM to change (none between a guest reset and the next boot).
  Result<void> running() const {
    if (!vm_) return Error("the microVM is restarting; try again");
    return {};
  }
};

// How long a VM's last console output may wait for a slow reader after the VM stopped.
constexpr std::chrono::milliseconds kFinalFlush{2000};

void print_error(const std::string& line) { fmt::print(stderr, "vireo: {}\n", line); }

// Runs one VM instance; returns its stop event.
Result<StopEvent> run_once(const VmConfig& cfg, Epoll& epoll, int sigfd,
                           SerialConsole& console, const EventFd& wake, api::ApiServer* api,
                           RunnerControl& control, std::unique_ptr<Vm> built) {
  std::optional<SymbolMap> symbols;
  if (cfg.profile_symbols) {
    VIREO_ASSIGN_OR_RETURN(auto m, SymbolMap::load(*cfg.profile_symbols));
    symbols = std::move(m);
  }
  std::unique_ptr<Vm> vm = std::move(built);
  if (!vm) {
    auto vm_r = Vm::create(cfg, [&wake] { wake.signal(); });
    if (!vm_r.ok()) return vm_r.error();
    vm = std::move(*vm_r);
  }
  console.attach(&vm->console_port());
  control.set_vm(vm.get());
  struct Detach {  // before the VM goes, on every path
    SerialConsole& console;
    RunnerControl& control;
    ~Detach() {
      console.attach(nullptr);
      control.set_vm(nullptr);
    }
  } detach{console, control};
  VIREO_TRY(epoll.add(vm->stop_fd(), EPOLLIN, kTokStop));
  static bool host_reported = false;
  // Said once, for Linux guests (which get extra switches); test guests stay silent.
  const std::string& added = vm->host_switches();
  if (!cfg.quiet && !host_reported && !added.empty()) {
    host_reported = true;
    fmt::print(stderr,
               "vireo: this host's CPU has no VT-x/AMD-V: its KVM emulates guest kernel mode, and "
               "vireo completes the instructions it rejects (guest command line += \"{}\"){}",
               added, ::isatty(STDIN_FILENO) ? "\r\n" : "\n");
  }
  auto started = std::chrono::steady_clock::now();
  vm->start();

  epoll_event events[8];
  bool stopping = false;
  // A signal that lands while the guest is resetting loses the race for the stop event;
  // it is kept so that --on-reboot restart does not swallow the user's stop.
  std::optional<StopEvent> signalled;
  while (!stopping) {
    auto n = epoll.wait(events, 8, -1);
    if (!n.ok()) {
      vm->request_stop({StopReason::kError, 0, n.error().message()});
      break;
    }
    for (int i = 0; i < *n; ++i) {
      switch (events[i].data.u64) {
        case kTokStop:
          stopping = true;
          break;
        case kTokSignal: {
          signalfd_siginfo si;
          while (::read(sigfd, &si, sizeof(si)) == sizeof(si)) {
            signalled = StopEvent{StopReason::kSignal, si.ssi_signo};
            vm->request_stop(*signalled);
          }
          break;
        }
        case kTokConsoleWake:
          wake.drain();
          console.on_wake();
          break;
        case kTokStdout:
          console.on_output_ready();
          break;
        case kTokStdin: {
          auto action = console.on_input();
          if (action == ConsoleEscape::Action::kQuit)
            vm->request_stop({StopReason::kConsoleQuit});
          else if (action == ConsoleEscape::Action::kHelp)
            fmt::print(stderr, "{}", ConsoleEscape::help_text());
          break;
        }
        default:
          if (api && api->owns(events[i].data.u64)) api->on_event(events[i].data.u64, events[i].events);
          break;
      }
    }
  }
  (void)epoll.remove(vm->stop_fd());
  StopEvent ev = vm->stop_and_join();
  if (signalled && ev.reason == StopReason::kReset) ev = *signalled;
  console.final_flush(kFinalFlush);
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

// Serves the API (and signals, and the console's Ctrl-A x) until InstanceStart built the
// VM; returns the exit status instead if vireo is to end first.
std::optional<int> wait_for_start(Epoll& epoll, int sigfd, SerialConsole& console,
                                  api::ApiServer& api, RunnerControl& control) {
  epoll_event events[8];
  while (!control.started()) {
    auto n = epoll.wait(events, 8, -1);
    if (!n.ok()) {
      print_error(n.error().message());
      return exit_code::kVmmError;
    }
    for (int i = 0; i < *n; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kTokSignal) {
        signalfd_siginfo si;
        if (::read(sigfd, &si, sizeof(si)) == sizeof(si)) {
          const StopEvent ev{StopReason::kSignal, si.ssi_signo};
          fmt::print(stderr, "vireo: {}\n", ev.describe());
          return ev.exit_status();
        }
      } else if (token == kTokStdin) {
        if (console.on_input() == ConsoleEscape::Action::kQuit) return 0;
      } else if (api.owns(token)) {
        api.on_event(token, events[i].events);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

int run_with_console(const VmConfig& flags) {
  // A closed console pipe is an EPIPE to handle, not a signal that kills the VMM (and
  // leaves the terminal raw).
  ::signal(SIGPIPE, SIG_IGN);
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
  auto wake = EventFd::create();
  if (!wake.ok()) {
    print_error(wake.error().message());
    return exit_code::kVmmError;
  }
  (void)epoll->add(sigfd->get(), EPOLLIN, kTokSignal);
  (void)epoll->add(wake->fd(), EPOLLIN, kTokConsoleWake);
  SerialConsole console(*epoll, ConsoleStream(STDIN_FILENO, ConsoleStream::Direction::kIn),
                        ConsoleStream(STDOUT_FILENO, ConsoleStream::Direction::kOut), kTokStdin,
                        kTokStdout);

  const EventFd& wake_fd = *wake;
  RunnerControl control(flags, [&wake_fd](const VmConfig& c) {
    return Vm::create(c, [&wake_fd] { wake_fd.signal(); });
  });
  std::unique_ptr<api::ApiServer> api;
  std::optional<api::VmApi> routes;
  if (flags.api_sock) {
    routes.emplace(control);
    auto server = api::ApiServer::listen(*flags.api_sock, [&routes](const api::HttpRequest& r) {
      return routes->handle(r);
    });
    if (!server.ok()) {
      print_error(server.error().message());
      return exit_code::kUsageError;
    }
    api = std::move(*server);
    if (auto a = api->attach(*epoll, kTokApi); !a.ok()) {
      print_error(a.error().message());
      return exit_code::kVmmError;
    }
  }

  RawTerminal raw(STDIN_FILENO);
  if (!control.started()) {  // --api-sock alone: the API describes the VM, then starts it
    if (auto waited = wait_for_start(*epoll, sigfd->get(), console, *api, control); waited) {
      raw.restore();
      return *waited;
    }
  }
  const VmConfig& cfg = control.config();
  int status = 0;
  for (;;) {
    auto stop = run_once(cfg, *epoll, sigfd->get(), console, *wake, api.get(), control,
                         control.take_built());
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
  return status;
}

}  // namespace vireo::vmm
