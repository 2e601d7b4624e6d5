// Checked ioctl calls: every failure names the ioctl and the errno.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>

#include "util/result.h"

namespace vireo::kvm {

// Retries on EINTR (except for KVM_RUN, whose EINTR is meaningful: see VcpuFd::run).
template <class Arg>
Result<int> checked_ioctl(int fd, unsigned long request, const char* name, Arg arg) {
  for (;;) {
    int r = ::ioctl(fd, request, arg);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return Error::from_errno(name);
  }
}

}  // namespace vireo::kvm

// VIREO_IOCTL(fd, KVM_CREATE_VM, 0) -> Result<int>, with "KVM_CREATE_VM" in the error.
#define VIREO_IOCTL(fd, req, arg) ::vireo::kvm::checked_ioctl((fd), (req), #req, (arg))
