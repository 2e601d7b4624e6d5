// Vcpu: one vCPU thread running KVM_RUN and dispatching exits to the buses, and the
// state machine other threads drive it with:
//
//   created --start()--> running --pause()--> paused --resume()--> running
//      any state --stop()--> stopped (the thread ends; also when the guest stops the VM)
//
// pause() and resume() return once the thread is in the new state. A paused thread has
// left KVM_RUN after completing any port or MMIO read it was answering (one more KVM_RUN
// with immediate_exit set), so its registers describe the guest exactly: what a snapshot
// reads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "devices/bus.h"
#include "kvm/vcpu_fd.h"
#include "vmm/exit_status.h"
#include "vmm/guest_profiler.h"
#include "vmm/insn_assist.h"
#include "vmm/syscall_repair.h"

namespace vireo::vmm {

enum class VcpuState { kCreated, kRunning, kPaused, kStopped };
const char* to_string(VcpuState s);

// What a vCPU's exits were, counted by its thread and read by the metrics (relaxed
// atomics: a reader sees each counter exact or a moment old).
struct VcpuExitCounts {
  std::atomic<uint64_t> io_in{0}, io_out{0};          // port reads, writes (string ops: one)
  std::atomic<uint64_t> mmio_read{0}, mmio_write{0};
  std::atomic<uint64_t> interrupted{0};  // KVM_RUN left for a signal or immediate_exit
  std::atomic<uint64_t> hlt{0};
  std::atomic<uint64_t> assisted{0};     // instructions the host could not emulate, done here
  std::atomic<uint64_t> msr{0}, debug{0};  // syscall repair's traps (emulated-kernel-mode hosts)
  std::atomic<uint64_t> system_event{0}, shutdown{0};
  std::atomic<uint64_t> failures{0};     // exits that stopped the VM with an error
};

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
  // Makes the thread leave KVM_RUN (or its pause) and end. Safe from any thread, any
  // number of times, before start() too.
  void stop();
  void join();
  // Parks the thread outside KVM_RUN; returns when it is parked (or stopped). From one
  // controlling thread at a time, not from the vCPU's own thread.
  void pause();
  // Lets a paused thread run the guest again; returns when it does (or has stopped).
  void resume();
  VcpuState state() const;
  // A stopped vCPU whose thread was joined goes back to created, so that start() runs it
  // again (a machine reset in place): an exit it left half done (an MMIO or string-I/O
  // read KVM completes at the next KVM_RUN) is completed now, so that it cannot land in
  // the state set for the next boot, and the SYSCALL repair forgets the last kernel.
  // Does nothing in any other state.
  Result<void> rearm();
  // After Vm::restore put a snapshot's state into a created vCPU: re-arms what the VMM
  // keeps beside KVM's state (the SYSCALL repair's breakpoint).
  Result<void> restored() { return syscall_ ? syscall_->restored(fd_) : Result<void>{}; }
  const VcpuExitCounts& exits() const { return exits_; }
  // Profiling: records where the guest is (via `profiler`) at the next return from
  // KVM_RUN, which this call forces. Safe from any thread while the vCPU runs.
  void set_profiler(GuestProfiler* profiler) { profiler_ = profiler; }
  void request_sample();

  // Installs the (no-op) handler for the kick signal; call once before start().
  static void install_kick_handler();

 private:
  void thread_main();
  void run_loop();
  // Sets the state and wakes whoever waits for it.
  void enter(VcpuState s);
  // The paused state, from the vCPU thread: completes a pending read, then waits for
  // resume() or stop(). Returns false if stopped.
  bool park();
  // Interrupts KVM_RUN: immediate_exit for the next entry and a signal for the current one.
  void interrupt_locked();
  // Returns false when the vCPU must stop.
  bool handle_exit();
  bool handle_io();
  bool handle_mmio();
  void take_sample();
  bool handle_repair(const char* what, Result<void> r);
  std::string describe_failure(const char* what);
  void stop_with_error(StopEvent ev);  // counted in exits_.failures

  kvm::VcpuFd fd_;
  VcpuExitCounts exits_;
  devices::Bus& pio_;
  devices::Bus& mmio_;
  InsnAssist* assist_;
  GuestProfiler* profiler_ = nullptr;
  std::atomic<bool> sample_{false};
  std::unique_ptr<SyscallRepair::Vcpu> syscall_;
  StopFn on_stop_;
  // Requests, set by other threads under mu_ and read by the vCPU thread (atomics: it
  // reads them between KVM_RUN calls without the lock).
  std::atomic<bool> stop_{false};
  std::atomic<bool> pause_{false};
  mutable std::mutex mu_;
  std::condition_variable changed_;  // state_ changed, or a request came
  VcpuState state_ = VcpuState::kCreated;
  std::thread thread_;  // set under mu_: stop() and request_sample() signal it
};

}  // namespace vireo::vmm
