/* The smallest guest: one line on COM1, then exit with 0. */
#include "runtime.h"

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("Hello from vireo test guest\n");
  return 0;
}
