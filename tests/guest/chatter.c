/*
 * Prints numbered lines on COM1 (polled, waiting for THRE like Linux's console), for the
 * console tests: a terminal or pipe that stops reading must not stall the VMM.
 *   lines=N     print N lines, then go on (default 0: print forever)
 *   then=halt   afterwards, halt with interrupts off, never reading the UART (input
 *               piles up in the VMM)
 * Otherwise it exits with 0 after the lines.
 */
#include "runtime.h"

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  const uint64_t lines = cmdline_u64("lines", 0);
  for (uint64_t i = 1; lines == 0 || i <= lines; i++)
    printf("chatter %llu ..............................................................\n",
           (unsigned long long)i);
  printf("chatter: done\n");
  if (cmdline_is("then", "halt")) {
    for (;;) __asm__ volatile("cli; hlt");
  }
  return 0;
}
