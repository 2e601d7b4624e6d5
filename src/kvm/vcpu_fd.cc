#include "kvm/vcpu_fd.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <fmt/format.h>

#include "kvm/abi.h"
#include "kvm/ioctl.h"

#include <algorithm>
#include <cstring>

namespace vireo::kvm {

VcpuFd::~VcpuFd() { unmap(); }

VcpuFd::VcpuFd(VcpuFd&& o) noexcept
    : fd_(std::move(o.fd_)), run_(std::exchange(o.run_, nullptr)),
      run_size_(o.run_size_), id_(o.id_) {}

VcpuFd& VcpuFd::operator=(VcpuFd&& o) noexcept {
  if (this != &o) {
    unmap();
    fd_ = std::move(o.fd_);
    run_ = std::exchange(o.run_, nullptr);
    run_size_ = o.run_size_;
    id_ = o.id_;
  }
  return *this;
}

void VcpuFd::unmap() {
  if (run_) ::munmap(run_, run_size_);
  run_ = nullptr;
}

Result<bool> VcpuFd::run() const {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  return Error::from_errno(fmt::format("KVM_RUN (vCPU {})", id_));
}

#define VCPU_GET(type, req, name)                                   \
  Result<type> VcpuFd::name() const {                               \
    type v{};                                                       \
    auto r = VIREO_IOCTL(fd_.get(), req, &v);                       \
    if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_)); \
    return v;                                                       \
  }
#define VCPU_SET(type, req, name)                                   \
  Result<void> VcpuFd::name(const type& v) const {                  \
    auto r = VIREO_IOCTL(fd_.get(), req, &v);                       \
    if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_)); \
    return {};                                                      \
  }

Result<void> VcpuFd::kvmclock_ctrl() const {
  auto r = VIREO_IOCTL(fd_.get(), KVM_KVMCLOCK_CTRL, 0);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return {};
}

VCPU_GET(kvm_regs, KVM_GET_REGS, get_regs)
VCPU_SET(kvm_regs, KVM_SET_REGS, set_regs)
VCPU_GET(kvm_sregs, KVM_GET_SREGS, get_sregs)
VCPU_SET(kvm_sregs, KVM_SET_SREGS, set_sregs)
VCPU_GET(kvm_fpu, KVM_GET_FPU, get_fpu)
VCPU_SET(kvm_fpu, KVM_SET_FPU, set_fpu)
VCPU_GET(kvm_lapic_state, KVM_GET_LAPIC, get_lapic)
VCPU_SET(kvm_lapic_state, KVM_SET_LAPIC, set_lapic)
VCPU_GET(kvm_mp_state, KVM_GET_MP_STATE, get_mp_state)
VCPU_SET(kvm_mp_state, KVM_SET_MP_STATE, set_mp_state)
VCPU_GET(kvm_vcpu_events, KVM_GET_VCPU_EVENTS, get_vcpu_events)
VCPU_SET(kvm_vcpu_events, KVM_SET_VCPU_EVENTS, set_vcpu_events)
VCPU_GET(kvm_xcrs, KVM_GET_XCRS, get_xcrs)
VCPU_SET(kvm_xcrs, KVM_SET_XCRS, set_xcrs)
VCPU_SET(kvm_guest_debug, KVM_SET_GUEST_DEBUG, set_guest_debug)
VCPU_GET(kvm_debugregs, KVM_GET_DEBUGREGS, get_debugregs)

Result<uint32_t> VcpuFd::get_mxcsr() const {
  abi::Xsave x{};
  auto r = VIREO_IOCTL(fd_.get(), abi::kGetXsave, &x);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  uint32_t v;
  std::memcpy(&v, reinterpret_cast<const uint8_t*>(x.region) + abi::Xsave::kMxcsrOffset, 4);
  return v;
}

Result<void> VcpuFd::set_mxcsr(uint32_t mxcsr) const {
  abi::Xsave x{};
  auto r = VIREO_IOCTL(fd_.get(), abi::kGetXsave, &x);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  auto* bytes = reinterpret_cast<uint8_t*>(x.region);
  std::memcpy(bytes + abi::Xsave::kMxcsrOffset, &mxcsr, 4);
  uint64_t bv;
  std::memcpy(&bv, bytes + abi::Xsave::kXstateBvOffset, 8);
  bv |= abi::Xsave::kXfeatureSse;  // else KVM ignores the legacy SSE fields
  std::memcpy(bytes + abi::Xsave::kXstateBvOffset, &bv, 8);
  auto w = VIREO_IOCTL(fd_.get(), abi::kSetXsave, &x);
  if (!w.ok()) return w.error().context(fmt::format("vCPU {}", id_));
  return {};
}
VCPU_SET(kvm_debugregs, KVM_SET_DEBUGREGS, set_debugregs)

Result<void> VcpuFd::set_cpuid2(const std::vector<kvm_cpuid_entry2>& entries) const {
  std::vector<uint8_t> buf(sizeof(abi::CpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
  auto* c = reinterpret_cast<abi::CpuidHeader*>(buf.data());
  c->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.data() + sizeof(abi::CpuidHeader), entries.data(), entries.size() * sizeof(kvm_cpuid_entry2));
  auto r = checked_ioctl(fd_.get(), abi::kSetCpuid2, "KVM_SET_CPUID2", c);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return {};
}

Result<void> VcpuFd::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const {
  std::vector<uint8_t> buf(sizeof(abi::MsrsHeader) + msrs.size() * sizeof(kvm_msr_entry));
  auto* m = reinterpret_cast<abi::MsrsHeader*>(buf.data());
  auto* entries = reinterpret_cast<kvm_msr_entry*>(buf.data() + sizeof(abi::MsrsHeader));
  m->nmsrs = static_cast<uint32_t>(msrs.size());
  for (size_t i = 0; i < msrs.size(); ++i) {
    entries[i].index = msrs[i].first;
    entries[i].data = msrs[i].second;
  }
  auto r = checked_ioctl(fd_.get(), abi::kSetMsrs, "KVM_SET_MSRS", m);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  if (static_cast<size_t>(*r) != msrs.size())
    return Error(fmt::format("KVM_SET_MSRS (vCPU {}): MSR {:#x} was rejected", id_,
                             msrs[*r].first));
  return {};
}

Result<std::vector<uint64_t>> VcpuFd::get_msrs(const std::vector<uint32_t>& indices) const {
  std::vector<uint8_t> buf(sizeof(abi::MsrsHeader) + indices.size() * sizeof(kvm_msr_entry));
  auto* m = reinterpret_cast<abi::MsrsHeader*>(buf.data());
  auto* entries = reinterpret_cast<kvm_msr_entry*>(buf.data() + sizeof(abi::MsrsHeader));
  m->nmsrs = static_cast<uint32_t>(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) entries[i].index = indices[i];
  auto r = checked_ioctl(fd_.get(), abi::kGetMsrs, "KVM_GET_MSRS", m);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  if (static_cast<size_t>(*r) != indices.size())
    return Error(fmt::format("KVM_GET_MSRS (vCPU {}): MSR {:#x} was rejected", id_,
                             indices[*r]));
  std::vector<uint64_t> out(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) out[i] = entries[i].data;
  return out;
}

}  // namespace vireo::kvm

namespace vireo::kvm {

Result<std::vector<kvm_cpuid_entry2>> VcpuFd::get_cpuid2() const {
  // How many entries KVM wrote: some kernels set nent to it on success, others leave
  // nent as it was given (and none reports it with E2BIG). So the room is filled with
  // all-ones bytes first, which no entry has (its padding is 0), and the entries are
  // those before the first untouched one.
  for (uint32_t n = 256; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(abi::CpuidHeader) + n * sizeof(kvm_cpuid_entry2), 0xff);
    auto* c = reinterpret_cast<abi::CpuidHeader*>(buf.data());
    c->nent = n;
    c->padding = 0;
    if (::ioctl(fd_.get(), abi::kGetCpuid2, c) == 0) {
      const uint8_t* entries = buf.data() + sizeof(abi::CpuidHeader);
      uint32_t count = std::min(c->nent, n);
      for (uint32_t i = 0; i < count; ++i) {
        const uint8_t* e = entries + size_t{i} * sizeof(kvm_cpuid_entry2);
        if (std::all_of(e, e + sizeof(kvm_cpuid_entry2), [](uint8_t b) { return b == 0xff; })) {
          count = i;
          break;
        }
      }
      std::vector<kvm_cpuid_entry2> out(count);
      std::memcpy(out.data(), entries, out.size() * sizeof(kvm_cpuid_entry2));
      return out;
    }
    if (errno != E2BIG) return Error::from_errno(fmt::format("KVM_GET_CPUID2 (vCPU {})", id_));
  }
  return Error(fmt::format("KVM_GET_CPUID2 (vCPU {}): more than 4096 entries", id_));
}

Result<std::vector<std::pair<uint32_t, uint64_t>>> VcpuFd::read_msrs(
    const std::vector<uint32_t>& indices, std::vector<uint32_t>* refused) const {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  out.reserve(indices.size());
  size_t from = 0;
  while (from < indices.size()) {
    const size_t n = indices.size() - from;
    std::vector<uint8_t> buf(sizeof(abi::MsrsHeader) + n * sizeof(kvm_msr_entry));
    auto* m = reinterpret_cast<abi::MsrsHeader*>(buf.data());
    auto* entries = reinterpret_cast<kvm_msr_entry*>(buf.data() + sizeof(abi::MsrsHeader));
    m->nmsrs = static_cast<uint32_t>(n);
    for (size_t i = 0; i < n; ++i) entries[i].index = indices[from + i];
    auto r = checked_ioctl(fd_.get(), abi::kGetMsrs, "KVM_GET_MSRS", m);
    if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
    const size_t got = std::min(static_cast<size_t>(*r), n);
    for (size_t i = 0; i < got; ++i) out.emplace_back(entries[i].index, entries[i].data);
    if (got < n && refused) refused->push_back(indices[from + got]);
    from += got + 1;
  }
  return out;
}

Result<std::vector<uint32_t>> VcpuFd::write_msrs(
    const std::vector<std::pair<uint32_t, uint64_t>>& msrs) const {
  std::vector<uint32_t> refused;
  size_t from = 0;
  while (from < msrs.size()) {
    const size_t n = msrs.size() - from;
    std::vector<uint8_t> buf(sizeof(abi::MsrsHeader) + n * sizeof(kvm_msr_entry));
    auto* m = reinterpret_cast<abi::MsrsHeader*>(buf.data());
    auto* entries = reinterpret_cast<kvm_msr_entry*>(buf.data() + sizeof(abi::MsrsHeader));
    m->nmsrs = static_cast<uint32_t>(n);
    for (size_t i = 0; i < n; ++i) {
      entries[i].index = msrs[from + i].first;
      entries[i].data = msrs[from + i].second;
    }
    auto r = checked_ioctl(fd_.get(), abi::kSetMsrs, "KVM_SET_MSRS", m);
    if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
    const size_t done = std::min(static_cast<size_t>(*r), n);
    if (done < n) refused.push_back(msrs[from + done].first);
    from += done + 1;
  }
  return refused;
}

Result<std::vector<uint8_t>> VcpuFd::get_xsave(uint32_t xsave2_size) const {
  const size_t size = std::max<size_t>(xsave2_size, sizeof(abi::Xsave));
  std::vector<uint8_t> area(size);
  auto r = xsave2_size ? checked_ioctl(fd_.get(), abi::kGetXsave2, "KVM_GET_XSAVE2", area.data())
                       : checked_ioctl(fd_.get(), abi::kGetXsave, "KVM_GET_XSAVE", area.data());
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return area;
}

Result<void> VcpuFd::set_xsave(std::span<const uint8_t> area) const {
  if (area.size() < sizeof(abi::Xsave))
    return Error(fmt::format("KVM_SET_XSAVE (vCPU {}): an area of {} bytes, less than {}", id_,
                             area.size(), sizeof(abi::Xsave)));
  auto r = checked_ioctl(fd_.get(), abi::kSetXsave, "KVM_SET_XSAVE", area.data());
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return {};
}

Result<uint32_t> VcpuFd::get_tsc_khz() const {
  auto r = VIREO_IOCTL(fd_.get(), KVM_GET_TSC_KHZ, 0);
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return static_cast<uint32_t>(*r);
}

Result<void> VcpuFd::set_tsc_khz(uint32_t khz) const {
  auto r = VIREO_IOCTL(fd_.get(), KVM_SET_TSC_KHZ, static_cast<unsigned long>(khz));
  if (!r.ok()) return r.error().context(fmt::format("vCPU {}", id_));
  return {};
}

}  // namespace vireo::kvm
