/* Just enough ACPI to find the MADT: RSDP -> XSDT (or RSDT) -> tables. */
#include "runtime.h"

struct rsdp {
  char signature[8]; /* "RSD PTR " */
  uint8_t checksum;
  char oem_id[6];
  uint8_t revision;
  uint32_t rsdt;
  uint32_t length; /* revision >= 2 */
  uint64_t xsdt;
  uint8_t ext_checksum;
  uint8_t reserved[3];
} __attribute__((packed));

struct sdt_header {
  char signature[4];
  uint32_t length;
  uint8_t revision;
  uint8_t checksum;
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  uint32_t creator_id;
  uint32_t creator_revision;
} __attribute__((packed));

static bool sum_ok(const void* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; i++) s = (uint8_t)(s + ((const uint8_t*)p)[i]);
  return s == 0;
}

static const struct sdt_header* table_at(uint64_t paddr) {
  if (!paddr || paddr >= 0x100000000UL) return NULL;
  const struct sdt_header* h = (const struct sdt_header*)(uintptr_t)paddr;
  if (h->length < sizeof *h || !sum_ok(h, h->length)) return NULL;
  return h;
}

const void* acpi_find_table(const char sig[4]) {
  if (!start_info || !start_info->rsdp_paddr) return NULL;
  const struct rsdp* r = (const struct rsdp*)(uintptr_t)start_info->rsdp_paddr;
  if (memcmp(r->signature, "RSD PTR ", 8) != 0 || !sum_ok(r, 20)) return NULL;
  bool x = r->revision >= 2 && r->xsdt && sum_ok(r, r->length);
  const struct sdt_header* root = table_at(x ? r->xsdt : r->rsdt);
  if (!root) return NULL;
  size_t width = x ? 8 : 4;
  size_t n = (root->length - sizeof *root) / width;
  const uint8_t* entries = (const uint8_t*)(root + 1);
  for (size_t i = 0; i < n; i++) {
    uint64_t addr = 0;
    memcpy(&addr, entries + i * width, width);
    const struct sdt_header* t = table_at(addr);
    if (t && memcmp(t->signature, sig, 4) == 0) return t;
  }
  return NULL;
}

/* Calls fn for each MADT entry (type, length >= 2, within the table); -1 without MADT. */
static int madt_each(void (*fn)(const uint8_t* e, void* ctx), void* ctx) {
  const struct sdt_header* madt = acpi_find_table("APIC");
  if (!madt) return -1;
  const uint8_t* p = (const uint8_t*)madt + sizeof *madt + 8; /* LAPIC address, flags */
  const uint8_t* end = (const uint8_t*)madt + madt->length;
  while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
    fn(p, ctx);
    p += p[1];
  }
  return 0;
}

struct cpus_ctx {
  uint32_t* ids;
  int max;
  int n;
};

static void count_cpu(const uint8_t* e, void* ctx) {
  struct cpus_ctx* c = ctx;
  uint32_t id = 0, flags = 0;
  if (e[0] == 0 && e[1] >= 8) { /* Processor Local APIC */
    id = e[3];
    memcpy(&flags, e + 4, 4);
  } else if (e[0] == 9 && e[1] >= 16) { /* Processor Local x2APIC */
    memcpy(&id, e + 4, 4);
    memcpy(&flags, e + 8, 4);
  } else {
    return;
  }
  if (!(flags & 1)) return;
  if (c->n < c->max) c->ids[c->n] = id;
  c->n++;
}

int acpi_madt_cpus(uint32_t* ids, int max) {
  struct cpus_ctx c = {ids, max, 0};
  return madt_each(count_cpu, &c) < 0 ? -1 : c.n;
}

struct irq_ctx {
  unsigned irq;
  struct acpi_isa_irq* out;
};

static void find_irq(const uint8_t* e, void* ctx) {
  struct irq_ctx* c = ctx;
  if (e[0] == 1 && e[1] >= 12) { /* I/O APIC: id, reserved, address, GSI base */
    uint32_t addr, base;
    memcpy(&addr, e + 4, 4);
    memcpy(&base, e + 8, 4);
    if (base == 0) c->out->ioapic = addr;
  } else if (e[0] == 2 && e[1] >= 10 && e[3] == c->irq) { /* Interrupt Source Override */
    memcpy(&c->out->gsi, e + 4, 4);
    memcpy(&c->out->flags, e + 8, 2);
  }
}

void acpi_isa_irq(unsigned irq, struct acpi_isa_irq* out) {
  out->ioapic = IOAPIC_BASE;
  out->gsi = irq;
  out->flags = 0;
  struct irq_ctx c = {irq, out};
  madt_each(find_irq, &c);
}
