// VmFd: one KVM virtual machine (memory slots, irqchip, PIT, interrupt lines, GSI
// routing, ioeventfds and irqfds).
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>

#include "kvm/gsi_routing.h"
#include "kvm/vcpu_fd.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::kvm {

class VmFd {
 public:
  VmFd() = default;
  VmFd(UniqueFd fd, int vcpu_mmap_size) : fd_(std::move(fd)), vcpu_mmap_size_(vcpu_mmap_size) {}

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION asked of this VM (KVM_CAP_CHECK_EXTENSION_VM, Linux 4.0+): the
  // answer can depend on the VM (irqchip created or not). 0 when absent.
  int check_extension(long cap) const;

  Result<void> set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size,
                                      void* host, uint32_t flags = 0) const;
  Result<void> set_tss_address(uint64_t addr) const;
  Result<void> set_identity_map_address(uint64_t addr) const;
  Result<void> create_irqchip() const;
  Result<void> create_pit2() const;
  // Drives an interrupt line of the in-kernel irqchip (PIC + IOAPIC).
  Result<void> set_irq_line(uint32_t gsi, bool level) const;
  Result<void> enable_cap(uint32_t cap, uint64_t arg0 = 0) const;
  // KVM_X86_SET_MSR_FILTER: guest accesses the filter denies exit to the VMM (with
  // KVM_CAP_X86_USER_SPACE_MSR enabled for KVM_MSR_EXIT_REASON_FILTER).
  Result<void> set_msr_filter(const kvm_msr_filter& filter) const;
  // KVM_GET_IRQCHIP / KVM_SET_IRQCHIP: the state of one chip of the in-kernel irqchip
  // (KVM_IRQCHIP_PIC_MASTER, _PIC_SLAVE or _IOAPIC).
  // The VM's kvmclock (KVM_GET_CLOCK / KVM_SET_CLOCK): nanoseconds of guest time. Setting
  // it back to a saved value makes the guest's clock skip the time in between (a pause).
  Result<kvm_clock_data> get_clock() const;
  Result<void> set_clock(const kvm_clock_data& clock) const;
  Result<kvm_irqchip> get_irqchip(uint32_t chip_id) const;
  Result<void> set_irqchip(const kvm_irqchip& chip) const;
  Result<kvm_pit_state2> get_pit2() const;
  Result<void> set_pit2(const kvm_pit_state2& pit) const;

  // KVM_IOEVENTFD: a guest write of `len` bytes to `addr` (a port when `pio`, else a
  // guest-physical MMIO address outside every memory slot) signals `eventfd` inside KVM
  // instead of exiting to the VMM; the vCPU continues at once. `len` is 1, 2, 4 or 8,
  // or 0 for an MMIO write of any length (KVM_CAP_IOEVENTFD_ANY_LENGTH; not with a
  // datamatch, and not for ports, which kernels of that capability's first version
  // refuse). With `datamatch`, only writes of that value count: other values exit as
  // usual (KVM_EXIT_IO / KVM_EXIT_MMIO).
  Result<void> register_ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio,
                                  std::optional<uint64_t> datamatch) const;
  // Removes the ioeventfd registered with exactly these arguments (ENOENT otherwise).
  Result<void> unregister_ioeventfd(int eventfd, uint64_t addr, uint32_t len, bool pio,
                                    std::optional<uint64_t> datamatch) const;

  // KVM_IRQFD: each write to `eventfd` injects `gsi` through the GSI routing table (an
  // edge: KVM raises and lowers the line; an MSI route sends its message). With
  // `resample_fd` (KVM_CAP_IRQFD_RESAMPLE) the line stays high until the guest's EOI,
  // which lowers it and signals resample_fd: level-triggered interrupts.
  Result<void> register_irqfd(int eventfd, uint32_t gsi,
                              std::optional<int> resample_fd = std::nullopt) const;
  Result<void> unregister_irqfd(int eventfd, uint32_t gsi) const;

  // KVM_SET_GSI_ROUTING: replaces KVM's whole routing table (start from
  // GsiRoutingTable::default_x86() to keep the PIC/IOAPIC routes). Needs the in-kernel
  // irqchip and KVM_CAP_IRQ_ROUTING, whose value bounds GSI numbers and table size.
  Result<void> set_gsi_routing(const GsiRoutingTable& table) const;

  // KVM_SIGNAL_MSI: sends one MSI message to the in-kernel LAPICs. true when it was
  // delivered, false when the guest blocked it (e.g. the destination LAPIC is
  // software-disabled). Needs the in-kernel irqchip and KVM_CAP_SIGNAL_MSI.
  Result<bool> signal_msi(uint64_t address, uint32_t data) const;

  Result<VcpuFd> create_vcpu(uint32_t id) const;

 private:
  // The VM answers KVM_CHECK_EXTENSION with 0 (not with an error: then the ioctl that
  // needs the capability reports its own).
  bool lacks(long cap) const;

  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

}  // namespace vireo::kvm
