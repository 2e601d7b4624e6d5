#include "arch/x86/reset_vector.h"

#include "arch/x86/layout.h"

namespace vireo::arch::x86 {

Result<void> write_reset_vector(const memory::GuestMemory& mem) {
  return mem.write_obj(layout::kBiosResetEntry, kResetVectorCode);
}

}  // namespace vireo::arch::x86
