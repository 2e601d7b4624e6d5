/* Ring-3 code of ring3.elf: linked into the user page (see guest.ld). It must not call
 * the runtime (supervisor pages): only inline code from the headers. */
#include "checksum.h"
#include "ring3.h"
#include "runtime.h"

struct ring3_job ring3_job;
uint8_t ring3_stack[16384] __attribute__((aligned(16)));

static __attribute__((noreturn)) void leave(uint64_t value) {
  switch (ring3_job.how) {
    case RET_INT80:
      user_return_int80(value);
    case RET_UD2:
      user_return_ud2(value);
    default:
      user_return_syscall(value);
  }
}

void ring3_checksum(uint64_t unused) {
  (void)unused;
  vireo_fill(ring3_job.buf, ring3_job.words);
  ring3_job.checksum = vireo_checksum(ring3_job.buf, ring3_job.words);
  leave(ring3_job.checksum);
}

void ring3_peek(uint64_t addr) {
  uint64_t v = *(volatile uint64_t*)(uintptr_t)addr;
  leave(v);
}
