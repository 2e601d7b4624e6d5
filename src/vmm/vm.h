// Vm: a virtual machine built from a VmConfig: KVM objects, guest memory, the loaded
// kernel, devices on their buses, and one thread per vCPU.
#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "arch/x86/host_profile.h"
#include "arch/x86/kernel_loader.h"
#include "devices/bus.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "kvm/kvm.h"
#include "memory/guest_memory.h"
#include "metrics/metrics.h"
#include "util/epoll.h"
#include "vmm/config.h"
#include "vmm/device_manager.h"
#include "vmm/exit_status.h"
#include "vmm/insn_assist.h"
#include "vmm/msi_routing.h"
#include "vmm/power_on_state.h"
#include "vmm/vcpu.h"
#include "vmm/vm_snapshot.h"
#include "virtio/console.h"
#include "virtio/device.h"

namespace vireo::virtio {
class Balloon;
}

namespace vireo::vmm {

class Vm {
 public:
  // Builds the whole machine (nothing runs yet). `console_wake` is the UART's wake (see
  // devices::Serial): the console then takes its output and feeds it input.
  static Result<std::unique_ptr<Vm>> create(const VmConfig& cfg,
                                            devices::Serial::WakeFn console_wake);
  ~Vm();

  // Starts all vCPU threads.
  void start();
  // A guest reboot, in place (--on-reboot restart): after stop_and_join(), puts the
  // machine back to power-on (devices reset, guest RAM emptied, the boot image loaded
  // again, KVM's irqchip, PIT and vCPUs as they were before the first run); start()
  // then boots it again. The KVM VM, the memory mapping, the vCPU fds and the devices'
  // back-ends (disk files, taps, sockets) stay. Needs a VM built with on_reboot restart.
  Result<void> reset();
  // How many times reset() restarted it.
  uint64_t resets() const { return resets_; }
  // Pauses the guest, from the controlling thread: every vCPU parked outside KVM_RUN
  // with its registers consistent, then every device quiesced (requests in flight
  // completed, its I/O thread gone). The guest's clock stops with it: KVM_GET_CLOCK now,
  // KVM_SET_CLOCK back to that value on resume, as QEMU does; vCPUs using kvmclock are
  // told (KVM_KVMCLOCK_CTRL) so the guest's soft-lockup watchdog does not count the
  // pause. Does nothing if not running.
  Result<void> pause();
  // Devices first, then the clock, then the vCPUs. Does nothing if not paused.
  Result<void> resume();
  bool paused() const { return paused_; }
  // The whole VM as values (vmm/vm_snapshot.h): KVM's state, every device's, guest
  // memory, and what the VM was built with. The VM must be paused.
  Result<VmSnapshot> snapshot();
  // Makes this VM the one the snapshot was taken of, continuing where it was: call on a
  // VM built from the same VmConfig (create()) before start(). Checks first that it is
  // the same machine (vCPUs, memory, devices' layout), with errors saying which
  // configuration would take the snapshot; start() then resumes the guest.
  Result<void> restore(const VmSnapshot& s);
  // Types Ctrl-Alt-Del on the i8042 keyboard (Firecracker's SendCtrlAltDel): a Linux
  // guest with a keyboard driver reboots, or does what its init asks for instead.
  Result<void> send_ctrl_alt_del();
  // The VM's counters (see metrics/metrics.h): its size and uptime, each vCPU's exits,
  // each virtio device's work. From the controlling thread.
  void report_metrics(metrics::Collector& out) const;

  // Changes to a running (or paused) VM's devices (Firecracker's PATCH requests). Each
  // checks what it can first (a new disk file is opened and locked before anything
  // changes); the change itself is made with the VM paused for that moment, unless it
  // already is (vCPUs parked, every device's requests in flight completed), so no request
  // and no driver reset runs into it.
  //
  // Drive `id` gets the file `path` (opened with the drive's read-only and O_DIRECT
  // options; the same file as now: its size is read again) and/or the rate limit
  // `limit`. A new size reaches the guest with a configuration-change interrupt.
  Result<void> update_drive(const std::string& id, const std::optional<std::string>& path,
                            const std::optional<virtio::RateLimit>& limit);
  // Interface `id`'s rate limits on what the guest receives (`rx`) and sends (`tx`).
  Result<void> update_net_limits(const std::string& id, const std::optional<virtio::RateLimit>& rx,
                                 const std::optional<virtio::RateLimit>& tx);
  // The balloon (nullptr without one). Its set_target() may be called at any time.
  virtio::Balloon* balloon() { return balloon_.get(); }
  // A new balloon target (the driver is told with a configuration interrupt).
  Result<void> set_balloon_target(uint64_t bytes);
  // The balloon's statistics interval (it cannot be switched on or off).
  Result<void> set_balloon_stats_interval(uint32_t seconds);

  // The vCPUs' states, in vCPU order.
  std::vector<VcpuState> vcpu_states() const;
  // The VM's kvmclock now, in nanoseconds (KVM_GET_CLOCK).
  Result<uint64_t> guest_clock_ns() const;
  // Asks the VM to stop; the first reason given wins. Safe from any thread.
  void request_stop(StopEvent ev);
  // Signalled (eventfd) once a stop was requested.
  int stop_fd() const { return stop_fd_.fd(); }
  // Kicks and joins all vCPUs; returns why the VM stopped.
  StopEvent stop_and_join();

  devices::Serial& serial() { return *serial_; }
  // What the terminal is the console of: the UART, or the virtio console (--console).
  devices::ConsolePort& console_port();
  const DeviceManager& devices() const { return *devices_; }
  const memory::GuestMemory& memory() const { return mem_; }
  const arch::x86::LoadedKernel& kernel() const { return kernel_; }
  const arch::x86::HostProfile& host() const { return host_; }
  const AssistStats& assist_stats() const { return assist_->stats(); }
  GuestProfiler* profiler() { return profiler_.get(); }
  uint64_t syscall_repairs() const { return syscall_repair_ ? syscall_repair_->repairs() : 0; }
  // The command line the guest got (vireo may add switches on some hosts).
  const std::string& effective_cmdline() const { return cmdline_; }
  // The switches added to a Linux command line for a host that emulates guest kernel
  // mode ("" otherwise).
  const std::string& host_switches() const { return host_switches_; }

 private:
  Vm() = default;
  Result<void> setup_vm();
  Result<void> load_boot_image();
  Result<arch::x86::LoadedKernel> load_kernel_image(std::span<const uint8_t> image);
  static bool looks_like_linux(std::span<const uint8_t> image);
  Result<void> setup_devices(devices::Serial::WakeFn console_wake);
  // Places a virtio device on its own virtio-mmio page, with an irqfd interrupt and an
  // ioeventfd per queue.
  // Adds a virtio device on the VM's transport (--transport).
  Result<void> add_virtio(std::string id, std::shared_ptr<virtio::VirtioDevice> device);
  Result<void> add_virtio_mmio(std::string id, std::shared_ptr<virtio::VirtioDevice> device);
  // The virtio device with this id, as a T (nullptr: none, or not a T).
  template <class T>
  std::shared_ptr<T> virtio_device(const std::string& id) const;
  // Runs `change` with the VM paused (and resumes it after, unless it was paused).
  template <class F>
  Result<void> while_paused(F change);
  Result<void> add_virtio_pci(std::string id, std::shared_ptr<virtio::VirtioDevice> device);
  // The command line plus the virtio_mmio.device= switches, for kernels that will not
  // find the devices in the DSDT.
  std::string with_virtio_mmio_switches(std::string cmdline, bool linux_kernel) const;
  Result<void> setup_vcpus();
  Result<void> check_restorable(const VmSnapshot& s) const;
  std::vector<kvm::VcpuFd*> vcpu_fds();

  VmConfig cfg_;
  arch::x86::HostProfile host_;
  kvm::Kvm kvm_;
  kvm::VmFd vm_;
  // The MSR filter, installed on a helper thread (see setup_vm); declared after vm_ so
  // that it is waited for before vm_ closes.
  std::future<Result<void>> msr_filter_;
  memory::GuestMemory mem_;
  // Guest memory slots, registered on a helper thread (see setup_vm): waited for before
  // mem_ and vm_ go away.
  std::future<Result<void>> memory_slots_;
  arch::x86::LoadedKernel kernel_{};
  devices::Bus pio_bus_;
  devices::Bus mmio_bus_;
  std::shared_ptr<devices::Serial> serial_;
  std::shared_ptr<devices::I8042> i8042_;
  std::shared_ptr<virtio::Console> virtio_console_;  // with --console virtio
  std::unique_ptr<MsiRouting> msi_routing_;  // with --transport pci (outlives the devices)
  std::unique_ptr<DeviceManager> devices_;
  std::vector<devices::Placement> virtio_mmio_;  // where the virtio-mmio pages went
  std::chrono::steady_clock::time_point started_at_{};
  // Every virtio device by its id.
  std::map<std::string, std::shared_ptr<virtio::VirtioDevice>> virtio_by_id_;
  std::shared_ptr<virtio::Balloon> balloon_;
  std::unique_ptr<InsnAssist> assist_;
  std::unique_ptr<SyscallRepair> syscall_repair_;  // emulated-kernel-mode hosts only
  std::unique_ptr<GuestProfiler> profiler_;        // with --profile
  std::string cmdline_;
  std::string host_switches_;
  bool paused_ = false;
  std::optional<PowerOnState> power_on_;  // with on_reboot restart
  uint64_t resets_ = 0;
  uint64_t paused_clock_ = 0;  // the kvmclock when paused
  EventFd stop_fd_;
  std::mutex stop_mu_;
  StopEvent stop_;
  // Last: destroyed (joined) first, before anything the vCPU threads use.
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  // Kicks vCPUs for samples: stopped before they are joined.
  std::unique_ptr<PeriodicThread> sampler_;
};

}  // namespace vireo::vmm
