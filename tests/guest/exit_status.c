/* Exits with the value of exit=N (default 0), after printing it and the command line. */
#include "runtime.h"

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  uint64_t v = cmdline_u64("exit", 0);
  if (v > 0xffffffffu) guest_fail("exit=%lu does not fit in 32 bits", v);
  printf("exit_status: %lu\n", v);
  const char* c = cmdline();
  printf("cmdline: ");
  serial_write(c, strlen(c));
  printf("\n");
  return (int)v;
}
