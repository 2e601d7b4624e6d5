/*
 * Waits for console input: prints "idle: waiting ...", then sleeps in `sti; hlt` and
 * takes COM1 receive interrupts (ISA IRQ 4 through the I/O APIC). Each line it receives
 * (ended by CR or LF) is printed back as "echo: <line>"; a `q` at the start of a line
 * prints "idle: quit" and exits with 0. Used to test signals, the console escape and
 * serial input.
 */
#include "runtime.h"

#define VEC_COM1 0x24
#define RBR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR_FCR (COM1 + 2)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)

static volatile char rx[256];
static volatile uint32_t rx_head, rx_tail, rx_irqs; /* written by the handler / main loop */

static void on_com1(struct trap_frame* f) {
  (void)f;
  (void)inb(IIR_FCR);
  while (inb(LSR) & 1) {
    char c = (char)inb(RBR);
    if (rx_head - rx_tail < sizeof rx) rx[rx_head++ % sizeof rx] = c;
  }
  rx_irqs++;
  lapic_eoi();
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  struct acpi_isa_irq irq;
  acpi_isa_irq(4, &irq);
  trap_set_handler(VEC_COM1, on_com1);
  lapic_enable();
  ioapic_route(irq.ioapic, irq.gsi, VEC_COM1, lapic_id(), irq.flags);
  outb(IIR_FCR, 0x07); /* FIFO on and cleared, interrupt at 1 byte */
  outb(MCR, 0x0b);     /* DTR, RTS, OUT2 (the IRQ line on PCs) */
  outb(IER, 0x01);     /* received data available */
  while (inb(LSR) & 1) (void)inb(RBR);
  printf("idle: waiting for input on COM1 (IRQ 4 -> GSI %u, vector %#x; q quits)\n", irq.gsi,
         VEC_COM1);

  char line[128];
  size_t len = 0;
  for (;;) {
    sti_hlt();
    cli();
    while (rx_tail != READ_ONCE(rx_head)) {
      char c = rx[rx_tail++ % sizeof rx];
      if (c == '\r' || c == '\n') {
        if (len) {
          printf("echo: ");
          serial_write(line, len);
          printf("\n");
        }
        len = 0;
      } else if (c == 'q' && len == 0) {
        printf("idle: quit (%u receive interrupts)\n", rx_irqs);
        return 0;
      } else if (len < sizeof line) {
        line[len++] = c;
      }
    }
  }
}
