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
#include "log/log.h"
#include "util/event_loop.h"
#include "util/file.h"
#include "util/symbol_map.h"
#include "virtio/balloon.h"
#include "vmm/console_escape.h"
#include "vmm/metrics_reporter.h"
#include "vmm/serial_console.h"
#include "vmm/terminal.h"
#include "vmm/vm.h"

namespace vireo::vmm {

namespace {

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
    VIREO_TRY(vm_->set_balloon_target(bytes));
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
  MetricsReporter& metrics_;
  const api::VmApi* api_ = nullptr;

  // A VM to change (none between a guest reset and the next boot).
  Result<void> running() const {
    if (!vm_) return Error("the microVM is restarting; try again");
    return {};
  }
};

// How long a VM's last console output may wait for a slow reader after the VM stopped.
constexpr std::chrono::milliseconds kFinalFlush{2000};

// stderr, and the log file if there is one.
void print_error(const std::string& line) { LOG_ERROR("{}", line); }

// The VMM's main thread: one event loop (util/event_loop.h) serving the console, the
// signals, the API and the metrics timer, before the VM starts (the API describes it),
// while it runs, and across the guest's reboots.
class Runner {
 public:
  explicit Runner(const VmConfig& flags) : flags_(flags) {}
  int run();

 private:
  Result<void> setup();
  void on_signal();
  void on_escape(ConsoleEscape::Action action);
  // Serves everything until InstanceStart built the VM (false: vireo is to end first,
  // with exit_).
  bool wait_for_start();
  // Runs the VM from power-on until it stops; returns its stop event.
  Result<StopEvent> run_once(Vm& vm, const VmConfig& cfg);
  void report(Vm& vm, const VmConfig& cfg, std::chrono::steady_clock::time_point started,
              const std::optional<SymbolMap>& symbols);

  const VmConfig& flags_;
  std::optional<EventLoop> loop_;
  UniqueFd sigfd_;
  std::optional<EventFd> wake_;
  std::optional<SerialConsole> console_;
  std::optional<MetricsReporter> metrics_;
  std::optional<RunnerControl> control_;
  std::optional<api::VmApi> routes_;
  std::unique_ptr<api::ApiServer> api_;
  Vm* vm_ = nullptr;                   // the VM running now
  std::optional<int> exit_;            // before the start: the exit status to end with
  std::optional<StopEvent> signalled_;  // while a VM runs: the signal that stopped it
};

Result<void> Runner::setup() {
  VIREO_ASSIGN_OR_RETURN(loop_, EventLoop::create());
  VIREO_ASSIGN_OR_RETURN(sigfd_, block_signals_to_fd({SIGINT, SIGTERM, SIGHUP, SIGQUIT}));
  VIREO_ASSIGN_OR_RETURN(wake_, EventFd::create());
  VIREO_TRY(loop_->add(sigfd_.get(), EPOLLIN, [this](uint32_t) { on_signal(); }));
  console_.emplace(*loop_, ConsoleStream(STDIN_FILENO, ConsoleStream::Direction::kIn),
                   ConsoleStream(STDOUT_FILENO, ConsoleStream::Direction::kOut));
  console_->on_escape([this](ConsoleEscape::Action a) { on_escape(a); });
  VIREO_TRY(loop_->add(wake_->fd(), EPOLLIN, [this](uint32_t) {
    wake_->drain();
    console_->on_wake();
  }));
  metrics_.emplace(
      [this](metrics::Collector& out) {
        if (control_) control_->report_all(out);
      },
      std::chrono::seconds(flags_.metrics_interval_s));
  VIREO_TRY(metrics_->attach(*loop_));
  const EventFd& wake = *wake_;
  control_.emplace(
      flags_, [&wake](const VmConfig& c) { return Vm::create(c, [&wake] { wake.signal(); }); },
      *metrics_);
  return {};
}

void Runner::on_signal() {
  signalfd_siginfo si;
  while (::read(sigfd_.get(), &si, sizeof(si)) == sizeof(si)) {
    const StopEvent ev{StopReason::kSignal, si.ssi_signo};
    if (vm_) {
      signalled_ = ev;
      vm_->request_stop(ev);
    } else if (!exit_) {
      fmt::print(stderr, "vireo: {}\n", ev.describe());
      exit_ = ev.exit_status();
    }
  }
}

void Runner::on_escape(ConsoleEscape::Action action) {
  if (action == ConsoleEscape::Action::kHelp) {
    fmt::print(stderr, "{}", ConsoleEscape::help_text());
  } else if (action == ConsoleEscape::Action::kQuit) {
    if (vm_)
      vm_->request_stop({StopReason::kConsoleQuit});
    else if (!exit_)
      exit_ = 0;
  }
}

bool Runner::wait_for_start() {
  auto r = loop_->run_until([this] { return control_->started() || exit_.has_value(); });
  if (!r.ok()) {
    print_error(r.error().message());
    exit_ = exit_code::kVmmError;
  }
  return !exit_;
}

Result<StopEvent> Runner::run_once(Vm& vm, const VmConfig& cfg) {
  std::optional<SymbolMap> symbols;
  if (cfg.profile_symbols) {
    VIREO_ASSIGN_OR_RETURN(auto m, SymbolMap::load(*cfg.profile_symbols));
    symbols = std::move(m);
  }
  bool stopping = false;
  VIREO_TRY(loop_->add(vm.stop_fd(), EPOLLIN, [&stopping](uint32_t) { stopping = true; }));
  console_->attach(&vm.console_port());
  control_->set_vm(&vm);
  vm_ = &vm;
  signalled_.reset();
  struct Detach {  // before the VM goes, on every path
    Runner& r;
    int stop_fd;
    ~Detach() {
      r.loop_->remove(stop_fd);
      r.console_->attach(nullptr);
      r.control_->set_vm(nullptr);
      r.vm_ = nullptr;
    }
  } detach{*this, vm.stop_fd()};
  static bool host_reported = false;
  // Said once, for Linux guests (which get extra switches); test guests stay silent.
  const std::string& added = vm.host_switches();
  if (!cfg.quiet && !host_reported && !added.empty()) {
    host_reported = true;
    fmt::print(stderr,
               "vireo: this host's CPU has no VT-x/AMD-V: its KVM emulates guest kernel mode, and "
               "vireo completes the instructions it rejects (guest command line += \"{}\"){}",
               added, ::isatty(STDIN_FILENO) ? "\r\n" : "\n");
  }
  const auto started = std::chrono::steady_clock::now();
  vm.start();
  LOG_INFO("VM started: {} vCPUs, {} MiB, kernel {}", cfg.cpus, cfg.memory >> 20, cfg.kernel_path);
  if (auto r = loop_->run_until([&stopping] { return stopping; }); !r.ok())
    vm.request_stop({StopReason::kError, 0, r.error().message()});
  StopEvent ev = vm.stop_and_join();
  // A signal that lands while the guest is resetting loses the race for the stop event;
  // it is kept so that --on-reboot restart does not swallow the user's stop.
  if (signalled_ && ev.reason == StopReason::kReset) ev = *signalled_;
  LOG_INFO("VM stopped: {}", ev.describe());
  if (metrics_->configured()) (void)metrics_->flush();  // the last counters of this run
  console_->final_flush(kFinalFlush);
  report(vm, cfg, started, symbols);
  return ev;
}

// What --profile and --stats ask for, at the end of a run.
void Runner::report(Vm& vm, const VmConfig& cfg, std::chrono::steady_clock::time_point started,
                    const std::optional<SymbolMap>& symbols) {
  if (cfg.profile_path && vm.profiler()) {
    // The terminal gets the top 60 lines; a file gets every row (for offline symbolizing).
    const bool to_terminal = *cfg.profile_path == "-";
    std::string text = vm.profiler()->report(symbols ? &*symbols : nullptr,
                                             to_terminal ? 60 : SIZE_MAX);
    if (to_terminal) {
      fmt::print(stderr, "{}", text);
    } else if (auto w = write_file(*cfg.profile_path, text); !w.ok()) {
      fmt::print(stderr, "vireo: {}\n", w.error().message());
    }
  }
  if (cfg.stats) {
    fmt::print(stderr, "{}", vm.assist_stats().report(std::chrono::steady_clock::now() - started));
    if (vm.syscall_repairs())
      fmt::print(stderr, "vireo: SYSCALLs completed for the host: {}\n", vm.syscall_repairs());
  }
}

int Runner::run() {
  // A closed console pipe is an EPIPE to handle, not a signal that kills the VMM (and
  // leaves the terminal raw).
  ::signal(SIGPIPE, SIG_IGN);
  // The log first, so that what follows is in it.
  if (flags_.log) {
    if (auto r = log::open(flags_.log->path, flags_.log->options); !r.ok()) {
      print_error(r.error().message());
      return exit_code::kUsageError;
    }
  }
  if (auto r = setup(); !r.ok()) {
    print_error(r.error().message());
    return exit_code::kVmmError;
  }
  if (flags_.metrics_path) {
    if (auto r = metrics_->open(*flags_.metrics_path); !r.ok()) {
      print_error(r.error().message());
      return exit_code::kUsageError;
    }
  }
  if (flags_.api_sock) {
    routes_.emplace(*control_);
    control_->set_api(&*routes_);
    auto server = api::ApiServer::listen(*flags_.api_sock, [this](const api::HttpRequest& r) {
      return routes_->handle(r);
    });
    if (!server.ok()) {
      print_error(server.error().message());
      return exit_code::kUsageError;
    }
    api_ = std::move(*server);
    if (auto a = api_->attach(*loop_); !a.ok()) {
      print_error(a.error().message());
      return exit_code::kVmmError;
    }
  }

  RawTerminal raw(STDIN_FILENO);
  // --api-sock alone: the API describes the VM, then starts it.
  if (!control_->started() && !wait_for_start()) {
    raw.restore();
    return *exit_;
  }
  const VmConfig& cfg = control_->config();
  // The VM InstanceStart built, or the one the flags describe. A guest reboot with
  // --on-reboot restart resets it in place (Vm::reset) and runs it again.
  std::unique_ptr<Vm> vm = control_->take_built();
  if (!vm) {
    const EventFd& wake = *wake_;
    auto built = Vm::create(cfg, [&wake] { wake.signal(); });
    if (!built.ok()) {
      raw.restore();
      print_error(built.error().message());
      return exit_code::kUsageError;
    }
    vm = std::move(*built);
  }
  for (;;) {
    auto stop = run_once(*vm, cfg);
    if (!stop.ok()) {
      raw.restore();
      print_error(stop.error().message());
      return exit_code::kUsageError;
    }
    if (stop->reason == StopReason::kReset && cfg.on_reboot == OnReboot::kRestart) {
      if (!cfg.quiet) fmt::print(stderr, "\r\nvireo: guest reset: restarting\r\n");
      if (auto r = vm->reset(); !r.ok()) {
        raw.restore();
        print_error(r.error().message());
        return exit_code::kVmmError;
      }
      continue;
    }
    raw.restore();
    if (stop->reason == StopReason::kError)
      print_error(stop->describe());
    else if (!cfg.quiet && stop->reason != StopReason::kPowerOff &&
             stop->reason != StopReason::kDebugExit)
      fmt::print(stderr, "vireo: {}\n", stop->describe());
    return stop->exit_status();
  }
}

}  // namespace

int run_with_console(const VmConfig& flags) { return Runner(flags).run(); }

}  // namespace vireo::vmm
