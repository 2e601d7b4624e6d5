#include "util/membarrier.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vireo {

namespace {
long membarrier(int cmd) { return ::syscall(SYS_membarrier, cmd, 0u, 0); }
}  // namespace

Result<void> process_memory_barrier() {
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0)
    return Error::from_errno("membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)");
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
    return Error::from_errno("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)");
  return {};
}

}  // namespace vireo
