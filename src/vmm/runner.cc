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
#include "log/log.h"
#include "util/symbol_map.h"
#include "vmm/metrics_reporter.h"
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
  kTokMetrics,
  kTokApi = 64,  // and the API connections after it (api::ApiServer::attach)
};

// The API's view of the VMM: the configuration (the flags, plus the machine the API
// described before InstanceStart), whether it started, and the VM of the moment (none
// between a reset and the next boot).
class RunnerControl : public api::VmControl {
 public:
  using Build = std::function<Result<std::unique_ptr<Vm>>(const VmConfig&)>;
  RunnerControl(const VmConfig& flags, Build build, MetricsReporter& metrics)
      : active_(flags), build_(std::move(build)), started_(!flags.kernel_path.empty()),
        metrics_(metrics) {}
  void set_vm(Vm* vm) { vm_ = vm; }
  void set_api(const api::VmApi* api) { api_ = api; }
  api::InstanceState state() const override {
    if (!started_) return api::InstanceState::kNotStarted;
    return vm_ && vm_->paused() ? api::InstanceState::kPaused : api::InstanceState::kRunning;
  }
  Result<void> pause() override {
    if (!vm_) return {};
    VIREO_TRY(vm_->pause());
    LOG_INFO("VM paused");
    return {};
  }
  Result<void> resume() override {
    if (!vm_) return {};
    VIREO_TRY(vm_->resume());
    LOG_INFO("VM resumed");
    return {};
  }
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
  Result<void> configure_logger(const LogConfig& log) override {
    VIREO_TRY(log::open(log.path, log.options));
    active_.log = log;
    return {};
  }
  Result<void> configure_metrics(const std::string& path) override {
    VIREO_TRY(metrics_.open(path));
    active_.metrics_path = path;
    return {};
  }
  Result<void> flush_metrics() override { return metrics_.flush(); }
  void report_metrics(metrics::Collector& out) const override {
    metrics_.report(out);
    if (vm_) vm_->report_metrics(out);
  }
  // Everything, the API's counters too: what a metrics line holds.
  void report_all(metrics::Collector& out) const {
    if (api_) api_->report_metrics(out);
    report_metrics(out);
  }
  bool started() const { return started_; }
  std::unique_ptr<Vm> take_built() { return std::move(built_); }

 private:
  VmConfig active_;
  Build build_;
  bool started_;
  std::unique_ptr<Vm> built_;  // by start(), until the main loop runs it
  Vm* vm_ = nullptr;
  MetricsReporter& metrics_;
  const api::VmApi* api_ = nullptr;
};

// How long a VM's last console output may wait for a slow reader after the VM stopped.
constexpr std::chrono::milliseconds kFinalFlush{2000};

// stderr, and the log file if there is one.
void print_error(const std::string& line) { LOG_ERROR("{}", line); }

// Runs the VM from power-on until it stops; returns its stop event.
Result<StopEvent> run_once(Vm* vm, const VmConfig& cfg, Epoll& epoll, int sigfd,
                           SerialConsole& console, const EventFd& wake, api::ApiServer* api,
                           RunnerControl& control, MetricsReporter& metrics) {
  std::optional<SymbolMap> symbols;
  if (cfg.profile_symbols) {
    VIREO_ASSIGN_OR_RETURN(auto m, SymbolMap::load(*cfg.profile_symbols));
    symbols = std::move(m);
  }
  console.attach(&vm->console_port());
  control.set_vm(vm);
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
  LOG_INFO("VM started: {} vCPUs, {} MiB, kernel {}", cfg.cpus, cfg.memory >> 20, cfg.kernel_path);

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
        case kTokMetrics:
          metrics.on_timer();
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
  LOG_INFO("VM stopped: {}", ev.describe());
  if (metrics.configured()) (void)metrics.flush();  // the last counters of this VM
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
                                  api::ApiServer& api, RunnerControl& control,
                                  MetricsReporter& metrics) {
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
      } else if (token == kTokMetrics) {
        metrics.on_timer();
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

  // The log and the metrics first, so that what follows is in them.
  if (flags.log) {
    if (auto r = log::open(flags.log->path, flags.log->options); !r.ok()) {
      print_error(r.error().message());
      return exit_code::kUsageError;
    }
  }
  RunnerControl* control_ptr = nullptr;
  MetricsReporter metrics(
      [&control_ptr](metrics::Collector& out) {
        if (control_ptr) control_ptr->report_all(out);
      },
      std::chrono::seconds(flags.metrics_interval_s));
  if (auto r = metrics.attach(*epoll, kTokMetrics); !r.ok()) {
    print_error(r.error().message());
    return exit_code::kVmmError;
  }
  if (flags.metrics_path) {
    if (auto r = metrics.open(*flags.metrics_path); !r.ok()) {
      print_error(r.error().message());
      return exit_code::kUsageError;
    }
  }

  const EventFd& wake_fd = *wake;
  RunnerControl control(
      flags,
      [&wake_fd](const VmConfig& c) { return Vm::create(c, [&wake_fd] { wake_fd.signal(); }); },
      metrics);
  control_ptr = &control;
  std::unique_ptr<api::ApiServer> api;
  std::optional<api::VmApi> routes;
  if (flags.api_sock) {
    routes.emplace(control);
    control.set_api(&*routes);
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
    if (auto waited = wait_for_start(*epoll, sigfd->get(), console, *api, control, metrics);
        waited) {
      raw.restore();
      return *waited;
    }
  }
  const VmConfig& cfg = control.config();
  // The VM InstanceStart built, or the one the flags describe. A guest reboot with
  // --on-reboot restart resets it in place (Vm::reset) and runs it again.
  std::unique_ptr<Vm> vm = control.take_built();
  if (!vm) {
    auto built = Vm::create(cfg, [&wake_fd] { wake_fd.signal(); });
    if (!built.ok()) {
      raw.restore();
      print_error(built.error().message());
      return exit_code::kUsageError;
    }
    vm = std::move(*built);
  }
  int status = 0;
  for (;;) {
    auto stop = run_once(vm.get(), cfg, *epoll, sigfd->get(), console, *wake, api.get(), control,
                         metrics);
    if (!stop.ok()) {
      raw.restore();
      print_error(stop.error().message());
      status = exit_code::kUsageError;
      break;
    }
    if (stop->reason == StopReason::kReset && cfg.on_reboot == OnReboot::kRestart) {
      if (!cfg.quiet) fmt::print(stderr, "\r\nvireo: guest reset: restarting\r\n");
      if (auto r = vm->reset(); !r.ok()) {
        raw.restore();
        print_error(r.error().message());
        status = exit_code::kVmmError;
        break;
      }
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
