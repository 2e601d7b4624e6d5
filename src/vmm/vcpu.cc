#include "vmm/vcpu.h"

#include <pthread.h>
#include <signal.h>

#include <fmt/format.h>

#include <cstring>
#include <utility>

namespace vireo::vmm {

namespace {

int kick_signal() { return SIGRTMIN; }

// The vCPU's thread is the only writer of its counters: no locked add needed.
void bump(std::atomic<uint64_t>& counter) {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void kick_handler(int) {}

const char* exit_reason_name(uint32_t r) {
  switch (r) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_X86_RDMSR: return "KVM_EXIT_X86_RDMSR";
    case KVM_EXIT_X86_WRMSR: return "KVM_EXIT_X86_WRMSR";
    default: return "unknown exit";
  }
}

}  // namespace

void Vcpu::install_kick_handler() {
  struct sigaction sa {};
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  ::sigaction(kick_signal(), &sa, nullptr);
}

Vcpu::Vcpu(kvm::VcpuFd fd, devices::Bus& pio, devices::Bus& mmio, InsnAssist* assist,
           SyscallRepair* syscall_repair, StopFn on_stop)
    : fd_(std::move(fd)), pio_(pio), mmio_(mmio), assist_(assist),
      syscall_(syscall_repair ? syscall_repair->make_vcpu() : nullptr),
      on_stop_(std::move(on_stop)) {}

Vcpu::~Vcpu() {
  stop();
  join();
}

const char* to_string(VcpuState s) {
  switch (s) {
    case VcpuState::kCreated: return "created";
    case VcpuState::kRunning: return "running";
    case VcpuState::kPaused: return "paused";
    case VcpuState::kStopped: return "stopped";
  }
  return "?";
}

VcpuState Vcpu::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void Vcpu::enter(VcpuState s) {
  {
    std::lock_guard lock(mu_);
    state_ = s;
  }
  changed_.notify_all();
}

void Vcpu::start() {
  std::lock_guard lock(mu_);
  if (state_ != VcpuState::kCreated || stop_) return;
  state_ = VcpuState::kRunning;
  thread_ = std::thread([this] { thread_main(); });
}

Result<void> Vcpu::rearm() {
  std::lock_guard lock(mu_);
  if (state_ != VcpuState::kStopped || thread_.joinable()) return {};
  if (fd_.run_struct()) {
    fd_.set_immediate_exit(true);
    auto r = fd_.run();  // completes the pending exit and returns at once (EINTR)
    fd_.set_immediate_exit(false);
    if (!r.ok()) return r.error().context("completing the last exit before a reset");
  }
  if (syscall_) VIREO_TRY(syscall_->reset(fd_));
  state_ = VcpuState::kCreated;
  stop_ = false;
  pause_ = false;
  sample_ = false;
  return {};
}

void Vcpu::interrupt_locked() {
  // immediate_exit catches the thread before its next entry; the signal (whose handler
  // does nothing) ends the KVM_RUN it may be in now with EINTR.
  if (fd_.run_struct()) fd_.set_immediate_exit(true);
  if (thread_.joinable()) ::pthread_kill(thread_.native_handle(), kick_signal());
}

void Vcpu::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    if (state_ == VcpuState::kCreated) state_ = VcpuState::kStopped;
    interrupt_locked();
  }
  changed_.notify_all();
}

void Vcpu::pause() {
  std::unique_lock lock(mu_);
  if (state_ != VcpuState::kRunning) return;
  pause_ = true;
  interrupt_locked();
  changed_.wait(lock, [this] { return state_ != VcpuState::kRunning; });
}

void Vcpu::resume() {
  std::unique_lock lock(mu_);
  if (state_ != VcpuState::kPaused) return;
  pause_ = false;
  changed_.notify_all();
  changed_.wait(lock, [this] { return state_ != VcpuState::kPaused; });
}

bool Vcpu::park() {
  // A port or MMIO read this thread answered is completed by the next KVM_RUN; with
  // immediate_exit set that call completes it and returns at once, without entering the
  // guest. After it the registers are the guest's exactly.
  fd_.set_immediate_exit(true);
  if (auto r = fd_.run(); !r.ok()) {
    stop_with_error({StopReason::kError, 0, r.error().message()});
    return false;
  }
  std::unique_lock lock(mu_);
  state_ = VcpuState::kPaused;
  changed_.notify_all();
  changed_.wait(lock, [this] { return !pause_ || stop_; });
  if (stop_) return false;
  fd_.set_immediate_exit(false);
  state_ = VcpuState::kRunning;
  changed_.notify_all();
  return true;
}

void Vcpu::request_sample() {
  sample_.store(true, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  if (thread_.joinable() && state_ == VcpuState::kRunning)
    ::pthread_kill(thread_.native_handle(), kick_signal());
}

void Vcpu::take_sample() {
  auto regs = fd_.get_regs();
  auto sregs = fd_.get_sregs();
  if (regs.ok() && sregs.ok()) profiler_->record(regs->rip, sregs->cs.dpl == 3);
}

void Vcpu::join() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

void Vcpu::thread_main() {
  {
    char name[16];
    std::snprintf(name, sizeof(name), "vcpu%u", fd_.id());
    ::pthread_setname_np(::pthread_self(), name);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, kick_signal());
    ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  }
  run_loop();
  enter(VcpuState::kStopped);
}

void Vcpu::run_loop() {
  for (;;) {
    if (stop_.load()) return;
    if (pause_.load()) {
      if (!park()) return;
      continue;
    }
    auto r = fd_.run();
    if (!r.ok()) {
      stop_with_error({StopReason::kError, 0, r.error().message()});
      return;
    }
    if (profiler_ && sample_.exchange(false, std::memory_order_relaxed)) take_sample();
    if (!*r) {  // interrupted: a request, or a sample
      bump(exits_.interrupted);
      // A sample's signal must not leave immediate_exit set for the next entry.
      std::lock_guard lock(mu_);
      if (!stop_ && !pause_) fd_.set_immediate_exit(false);
      continue;
    }
    if (!handle_exit()) return;
  }
}

bool Vcpu::handle_io() {
  kvm_run* run = fd_.run_struct();
  auto& io = run->io;
  uint8_t* data = reinterpret_cast<uint8_t*>(run) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i) {
    uint8_t* p = data + static_cast<size_t>(i) * io.size;
    if (io.direction == KVM_EXIT_IO_OUT) {
      pio_.write(io.port, std::span<const uint8_t>(p, io.size));
    } else if (!pio_.read(io.port, std::span<uint8_t>(p, io.size))) {
      std::memset(p, 0xff, io.size);  // nothing there: the bus floats high
    }
  }
  return true;
}

bool Vcpu::handle_mmio() {
  auto& m = fd_.run_struct()->mmio;
  uint32_t len = std::min<uint32_t>(m.len, sizeof(m.data));
  if (m.is_write) {
    mmio_.write(m.phys_addr, std::span<const uint8_t>(m.data, len));
  } else if (!mmio_.read(m.phys_addr, std::span<uint8_t>(m.data, len))) {
    std::memset(m.data, 0xff, len);
  }
  return true;
}

std::string Vcpu::describe_failure(const char* what) {
  std::string s = fmt::format("vCPU {}: {}", fd_.id(), what);
  auto regs = fd_.get_regs();
  auto sregs = fd_.get_sregs();
  if (regs.ok() && sregs.ok()) {
    const char* mode = !(sregs->cr0 & 1) ? "real mode"
                       : (sregs->efer & (1u << 10)) ? (sregs->cs.l ? "64-bit mode" : "compatibility mode")
                                                    : "protected mode";
    s += fmt::format(" at RIP {:#x} (CS {:#x}, {}, CPL {})", regs->rip, sregs->cs.selector,
                     mode, sregs->cs.dpl);
  }
  return s;
}

void Vcpu::stop_with_error(StopEvent ev) {
  bump(exits_.failures);
  on_stop_(std::move(ev));
}

bool Vcpu::handle_repair(const char* what, Result<void> r) {
  if (r.ok()) return true;
  stop_with_error({StopReason::kError, 0, describe_failure(fmt::format("{}: {}", what, r.error().message()).c_str())});
  return false;
}

bool Vcpu::handle_exit() {
  kvm_run* run = fd_.run_struct();
  switch (run->exit_reason) {
    case KVM_EXIT_IO:
      bump(run->io.direction == KVM_EXIT_IO_OUT ? exits_.io_out : exits_.io_in);
      return handle_io();
    case KVM_EXIT_MMIO:
      bump(run->mmio.is_write ? exits_.mmio_write : exits_.mmio_read);
      return handle_mmio();
    case KVM_EXIT_INTR:
      bump(exits_.interrupted);
      return true;
    case KVM_EXIT_HLT:  // only without the in-kernel irqchip; just resume
      bump(exits_.hlt);
      return true;
    case KVM_EXIT_X86_WRMSR:
      bump(exits_.msr);
      if (syscall_) return handle_repair("MSR write", syscall_->on_wrmsr(fd_));
      break;
    case KVM_EXIT_DEBUG:
      bump(exits_.debug);
      if (syscall_) return handle_repair("SYSCALL repair", syscall_->on_debug(fd_));
      break;
    case KVM_EXIT_SHUTDOWN:
      bump(exits_.shutdown);
      on_stop_({StopReason::kTripleFault, 0, describe_failure("triple fault")});
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      bump(exits_.system_event);
      switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN: on_stop_({StopReason::kPowerOff}); return false;
        case KVM_SYSTEM_EVENT_RESET: on_stop_({StopReason::kReset}); return false;
        case KVM_SYSTEM_EVENT_CRASH: on_stop_({StopReason::kGuestCrash}); return false;
        default: return true;
      }
    case KVM_EXIT_FAIL_ENTRY:
      stop_with_error({StopReason::kError, 0,
                describe_failure(fmt::format("VM entry failed (hardware reason {:#x})",
                                             run->fail_entry.hardware_entry_failure_reason)
                                     .c_str())});
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string what;
      if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && assist_) {
        auto r = assist_->handle(fd_);
        if (r.ok()) {
          bump(exits_.assisted);
          return true;
        }
        stop_with_error({StopReason::kError, 0, fmt::format("vCPU {}: {}", fd_.id(), r.error().message())});
        return false;
      }
      if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
        what = "the host could not emulate an instruction";
        auto& ef = run->emulation_failure;
        if (run->emulation_failure.ndata >= 2 &&
            (ef.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
          what += " (bytes";
          for (unsigned i = 0; i < std::min<unsigned>(ef.insn_size, 15); ++i)
            what += fmt::format(" {:02x}", ef.insn_bytes[i]);
          what += ")";
        }
      } else {
        what = fmt::format("KVM internal error (suberror {})", run->internal.suberror);
      }
      stop_with_error({StopReason::kError, 0, describe_failure(what.c_str())});
      return false;
    }
    default:
      break;
  }
  stop_with_error({StopReason::kError, 0,
            describe_failure(fmt::format("unhandled exit {} ({})", run->exit_reason,
                                         exit_reason_name(run->exit_reason))
                                 .c_str())});
  return false;
}

}  // namespace vireo::vmm
