#include "kvm/vm_fd.h"

#include <sys/mman.h>

#include <fmt/format.h>

#include <string>

#include "kvm/abi.h"
#include "kvm/ioctl.h"

namespace vireo::kvm {
namespace {

// "ioeventfd on port 0x6000 (1 byte, value 0x5a)": the subject of ioeventfd errors.
std::string ioeventfd_name(uint64_t addr, uint32_t len, bool pio,
                           std::optional<uint64_t> datamatch) {
  std::string s = fmt::format("ioeventfd on {} {:#x} (", pio ? "port" : "MMIO", addr);
  s += len == 0 ? "any length" : fmt::format("{} byte{}", len, len == 1 ? "" : "s");
  if (datamatch) s += fmt::format(", value {:#x}", *datamatch);
  return s + ")";
}

kvm_ioeventfd ioeventfd_args(int eventfd, uint64_t addr, uint32_t len, bool pio,
                             std::optional<uint64_t> datamatch) {
  kvm_ioeventfd a{};
  a.addr = addr;
  a.len = len;
  a.fd = eventfd;
  if (pio) a.flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (datamatch) {
    a.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
    a.datamatch = *datamatch;
  }
  return a;
}

}  // namespace

int VmFd::check_extension(long cap) const {
  int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

bool VmFd::lacks(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap) == 0; }

Result<void> VmFd::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size,
                                          void* host, uint32_t flags) const {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = reinterpret_cast<uint64_t>(host);
  auto res = VIREO_IOCTL(fd_.get(), KVM_SET_USER_MEMORY_REGION, &r);
  if (!res.ok())
    return res.error().context(fmt::format("memory slot {} ({:#x}+{:#x})", slot, gpa, size));
  return {};
}

Result<void> VmFd::set_tss_address(uint64_t addr) const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(addr)));
  return {};
}

Result<void> VmFd::set_identity_map_address(uint64_t addr) const {
  uint64_t a = addr;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &a));
  return {};
}

Result<void> VmFd::create_irqchip() const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_CREATE_IRQCHIP, 0));
  return {};
}

Result<void> VmFd::create_pit2() const {
  kvm_pit_config cfg{};
  cfg.flags = KVM_PIT_SPEAKER_DUMMY;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_CREATE_PIT2, &cfg));
  return {};
}

Result<void> VmFd::set_irq_line(uint32_t gsi, bool level) const {
  kvm_irq_level l{};
  l.irq = gsi;
  l.level = level ? 1 : 0;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_IRQ_LINE, &l));
  return {};
}

Result<void> VmFd::enable_cap(uint32_t cap, uint64_t arg0) const {
  kvm_enable_cap c{};
  c.cap = cap;
  c.args[0] = arg0;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_ENABLE_CAP, &c));
  return {};
}

Result<void> VmFd::set_msr_filter(const kvm_msr_filter& filter) const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter));
  return {};
}

Result<kvm_clock_data> VmFd::get_clock() const {
  kvm_clock_data c{};
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_GET_CLOCK, &c));
  return c;
}

Result<void> VmFd::set_clock(const kvm_clock_data& clock) const {
  // Only the clock value: flags such as KVM_CLOCK_REALTIME would ask KVM to add the time
  // that passed since, which is what setting it back is meant to leave out.
  kvm_clock_data c{};
  c.clock = clock.clock;
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_CLOCK, &c));
  return {};
}

Result<kvm_irqchip> VmFd::get_irqchip(uint32_t chip_id) const {
  kvm_irqchip chip{};
  chip.chip_id = chip_id;
  auto r = VIREO_IOCTL(fd_.get(), KVM_GET_IRQCHIP, &chip);
  if (!r.ok()) return r.error().context(fmt::format("irqchip {}", chip_id));
  return chip;
}

Result<void> VmFd::set_irqchip(const kvm_irqchip& chip) const {
  auto r = VIREO_IOCTL(fd_.get(), KVM_SET_IRQCHIP, &chip);
  if (!r.ok()) return r.error().context(fmt::format("irqchip {}", chip.chip_id));
  return {};
}

Result<kvm_pit_state2> VmFd::get_pit2() const {
  kvm_pit_state2 pit{};
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_GET_PIT2, &pit));
  return pit;
}

Result<void> VmFd::set_pit2(const kvm_pit_state2& pit) const {
  VIREO_TRY(VIREO_IOCTL(fd_.get(), KVM_SET_PIT2, &pit));
  return {};
}

Result<void> VmFd::register_ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio,
                                      std::optional<uint64_t> datamatch) const {
  const std::string what = ioeventfd_name(addr, len, pio, datamatch);
  // KVM answers EINVAL to all of these; say which rule was broken.
  if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8)
    return Error(fmt::format("{}: the length must be 1, 2, 4 or 8 bytes (or 0: any)", what));
  if (pio && (addr > 0xffff || addr + len > 0x10000))
    return Error(fmt::format("{}: ports end at 0xffff", what));
  if (len == 0) {
    if (pio) return Error(fmt::format("{}: a port ioeventfd needs a length", what));
    if (datamatch) return Error(fmt::format("{}: matching a value needs a length", what));
    if (lacks(KVM_CAP_IOEVENTFD_ANY_LENGTH))
      return Error(fmt::format("{}: KVM lacks KVM_CAP_IOEVENTFD_ANY_LENGTH (upgrade the "
                               "host kernel, or give the length of the guest's writes)", what));
  }
  // KVM compares the zero-extended written value: a wider one could never match.
  if (datamatch && len < 8 && (*datamatch >> (8 * len)) != 0)
    return Error(fmt::format("{}: the value does not fit in the length", what));
  auto a = ioeventfd_args(eventfd, addr, len, pio, datamatch);
  auto r = VIREO_IOCTL(fd_.get(), KVM_IOEVENTFD, &a);
  if (!r.ok()) return r.error().context(what);
  return {};
}

Result<void> VmFd::unregister_ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio,
                                        std::optional<uint64_t> datamatch) const {
  auto a = ioeventfd_args(eventfd, addr, len, pio, datamatch);
  a.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  auto r = VIREO_IOCTL(fd_.get(), KVM_IOEVENTFD, &a);
  if (!r.ok())
    return r.error().context("removing " + ioeventfd_name(addr, len, pio, datamatch));
  return {};
}

Result<void> VmFd::register_irqfd(int eventfd, uint32_t gsi, std::optional<int> resample_fd) const {
  kvm_irqfd a{};
  a.fd = static_cast<uint32_t>(eventfd);
  a.gsi = gsi;
  if (resample_fd) {
    if (lacks(KVM_CAP_IRQFD_RESAMPLE))
      return Error(fmt::format("irqfd on GSI {}: KVM lacks KVM_CAP_IRQFD_RESAMPLE (level-"
                               "triggered irqfds; upgrade the host kernel)", gsi));
    a.flags |= KVM_IRQFD_FLAG_RESAMPLE;
    a.resamplefd = static_cast<uint32_t>(*resample_fd);
  }
  auto r = VIREO_IOCTL(fd_.get(), KVM_IRQFD, &a);
  if (!r.ok()) return r.error().context(fmt::format("irqfd on GSI {}", gsi));
  return {};
}

Result<void> VmFd::unregister_irqfd(int eventfd, uint32_t gsi) const {
  kvm_irqfd a{};
  a.fd = static_cast<uint32_t>(eventfd);
  a.gsi = gsi;
  a.flags = KVM_IRQFD_FLAG_DEASSIGN;
  auto r = VIREO_IOCTL(fd_.get(), KVM_IRQFD, &a);
  if (!r.ok()) return r.error().context(fmt::format("removing irqfd on GSI {}", gsi));
  return {};
}

Result<void> VmFd::set_gsi_routing(const GsiRoutingTable& table) const {
  // KVM_CAP_IRQ_ROUTING's value is KVM_MAX_IRQ_ROUTES: the bound on both the number of
  // routes and the GSI numbers (1024 before Linux 4.6, 4096 since).
  if (lacks(KVM_CAP_IRQ_ROUTING))
    return Error("KVM_SET_GSI_ROUTING: KVM lacks KVM_CAP_IRQ_ROUTING (upgrade the host kernel)");
  if (const int max_routes = check_extension(KVM_CAP_IRQ_ROUTING); max_routes > 0) {
    const auto max = static_cast<uint32_t>(max_routes);
    if (table.size() > max)
      return Error(fmt::format("GSI routing: {} routes, KVM takes at most {}", table.size(), max));
    for (const auto& route : table.routes())
      if (route.gsi >= max)
        return Error(fmt::format("GSI routing: GSI {} is beyond KVM's {} GSIs", route.gsi, max));
  }
  const KvmIrqRouting kvm_table = table.to_kvm();
  auto r = checked_ioctl(fd_.get(), abi::kSetGsiRouting, "KVM_SET_GSI_ROUTING", kvm_table.data());
  if (!r.ok()) return r.error().context(fmt::format("GSI routing ({} routes)", table.size()));
  return {};
}

Result<bool> VmFd::signal_msi(uint64_t address, uint32_t data) const {
  kvm_msi m{};
  m.address_lo = static_cast<uint32_t>(address);
  m.address_hi = static_cast<uint32_t>(address >> 32);
  m.data = data;
  auto r = VIREO_IOCTL(fd_.get(), KVM_SIGNAL_MSI, &m);
  if (!r.ok()) {
    // Asked only on failure: this is the interrupt path of every MSI.
    if (lacks(KVM_CAP_SIGNAL_MSI))
      return Error("KVM_SIGNAL_MSI: KVM lacks KVM_CAP_SIGNAL_MSI (upgrade the host kernel)",
                   r.error().os_errno());
    return r.error().context(fmt::format("MSI {:#x} data {:#x}", address, data));
  }
  return *r > 0;  // 0: the guest blocked it
}

Result<VcpuFd> VmFd::create_vcpu(uint32_t id) const {
  auto fd = VIREO_IOCTL(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (!fd.ok()) return fd.error().context(fmt::format("vCPU {}", id));
  UniqueFd vfd(*fd);
  void* p = ::mmap(nullptr, vcpu_mmap_size_, PROT_READ | PROT_WRITE, MAP_SHARED, vfd.get(), 0);
  if (p == MAP_FAILED) return Error::from_errno(fmt::format("mmap(kvm_run of vCPU {})", id));
  return VcpuFd(std::move(vfd), static_cast<kvm_run*>(p), vcpu_mmap_size_, id);
}

}  // namespace vireo::kvm
