// A memory barrier in every thread of this process, for the rare side of an asymmetric
// fence (the frequent side then needs only a compiler barrier).
#pragma once

#include "util/result.h"

namespace vireo {

// membarrier(2) MEMBARRIER_CMD_PRIVATE_EXPEDITED (registering the process first, which
// is idempotent): when it returns, every thread of the process that was running has
// executed a full memory barrier, and the others have been through a context switch, which
// is one. Costs an IPI per CPU running one of our threads; the first call also waits for
// an RCU grace period (milliseconds). Fails where the kernel (before 4.14) or a seccomp
// filter does not allow it.
Result<void> process_memory_barrier();

}  // namespace vireo
