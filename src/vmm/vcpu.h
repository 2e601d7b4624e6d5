// Vcpu: one vCPU thread running KVM_RUN and dispatching exits to the buses.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

#include "devices/bus.h"
#include "kvm/vcpu_fd.h"
#include "vmm/exit_status.h"
#include "vmm/guest_profiler.h"
#include "vmm/insn_assist.h"
#include "vmm/syscall_repair.h"

namespace vireo::vmm {

class Vcpu {
 public:
  using StopFn = std::function<void(StopEvent)>;

  // `assist` (may be null) completes instructions the host's KVM could not emulate;
  // `syscall_repair` (may be null) completes SYSCALLs the host left half done.
  Vcpu(kvm::VcpuFd fd, devices::Bus& pio, devices::Bus& mmio, InsnAssist* assist,
       SyscallRepair* syscall_repair, StopFn on_stop);
  ~Vcpu();  // kicks and joins the thread
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  kvm::VcpuFd& fd() { return fd_; }
  void start();
  // Makes the thread leave KVM_RUN and end (safe from any thread, repeatable).
  void kick();
  void join();
  // Profiling: records where the guest is (via `profiler`) at the next return from
  // KVM_RUN, which this call forces. Safe from any thread while the vCPU runs.
  void set_profiler(GuestProfiler* profiler) { profiler_ = profiler; }
  void request_sample();

  // Installs the (no-op) handler for the kick signal; call once before start().
  static void install_kick_handler();

 private:
  void thread_main();
  // Returns false when the vCPU must stop.
  bool handle_exit();
  bool handle_io();
  bool handle_mmio();
  void take_sample();
  bool handle_repair(const char* what, Result<void> r);
  std::string describe_failure(const char* what);

  kvm::VcpuFd fd_;
  devices::Bus& pio_;
  devices::Bus& mmio_;
  InsnAssist* assist_;
  GuestProfiler* profiler_ = nullptr;
  std::atomic<bool> sample_{false};
  std::unique_ptr<SyscallRepair::Vcpu> syscall_;
  StopFn on_stop_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::thread thread_;
};

}  // namespace vireo::vmm
