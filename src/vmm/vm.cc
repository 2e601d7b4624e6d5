#include "vmm/vm.h"

#include <fmt/format.h>
#include <malloc.h>

#include <algorithm>
#include <string_view>

#include "arch/x86/elf_loader.h"
#include "arch/x86/emulator/cpu_features.h"

#include "arch/x86/acpi.h"
#include "arch/x86/boot_cpu.h"
#include "arch/x86/boot_params.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/host_profile.h"
#include "arch/x86/kernel_cache.h"
#include "arch/x86/kernel_unpack.h"
#include "arch/x86/layout.h"
#include "arch/x86/memory_map.h"
#include "arch/x86/mptable.h"
#include "arch/x86/pvh.h"
#include "arch/x86/reset_vector.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_exit.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "log/log.h"
#include "util/file.h"
#include "virtio/balloon.h"
#include "virtio/block.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"
#include "virtio/net.h"
#include "virtio/vsock.h"
#include "virtio/rng.h"
#include "vmm/irq_line.h"
#include "vmm/irqfd_irq.h"

namespace vireo::vmm {

namespace x86 = arch::x86;
namespace layout = arch::x86::layout;

namespace {
// KVM needs three pages for the real-mode TSS and one for the EPT identity map on Intel;
// put them at the top of the MMIO hole, away from RAM and devices.
constexpr uint64_t kIdentityMapAddr = 0xfeffc000;
constexpr uint64_t kTssAddr = 0xfeffd000;
}  // namespace

Result<std::unique_ptr<Vm>> Vm::create(const VmConfig& cfg,
                                       devices::Serial::WakeFn console_wake) {
  std::unique_ptr<Vm> vm(new Vm());  // private constructor: make_unique cannot reach it
  vm->cfg_ = cfg;
  VIREO_TRY(validate_memory_for_host(cfg.memory));
  VIREO_ASSIGN_OR_RETURN(vm->stop_fd_, EventFd::create());
  VIREO_ASSIGN_OR_RETURN(vm->kvm_, kvm::Kvm::open(cfg.kvm_device));
  if (static_cast<int>(cfg.cpus) > vm->kvm_.max_vcpus())
    return Error(fmt::format("--cpus {} is more than this host's KVM allows ({})", cfg.cpus,
                             vm->kvm_.max_vcpus()));
  vm->host_ = x86::detect_host_profile();
  VIREO_TRY(vm->setup_vm());
  // Devices first: the ACPI tables written with the boot image describe them.
  VIREO_TRY(vm->setup_devices(std::move(console_wake)));
  VIREO_TRY(vm->load_boot_image());
  // The kernel and initrd files were read into buffers that are freed now; glibc keeps
  // freed heap pages (and, once a large block was freed, serves the next ones from the
  // heap), which left 4-5 MiB of a Linux boot's files resident for the VM's lifetime.
  ::malloc_trim(0);
  VIREO_TRY(vm->setup_vcpus());
  if (cfg.on_reboot == OnReboot::kRestart) {
    VIREO_ASSIGN_OR_RETURN(auto msr_list, vm->kvm_.msr_index_list());
    VIREO_ASSIGN_OR_RETURN(vm->power_on_,
                           PowerOnState::capture(vm->vm_, vm->vcpu_fds(), x86::reset_msrs(msr_list)));
  }
  VIREO_TRY(vm->memory_slots_.get());
  if (vm->msr_filter_.valid()) VIREO_TRY(vm->msr_filter_.get());
  return vm;
}

Vm::~Vm() {
  sampler_.reset();
  for (auto& v : vcpus_) v->stop();
  vcpus_.clear();
}

// A thread of its own when one can be started; else (libstdc++) run at get().
constexpr auto kHelperThread = std::launch::async | std::launch::deferred;

Result<void> Vm::setup_vm() {
  VIREO_ASSIGN_OR_RETURN(vm_, kvm_.create_vm());
  // Two VM ioctls wait for an SRCU grace period before they return, which takes
  // milliseconds on some hosts (4-15 ms on ours) and was most of start-up: the MSR filter
  // (emulated-kernel-mode hosts only) that routes guest MSR_LSTAR writes to the VMM for
  // the SYSCALL repair, and registering the memory slots. Nothing before the first
  // KVM_RUN needs either (the boot image is written through our own mapping), so helper
  // threads issue them while the rest of the VM is built, and create() joins them before
  // any vCPU runs. Measured here, this order is the fastest (7.6 ms to the first guest
  // instruction; 17 ms with both waits in line, 8.5-15 ms with other orders).
  if (host_.emulated_kernel_mode())
    msr_filter_ = std::async(kHelperThread, [this] { return SyscallRepair::enable(vm_); });
  VIREO_TRY(vm_.set_identity_map_address(kIdentityMapAddr));
  VIREO_TRY(vm_.set_tss_address(kTssAddr));
  VIREO_TRY(vm_.create_irqchip());
  VIREO_TRY(vm_.create_pit2());
  VIREO_ASSIGN_OR_RETURN(mem_, memory::GuestMemory::create(x86::ram_ranges(cfg_.memory)));
  memory_slots_ = std::async(kHelperThread, [this]() -> Result<void> {
    uint32_t slot = 0;
    for (const auto& r : mem_.regions())
      VIREO_TRY(vm_.set_user_memory_region(slot++, r.gpa, r.size, r.host));
    return {};
  });
  return {};
}

Result<void> Vm::load_boot_image() {
  VIREO_ASSIGN_OR_RETURN(auto image, read_file(cfg_.kernel_path, "kernel"));
  auto loaded = load_kernel_image(image);
  if (!loaded.ok()) return loaded.error().context(fmt::format("kernel '{}'", cfg_.kernel_path));
  kernel_ = std::move(*loaded);

  const bool linux_kernel = looks_like_linux(image);
  cmdline_ = with_virtio_mmio_switches(cfg_.cmdline, linux_kernel);
  if (host_.emulated_kernel_mode() && linux_kernel) {
    const size_t before = cmdline_.size();
    cmdline_ = x86::add_emulated_host_switches(cmdline_, cfg_.boot_tuning);
    host_switches_ = cmdline_.substr(std::min(cmdline_.size(), before + (before ? 1 : 0)));
  }

  x86::BootInfo info;
  std::optional<x86::PciHostBridge> pci;
  std::vector<x86::E820Entry> reserved;
  if (devices_->has_pci()) {
    pci = x86::PciHostBridge{.ecam_base = layout::kPciEcamBase,
                             .bus_first = 0,
                             .bus_last = layout::kPciBusLast,
                             .mmio32_base = layout::kPciMmio32Start,
                             .mmio32_size = layout::kPciMmio32Size,
                             .mmio64_base = layout::pci_mmio64_start(cfg_.memory),
                             .mmio64_size = layout::kPciMmio64Size};
    // Linux uses ECAM only where firmware reserved it.
    reserved.push_back({layout::kPciEcamBase, x86::pci_ecam_size(*pci), x86::E820Type::kReserved});
  }
  info.e820 = x86::build_e820(cfg_.memory, reserved);
  if (cmdline_.size() + 1 > x86::cmdline_capacity(kernel_))
    return Error(fmt::format("--cmdline is {} bytes; this kernel takes at most {}",
                             cmdline_.size(), x86::cmdline_capacity(kernel_) - 1));
  VIREO_TRY(x86::write_cmdline(mem_, cmdline_, layout::kCmdlineMax));
  info.cmdline_gpa = layout::kCmdline;
  info.cmdline_size = cmdline_.size() + 1;

  if (cfg_.initrd_path) {
    VIREO_ASSIGN_OR_RETURN(auto initrd, read_file(*cfg_.initrd_path, "initrd"));
    uint64_t max_addr = 0xffffffff;
    if (kernel_.setup_header) max_addr = kernel_.setup_header->initrd_addr_max;
    auto gpa = x86::place_initrd(mem_, initrd.size(), max_addr, kernel_.image_end);
    if (!gpa.ok()) return gpa.error().context(fmt::format("initrd '{}'", *cfg_.initrd_path));
    VIREO_TRY(mem_.write(*gpa, initrd));
    info.initrd_gpa = *gpa;
    info.initrd_size = initrd.size();
  }

  VIREO_ASSIGN_OR_RETURN(auto acpi,
                         x86::build_acpi_tables({cfg_.cpus, devices_->aml(), pci}, layout::kAcpiStart));
  VIREO_TRY(mem_.write(acpi.base_gpa, acpi.blob));
  info.rsdp_gpa = acpi.rsdp_gpa;
  // The MP table (for guests booted with acpi=off) has room for kMpTableMaxCpus in the
  // EBDA; larger VMs are described by ACPI only.
  if (cfg_.cpus <= x86::kMpTableMaxCpus) {
    VIREO_ASSIGN_OR_RETURN(auto mptable, x86::build_mptable(cfg_.cpus, layout::kEbdaStart));
    VIREO_TRY(mem_.write(layout::kEbdaStart, mptable));
  }

  VIREO_TRY(x86::write_reset_vector(mem_));
  if (kernel_.protocol == x86::BootProtocol::kPvh) {
    VIREO_TRY(x86::write_pvh_start_info(mem_, info));
    VIREO_TRY(x86::write_boot_tables(mem_, x86::EntryMode::kProtected32));
  } else {
    VIREO_TRY(x86::write_linux_boot_params(mem_, kernel_, info));
    VIREO_TRY(x86::write_boot_tables(mem_, x86::EntryMode::kLong64));
  }
  return {};
}

Result<x86::LoadedKernel> Vm::load_kernel_image(std::span<const uint8_t> image) {
  if (!x86::is_bzimage(image) || !cfg_.unpack_bzimage) return x86::load_kernel(mem_, image);
  // Unpack the bzImage on the host and enter the kernel's 64-bit entry directly: its own
  // decompressor would run in the guest (slow, and emulated on some hosts).
  VIREO_ASSIGN_OR_RETURN(auto bz, x86::parse_bzimage(image));
  VIREO_ASSIGN_OR_RETURN(auto unpacked, x86::unpack_bzimage_cached(image, x86::default_cache_dir()));
  VIREO_ASSIGN_OR_RETURN(auto elf, x86::load_elf(mem_, unpacked.vmlinux));
  auto payload = x86::find_bzimage_payload(image);
  x86::LoadedKernel k;
  k.protocol = x86::BootProtocol::kLinux64;
  k.entry = elf.entry;
  k.image_start = elf.image_start;
  k.image_end = std::max(elf.image_end, bz.load_addr + bz.header.init_size);
  k.setup_header = bz.header;
  k.format = fmt::format("bzImage (protocol {}.{:02}, {} payload unpacked on the host{})",
                         bz.protocol >> 8, bz.protocol & 0xff,
                         payload.ok() ? x86::compression_name(payload->compression) : "?",
                         unpacked.cache_hit ? ", cached" : "");
  return k;
}

// Linux kernels get the host-profile switches; our small test guests do not. Every
// vmlinux carries its banner; only images of some size are searched (test guests are tiny).
bool Vm::looks_like_linux(std::span<const uint8_t> image) {
  if (x86::is_bzimage(image)) return true;
  if (image.size() < (1u << 20)) return false;
  static constexpr std::string_view kBanner = "Linux version ";
  return std::search(image.begin(), image.end(), kBanner.begin(), kBanner.end()) != image.end();
}

Result<void> Vm::setup_devices(devices::Serial::WakeFn console_wake) {
  using devices::BusKind;
  devices_ = std::make_unique<DeviceManager>(pio_bus_, mmio_bus_);
  auto com1_irq = std::make_shared<IrqLine>(vm_, layout::kIrqCom1);
  // The terminal's wake goes to the device it is the console of.
  if (cfg_.console == ConsoleKind::kVirtio) {
    VIREO_ASSIGN_OR_RETURN(virtio_console_, virtio::Console::create(console_wake));
    console_wake = nullptr;
  }
  serial_ = std::make_shared<devices::Serial>(com1_irq, std::move(console_wake));
  VIREO_TRY(devices_->add_fixed("com1", serial_, BusKind::kPio, layout::kPortCom1,
                                devices::Serial::kRegisterCount, layout::kIrqCom1));
  VIREO_TRY(devices_->add_fixed("rtc", std::make_shared<devices::Rtc>(), BusKind::kPio,
                                layout::kPortRtc, devices::Rtc::kPortCount, layout::kIrqRtc));
  i8042_ = std::make_shared<devices::I8042>([this] { request_stop({StopReason::kReset}); },
                                            std::make_shared<IrqLine>(vm_, layout::kIrqI8042Kbd));
  VIREO_TRY(devices_->add_fixed(
      "i8042", i8042_,
      BusKind::kPio, layout::kPortI8042, devices::I8042::kPortSpan, layout::kIrqI8042Kbd));
  VIREO_TRY(devices_->add_fixed("debug-exit",
                                std::make_shared<devices::DebugExit>([this](uint32_t v) {
                                  request_stop({StopReason::kDebugExit, v});
                                }),
                                BusKind::kPio, layout::kPortDebugExit,
                                devices::DebugExit::kPortSpan, std::nullopt));
  VIREO_TRY(devices_->add_fixed("acpi-pm",
                                std::make_shared<devices::AcpiPm>(
                                    [this] { request_stop({StopReason::kPowerOff}); },
                                    [this] { request_stop({StopReason::kReset}); }),
                                BusKind::kPio, layout::kPortAcpiPm, layout::kPortAcpiPmSize,
                                std::nullopt));
  if (cfg_.transport == Transport::kPci)
    VIREO_TRY(devices_->enable_pci(layout::pci_mmio64_start(cfg_.memory)));
  if (virtio_console_) VIREO_TRY(add_virtio("console0", virtio_console_));
  if (cfg_.rng) VIREO_TRY(add_virtio("rng0", std::make_shared<virtio::Rng>()));
  for (const auto& d : cfg_.disks) {
    auto disk = block::DiskImage::open(d.path, {.readonly = d.readonly, .direct = d.direct});
    if (!disk.ok()) return disk.error().context("--disk " + d.id);
    VIREO_TRY(add_virtio(d.id, std::make_shared<virtio::Block>(std::move(*disk), d.serial,
                                                                    virtio::Block::Engine::kAuto,
                                                                    d.limit)));
  }
  for (const auto& n : cfg_.nets) {
    auto tap = net::Tap::open(n.tap);
    if (!tap.ok()) return tap.error().context("--net " + n.id);
    const auto mac = n.mac.empty() ? virtio::derived_mac(n.id, n.tap) : *virtio::parse_mac(n.mac);
    VIREO_TRY(add_virtio(n.id, std::make_shared<virtio::Net>(std::move(*tap), mac, n.rx_limit, n.tx_limit)));
  }
  if (cfg_.balloon) {
    balloon_ = std::make_shared<virtio::Balloon>(virtio::BalloonOptions{
        .target_bytes = cfg_.balloon->size,
        .deflate_on_oom = cfg_.balloon->deflate_on_oom,
        .stats_seconds = cfg_.balloon->stats_seconds});
    VIREO_TRY(add_virtio("balloon0", balloon_));
  }
  if (cfg_.vsock) {
    auto vsock = virtio::Vsock::create(cfg_.vsock->cid, cfg_.vsock->uds);
    if (!vsock.ok()) return vsock.error().context("--vsock");
    VIREO_TRY(add_virtio("vsock0", std::move(*vsock)));
  }
  return {};
}

devices::ConsolePort& Vm::console_port() {
  if (virtio_console_) return *virtio_console_;
  return *serial_;
}

Result<void> Vm::add_virtio(std::string id, std::shared_ptr<virtio::VirtioDevice> device) {
  virtio_by_id_[id] = device;
  if (cfg_.transport == Transport::kPci) return add_virtio_pci(std::move(id), std::move(device));
  return add_virtio_mmio(std::move(id), std::move(device));
}

Result<void> Vm::add_virtio_pci(std::string id, std::shared_ptr<virtio::VirtioDevice> device) {
  if (!msi_routing_) msi_routing_ = std::make_unique<MsiRouting>(vm_);
  VIREO_ASSIGN_OR_RETURN(auto transport, virtio::PciTransport::create(std::move(device), mem_));
  std::vector<std::shared_ptr<pci::MsiVector>> vectors;
  for (uint16_t v = 0; v < transport->msix().count(); ++v) {
    auto vec = RoutedMsiVector::create(*msi_routing_, vm_);
    if (!vec.ok()) return vec.error().context(fmt::format("{} MSI-X vector {}", id, v));
    vectors.push_back(std::move(*vec));
  }
  transport->msix().attach(std::move(vectors));
  // Each queue's notification address gets an ioeventfd (any write width) wherever the
  // guest puts BAR 0; a queue the vCPU serves itself keeps exiting to the VMM.
  const virtio::PciTransport* t = transport.get();
  transport->set_notify_mover([this, t, id](std::optional<uint64_t> before,
                                            std::optional<uint64_t> now) {
    for (size_t q = 0; q < t->queue_count(); ++q) {
      if (t->device().served_on_vcpu(static_cast<uint16_t>(q))) continue;
      const int fd = t->kick(q).fd();
      const uint64_t off = virtio::PciTransport::notify_offset(q);
      if (before) (void)vm_.unregister_ioeventfd(fd, *before + off, 0, false, std::nullopt);
      if (now)
        if (auto r = vm_.register_ioeventfd(fd, *now + off, 0, false, std::nullopt); !r.ok())
          LOG_WARN("{} queue {}: {} (kicks exit to the VMM)", id, q, r.error().message());
    }
  });
  VIREO_TRY(devices_->add_pci(id, std::move(transport)));
  return {};
}

Result<void> Vm::add_virtio_mmio(std::string id, std::shared_ptr<virtio::VirtioDevice> device) {
  VIREO_ASSIGN_OR_RETURN(auto transport, virtio::MmioTransport::create(std::move(device), mem_));
  VIREO_ASSIGN_OR_RETURN(auto where,
                         devices_->add_mmio(id, transport, virtio::mmio::kPageSize, true));
  auto irq = IrqfdIrq::create(vm_, *where.gsi);
  if (!irq.ok()) return irq.error().context(id);
  transport->attach_irq(std::move(*irq));
  for (size_t q = 0; q < transport->queue_count(); ++q) {
    // A queue the vCPU serves itself needs its QueueNotify write to exit to the VMM.
    if (transport->device().served_on_vcpu(static_cast<uint16_t>(q))) continue;
    auto r = vm_.register_ioeventfd(transport->kick(q).fd(), where.base + virtio::mmio::kQueueNotify,
                                    4, false, q);
    if (!r.ok()) return r.error().context(fmt::format("{} queue {}", id, q));
  }
  virtio_mmio_.push_back(where);
  return {};
}

std::string Vm::with_virtio_mmio_switches(std::string cmdline, bool linux_kernel) const {
  // Linux with ACPI finds the devices in the DSDT; announcing them twice would make it
  // probe each one twice (the second probe fails noisily). Other kernels (the test
  // guests) and Linux booted with acpi=off get the switches.
  const bool acpi_off = (" " + cmdline + " ").find(" acpi=off ") != std::string::npos;
  if (linux_kernel && !acpi_off) return cmdline;
  for (const auto& where : virtio_mmio_) {
    if (!cmdline.empty()) cmdline += ' ';
    cmdline += virtio::MmioTransport::cmdline_token(where);
  }
  return cmdline;
}

Result<void> Vm::setup_vcpus() {
  VIREO_ASSIGN_OR_RETURN(auto supported_cpuid, kvm_.supported_cpuid());
  // On hosts that emulate guest kernel mode the guest's CPUID instruction sees the host's
  // raw CPUID, so assisted instructions follow the host's features.
  auto vcpu_table = x86::build_vcpu_cpuid(supported_cpuid, {0, cfg_.cpus});
  auto features = host_.emulated_kernel_mode()
                      ? x86::emu::CpuFeatures::host()
                      : x86::emu::CpuFeatures::from_cpuid([&](uint32_t f, uint32_t i) {
                          const auto* e = x86::find_cpuid(vcpu_table, f, i);
                          return e ? std::array<uint32_t, 4>{e->eax, e->ebx, e->ecx, e->edx}
                                   : std::array<uint32_t, 4>{0, 0, 0, 0};
                        });
  assist_ = std::make_unique<InsnAssist>(mem_, features);
  if (host_.emulated_kernel_mode()) syscall_repair_ = std::make_unique<SyscallRepair>(mem_, features);
  VIREO_ASSIGN_OR_RETURN(auto msr_list, kvm_.msr_index_list());
  const auto msrs = x86::boot_msrs(msr_list);
  const auto mode = kernel_.protocol == x86::BootProtocol::kPvh ? x86::EntryMode::kProtected32
                                                                  : x86::EntryMode::kLong64;
  const uint64_t boot_info =
      mode == x86::EntryMode::kLong64 ? layout::kZeroPage : layout::kPvhStartInfo;

  for (uint32_t id = 0; id < cfg_.cpus; ++id) {
    VIREO_ASSIGN_OR_RETURN(auto fd, vm_.create_vcpu(id));
    VIREO_TRY(fd.set_cpuid2(x86::build_vcpu_cpuid(supported_cpuid, {id, cfg_.cpus})));
    VIREO_TRY(fd.set_msrs(msrs));
    VIREO_TRY(fd.set_fpu(x86::boot_fpu()));
    VIREO_ASSIGN_OR_RETURN(auto lapic, fd.get_lapic());
    x86::setup_lapic_lint(lapic);
    VIREO_TRY(fd.set_lapic(lapic));
    if (id == 0) {
      // Application processors wait for INIT/SIPI from the guest (in-kernel LAPIC).
      VIREO_ASSIGN_OR_RETURN(auto sregs, fd.get_sregs());
      x86::setup_boot_sregs(sregs, mode);
      VIREO_TRY(fd.set_sregs(sregs));
      VIREO_TRY(fd.set_regs(x86::boot_regs(mode, kernel_.entry, boot_info)));
    }
    vcpus_.push_back(std::make_unique<Vcpu>(std::move(fd), pio_bus_, mmio_bus_, assist_.get(),
                                            syscall_repair_.get(),
                                            [this](StopEvent ev) { request_stop(std::move(ev)); }));
  }
  return {};
}

std::vector<kvm::VcpuFd*> Vm::vcpu_fds() {
  std::vector<kvm::VcpuFd*> fds;
  for (auto& v : vcpus_) fds.push_back(&v->fd());
  return fds;
}

Result<void> Vm::reset() {
  if (!power_on_) return Error("this VM was not built to restart in place (--on-reboot restart)");
  for (const auto& v : vcpus_)
    if (v->state() == VcpuState::kRunning || v->state() == VcpuState::kPaused)
      return Error("machine reset while the vCPUs run");
  // The vCPUs first: an exit one left half done completes into the old state.
  for (auto& v : vcpus_) VIREO_TRY(v->rearm());
  devices_->reset_all();
  for (const auto& r : mem_.regions())
    if (auto d = mem_.discard(r.gpa, r.size); !d.ok()) return d.error().context("machine reset");
  VIREO_TRY(load_boot_image());
  ::malloc_trim(0);
  VIREO_TRY(power_on_->restore(vm_, vcpu_fds()));
  // The boot vCPU enters the kernel just loaded (the file may have changed since).
  const auto mode = kernel_.protocol == x86::BootProtocol::kPvh ? x86::EntryMode::kProtected32
                                                                  : x86::EntryMode::kLong64;
  const uint64_t boot_info =
      mode == x86::EntryMode::kLong64 ? layout::kZeroPage : layout::kPvhStartInfo;
  VIREO_ASSIGN_OR_RETURN(auto sregs, vcpus_[0]->fd().get_sregs());
  x86::setup_boot_sregs(sregs, mode);
  VIREO_TRY(vcpus_[0]->fd().set_sregs(sregs));
  VIREO_TRY(vcpus_[0]->fd().set_regs(x86::boot_regs(mode, kernel_.entry, boot_info)));
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = StopEvent{};
  }
  stop_fd_.drain();
  paused_ = false;
  ++resets_;
  LOG_INFO("machine reset: restarting in place (reset {})", resets_);
  return {};
}

void Vm::report_metrics(metrics::Collector& out) const {
  out.scope("vm");
  out.gauge("vcpus", vcpus_.size());
  out.gauge("memory_bytes", cfg_.memory);
  out.gauge("paused", paused_ ? 1 : 0);
  out.counter("resets", resets_);
  if (started_at_ != std::chrono::steady_clock::time_point{})
    out.gauge("uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(
                                    std::chrono::steady_clock::now() - started_at_)
                                    .count());
  for (size_t i = 0; i < vcpus_.size(); ++i) {
    const VcpuExitCounts& e = vcpus_[i]->exits();
    out.scope("vcpu", "vcpu", std::to_string(i));
    out.counter("exit_io_in", e.io_in.load(std::memory_order_relaxed));
    out.counter("exit_io_out", e.io_out.load(std::memory_order_relaxed));
    out.counter("exit_mmio_read", e.mmio_read.load(std::memory_order_relaxed));
    out.counter("exit_mmio_write", e.mmio_write.load(std::memory_order_relaxed));
    out.counter("exit_interrupted", e.interrupted.load(std::memory_order_relaxed));
    out.counter("exit_hlt", e.hlt.load(std::memory_order_relaxed));
    out.counter("exit_assisted", e.assisted.load(std::memory_order_relaxed));
    out.counter("exit_msr", e.msr.load(std::memory_order_relaxed));
    out.counter("exit_debug", e.debug.load(std::memory_order_relaxed));
    out.counter("exit_system_event", e.system_event.load(std::memory_order_relaxed));
    out.counter("exit_shutdown", e.shutdown.load(std::memory_order_relaxed));
    out.counter("failures", e.failures.load(std::memory_order_relaxed));
  }
  for (const auto& [id, device] : virtio_by_id_) device->report_metrics(out, id);
}

void Vm::start() {
  Vcpu::install_kick_handler();
  started_at_ = std::chrono::steady_clock::now();
  if (cfg_.profile_path) {
    profiler_ = std::make_unique<GuestProfiler>();
    for (auto& v : vcpus_) v->set_profiler(profiler_.get());
  }
  for (auto& v : vcpus_) v->start();
  if (profiler_)
    sampler_ = std::make_unique<PeriodicThread>(
        std::chrono::microseconds(1'000'000 / cfg_.profile_hz), [this] {
          for (auto& v : vcpus_) v->request_sample();
        });
}

Result<void> Vm::pause() {
  if (paused_) return {};
  for (auto& v : vcpus_) v->pause();
  auto clock = vm_.get_clock();
  if (!clock.ok()) {  // the VM runs on, as it was
    for (auto& v : vcpus_) v->resume();
    return clock.error().context("pausing the VM");
  }
  for (auto& v : vcpus_) (void)v->fd().kvmclock_ctrl();  // EINVAL: no kvmclock in the guest
  paused_ = true;
  paused_clock_ = clock->clock;
  devices_->pause_all();
  return {};
}

Result<void> Vm::resume() {
  if (!paused_) return {};
  devices_->resume_all();
  kvm_clock_data c{};
  c.clock = paused_clock_;
  auto r = vm_.set_clock(c);
  for (auto& v : vcpus_) v->resume();
  paused_ = false;
  if (!r.ok()) return r.error().context("resuming the VM");
  return {};
}

Result<void> Vm::send_ctrl_alt_del() {
  if (!i8042_->send_ctrl_alt_del())
    return Error("the guest's keyboard is not listening (no driver enabled it, or its buffer is full)");
  return {};
}

std::vector<VcpuState> Vm::vcpu_states() const {
  std::vector<VcpuState> out;
  for (const auto& v : vcpus_) out.push_back(v->state());
  return out;
}

Result<uint64_t> Vm::guest_clock_ns() const {
  VIREO_ASSIGN_OR_RETURN(auto c, vm_.get_clock());
  return static_cast<uint64_t>(c.clock);
}

void Vm::request_stop(StopEvent ev) {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stop_.reason != StopReason::kNone) return;
    stop_ = std::move(ev);
  }
  for (auto& v : vcpus_) v->stop();
  stop_fd_.signal();
}

StopEvent Vm::stop_and_join() {
  sampler_.reset();
  for (auto& v : vcpus_) v->stop();
  for (auto& v : vcpus_) v->join();
  std::lock_guard<std::mutex> lock(stop_mu_);
  return stop_;
}

}  // namespace vireo::vmm
