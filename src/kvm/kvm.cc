#include "kvm/kvm.h"

#include <fcntl.h>

#include <fmt/format.h>

#include <cstring>
#include <memory>

#include "kvm/abi.h"
#include "kvm/ioctl.h"

namespace vireo::kvm {

const std::vector<Kvm::RequiredCap>& Kvm::required_caps() {
  static const std::vector<RequiredCap> caps = {
      {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
      {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
      {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
      {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
      {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
      {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
      {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
  };
  return caps;
}

Result<Kvm> Kvm::open(const std::string& path) {
  Kvm kvm;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT)
      return Error(fmt::format(
          "{} does not exist: KVM is not available (load the kvm_intel or kvm_amd module, "
          "and enable VT-x/AMD-V in the firmware)", path), err);
    if (err == EACCES || err == EPERM)
      return Error(fmt::format(
          "permission denied opening {}: run as root or add your user to the '{}' group "
          "(usermod -aG kvm $USER, then log in again)", path, "kvm"), err);
    return Error::from_errno(fmt::format("cannot open {}", path), err);
  }
  kvm.fd_.reset(fd);
  int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version < 0)
    return Error::from_errno(fmt::format("{} is not a KVM device (KVM_GET_API_VERSION)", path));
  if (version != KVM_API_VERSION)
    return Error(fmt::format("KVM API version {} is not supported (need {}): the host kernel "
                             "is too old or too new", version, KVM_API_VERSION));
  for (const auto& c : required_caps())
    if (kvm.check_extension(c.cap) <= 0)
      return Error(fmt::format("KVM is too old: it lacks {} (upgrade the host kernel)", c.name));
  auto size = VIREO_IOCTL(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (!size.ok()) return size.error();
  kvm.vcpu_mmap_size_ = *size;
  return kvm;
}

int Kvm::check_extension(long cap) const {
  int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

int Kvm::max_vcpus() const {
  int n = check_extension(KVM_CAP_MAX_VCPUS);
  if (n <= 0) n = check_extension(KVM_CAP_NR_VCPUS);
  return n <= 0 ? 4 : n;
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  // 256 entries fit every CPU seen so far: one ioctl (a call that is too small costs as
  // much as a full one).
  for (uint32_t n = 256; n <= 4096; n *= 2) {
    std::vector<uint8_t> buf(sizeof(abi::CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
    auto* c = reinterpret_cast<abi::CpuidHeader*>(buf.data());
    c->nent = n;
    if (::ioctl(fd_.get(), abi::kGetSupportedCpuid, c) == 0) {
      std::vector<kvm_cpuid_entry2> out(c->nent);
      std::memcpy(out.data(), buf.data() + sizeof(abi::CpuidHeader), c->nent * sizeof(kvm_cpuid_entry2));
      return out;
    }
    if (errno != E2BIG) return Error::from_errno("KVM_GET_SUPPORTED_CPUID");
  }
  return Error("KVM_GET_SUPPORTED_CPUID: too many entries");
}

Result<std::vector<uint32_t>> Kvm::msr_index_list() const {
  abi::MsrListHeader probe{0};
  if (::ioctl(fd_.get(), abi::kGetMsrIndexList, &probe) < 0 && errno != E2BIG)
    return Error::from_errno("KVM_GET_MSR_INDEX_LIST");
  std::vector<uint8_t> buf(sizeof(abi::MsrListHeader) + probe.nmsrs * sizeof(uint32_t));
  auto* list = reinterpret_cast<abi::MsrListHeader*>(buf.data());
  list->nmsrs = probe.nmsrs;
  auto r = checked_ioctl(fd_.get(), abi::kGetMsrIndexList, "KVM_GET_MSR_INDEX_LIST", list);
  if (!r.ok()) return r.error();
  std::vector<uint32_t> out(list->nmsrs);
  std::memcpy(out.data(), buf.data() + sizeof(abi::MsrListHeader), out.size() * sizeof(uint32_t));
  return out;
}

Result<VmFd> Kvm::create_vm() const {
  VIREO_ASSIGN_OR_RETURN(int fd, VIREO_IOCTL(fd_.get(), KVM_CREATE_VM, 0));
  return VmFd(UniqueFd(fd), vcpu_mmap_size_);
}

}  // namespace vireo::kvm
