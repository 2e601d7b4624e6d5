/* Ends the VM the ways a guest OS does, chosen with `via=` on the command line:
 *   via=acpi-s5     ACPI sleep control register: SLP_TYP=5 | SLP_EN (power off)
 *   via=acpi-reset  ACPI reset register (FADT RESET_REG, value 6)
 *   via=kbd         i8042 command 0xFE (pulse the reset line)
 * Nothing after the write should run: if it does, the guest fails. */
#include "runtime.h"

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  if (cmdline_is("via", "acpi-s5")) {
    printf("power: ACPI S5\n");
    outb(0x600, (5 << 2) | (1 << 5));
  } else if (cmdline_is("via", "acpi-reset")) {
    printf("power: ACPI reset\n");
    outb(0x602, 0x06);
  } else if (cmdline_is("via", "kbd")) {
    printf("power: i8042 reset\n");
    outb(0x64, 0xfe);
  } else {
    printf("FAIL: power: say via=acpi-s5|acpi-reset|kbd\n");
    return 1;
  }
  for (int i = 0; i < 1000; ++i) cpu_relax();
  printf("FAIL: power: still running\n");
  return 1;
}
