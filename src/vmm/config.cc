#include "vmm/config.h"

#include <fmt/format.h>
#include <unistd.h>

#include "util/size.h"

namespace vireo::vmm {

Result<void> validate(const VmConfig& cfg) {
  if (cfg.kernel_path.empty()) return Error("--kernel is required");
  if (cfg.cpus == 0 || cfg.cpus > kMaxCpus)
    return Error(fmt::format("--cpus {} is out of range (1-{})", cfg.cpus, kMaxCpus));
  if (cfg.memory < (16ull << 20))
    return Error(fmt::format("--memory {} is too small (at least 16M)", format_size(cfg.memory)));
  if (cfg.memory % 4096 != 0)
    return Error(fmt::format("--memory {} is not a multiple of 4 KiB", format_size(cfg.memory)));
  if (cfg.memory > (1ull << 46))
    return Error(fmt::format("--memory {} is too large (at most 64T)", format_size(cfg.memory)));
  return {};
}

Result<void> validate_memory_for_host(uint64_t memory) {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return {};
  uint64_t host = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  if (memory > host)
    return Error(fmt::format("--memory {} is more than this host's {} of RAM",
                             format_size(memory), format_size(host)));
  return {};
}

}  // namespace vireo::vmm
