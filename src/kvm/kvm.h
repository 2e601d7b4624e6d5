// Kvm: the /dev/kvm system fd, capability checks and host-wide queries.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kvm/vm_fd.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::kvm {

class Kvm {
 public:
  // Opens the device (default /dev/kvm) and checks the API version and the
  // capabilities vireo requires. Errors say how to fix the problem.
  static Result<Kvm> open(const std::string& path = "/dev/kvm");

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION; returns 0 when absent.
  int check_extension(long cap) const;
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }
  int max_vcpus() const;

  Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  Result<std::vector<uint32_t>> msr_index_list() const;
  Result<VmFd> create_vm() const;

  // Capabilities without which vireo cannot run, with their names for errors.
  struct RequiredCap {
    long cap;
    const char* name;
  };
  static const std::vector<RequiredCap>& required_caps();

 private:
  UniqueFd fd_;
  int vcpu_mmap_size_ = 0;
};

}  // namespace vireo::kvm
