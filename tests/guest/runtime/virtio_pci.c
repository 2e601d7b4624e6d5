/* virtio-pci (modern), the ring-0 half: the bus scan, capabilities, moving the BAR,
 * initialization (3.1.1) and queue setup (4.1.5.1.3). See virtio_pci.h. */
#include "virtio_pci.h"

#include "runtime.h"

/* ---- Configuration mechanism #1 ---- */

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc

#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_CAPABILITIES 0x34
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10

/* Capabilities: the vendor-specific one carries struct virtio_pci_cap (4.1.4). */
#define PCI_CAP_VENDOR 0x09
#define VIRTIO_PCI_CAP_COMMON 1
#define VIRTIO_PCI_CAP_NOTIFY 2
#define VIRTIO_PCI_CAP_ISR 3
#define VIRTIO_PCI_CAP_DEVICE 4

static void select_register(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  outl(PCI_CONFIG_ADDRESS, 0x80000000u | (uint32_t)bus << 16 | (uint32_t)(slot & 31) << 11 |
                               (uint32_t)(function & 7) << 8 | (offset & 0xfc));
}

uint32_t pci_config_read32(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  select_register(bus, slot, function, offset);
  return inl(PCI_CONFIG_DATA);
}
uint16_t pci_config_read16(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  select_register(bus, slot, function, offset);
  return inw((uint16_t)(PCI_CONFIG_DATA + (offset & 2)));
}
uint8_t pci_config_read8(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset) {
  select_register(bus, slot, function, offset);
  return inb((uint16_t)(PCI_CONFIG_DATA + (offset & 3)));
}
void pci_config_write32(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset, uint32_t v) {
  select_register(bus, slot, function, offset);
  outl(PCI_CONFIG_DATA, v);
}
void pci_config_write16(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset, uint16_t v) {
  select_register(bus, slot, function, offset);
  outw((uint16_t)(PCI_CONFIG_DATA + (offset & 2)), v);
}

#define CFG_R8(d, o) pci_config_read8((d)->bus, (d)->slot, (d)->function, (o))
#define CFG_R16(d, o) pci_config_read16((d)->bus, (d)->slot, (d)->function, (o))
#define CFG_R32(d, o) pci_config_read32((d)->bus, (d)->slot, (d)->function, (o))
#define CFG_W16(d, o, v) pci_config_write16((d)->bus, (d)->slot, (d)->function, (o), (v))
#define CFG_W32(d, o, v) pci_config_write32((d)->bus, (d)->slot, (d)->function, (o), (v))

/* ---- Capabilities ---- */

/* Reads the virtio structures' locations; fails the guest if one it needs is missing. */
static void read_capabilities(struct virtio_pci_dev* d) {
  const char* const where = "virtio-pci";
  GUEST_CHECK(CFG_R16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST, "%s %02x:%02x.%x: no capability list",
              where, d->bus, d->slot, d->function);
  bool seen[5] = {false, false, false, false, false};
  int bar = -1;
  uint8_t at = CFG_R8(d, PCI_CAPABILITIES) & 0xfc;
  for (int n = 0; at && n < 48; n++, at = CFG_R8(d, at + 1) & 0xfc) {
    if (CFG_R8(d, at) != PCI_CAP_VENDOR) continue;
    const uint8_t type = CFG_R8(d, at + 3);
    if (type < VIRTIO_PCI_CAP_COMMON || type > VIRTIO_PCI_CAP_DEVICE || seen[type]) continue;
    const uint8_t cap_bar = CFG_R8(d, at + 4);
    const uint32_t offset = CFG_R32(d, at + 8), length = CFG_R32(d, at + 12);
    GUEST_CHECK(cap_bar < 6, "%s %02x:%02x.%x: capability type %u in BAR %u", where, d->bus,
                d->slot, d->function, type, cap_bar);
    /* The first structure of each type counts (4.1.4); this driver wants them all in one
     * BAR, as vireo and QEMU put them. */
    GUEST_CHECK(bar < 0 || bar == cap_bar, "%s %02x:%02x.%x: structures in BARs %d and %u",
                where, d->bus, d->slot, d->function, bar, cap_bar);
    bar = cap_bar;
    seen[type] = true;
    switch (type) {
      case VIRTIO_PCI_CAP_COMMON:
        GUEST_CHECK(length >= 0x38, "%s: common configuration of %u bytes", where, length);
        d->common = offset;
        break;
      case VIRTIO_PCI_CAP_NOTIFY:
        d->notify = offset;
        d->notify_multiplier = CFG_R32(d, at + 16);
        break;
      case VIRTIO_PCI_CAP_ISR: d->isr = offset; break;
      case VIRTIO_PCI_CAP_DEVICE:
        d->device_cfg = offset;
        d->device_cfg_len = length;
        break;
    }
  }
  GUEST_CHECK(seen[VIRTIO_PCI_CAP_COMMON] && seen[VIRTIO_PCI_CAP_NOTIFY],
              "%s %02x:%02x.%x: no common or notify capability", where, d->bus, d->slot,
              d->function);
  d->bar = (uint8_t)bar;
}

/* ---- Moving the BAR ---- */

static uint64_t window_next = VIRTIO_PCI_WINDOW_START;

static void move_bar(struct virtio_pci_dev* d) {
  const uint8_t reg = (uint8_t)(PCI_BAR0 + 4 * d->bar);
  const uint32_t low = CFG_R32(d, reg);
  GUEST_CHECK(!(low & 1), "virtio-pci %02x:%02x.%x: BAR %u is an I/O BAR", d->bus, d->slot,
              d->function, d->bar);
  const bool wide = ((low >> 1) & 3) == 2;
  GUEST_CHECK(!wide || d->bar < 5, "virtio-pci: 64-bit BAR 5");
  const uint32_t high = wide ? CFG_R32(d, reg + 4) : 0;
  d->bar_found = (low & ~0xfULL) | (uint64_t)high << 32;

  uint16_t command = CFG_R16(d, PCI_COMMAND);
  /* Firmware would have left the BAR decoding where it put it; vireo has none. */
  if (!(command & PCI_COMMAND_MEMORY) && d->bar_found) {
    command |= PCI_COMMAND_MEMORY;
    CFG_W16(d, PCI_COMMAND, command);
  }
  /* Memory decoding off while the BAR is sized and moved. */
  CFG_W16(d, PCI_COMMAND, (uint16_t)(command & ~PCI_COMMAND_MEMORY));
  CFG_W32(d, reg, 0xffffffffu);
  if (wide) CFG_W32(d, reg + 4, 0xffffffffu);
  uint64_t mask = CFG_R32(d, reg) & ~0xfULL;
  mask |= wide ? (uint64_t)CFG_R32(d, reg + 4) << 32 : 0xffffffff00000000ULL;
  d->bar_size = ~mask + 1;
  GUEST_CHECK(mask != 0 && (d->bar_size & (d->bar_size - 1)) == 0,
              "virtio-pci %02x:%02x.%x: BAR %u sizes to %#lx", d->bus, d->slot, d->function,
              d->bar, d->bar_size);

  const uint64_t addr = (window_next + d->bar_size - 1) & ~(d->bar_size - 1);
  GUEST_CHECK(addr + d->bar_size <= VIRTIO_PCI_WINDOW_END,
              "virtio-pci: no room for a BAR of %#lx bytes below %#llx", d->bar_size,
              VIRTIO_PCI_WINDOW_END);
  window_next = addr + d->bar_size;
  CFG_W32(d, reg, (uint32_t)addr | (low & 0xf));
  if (wide) CFG_W32(d, reg + 4, 0);
  const uint64_t now = (CFG_R32(d, reg) & ~0xfULL) |
                       (wide ? (uint64_t)CFG_R32(d, reg + 4) << 32 : 0);
  GUEST_CHECK(now == addr, "virtio-pci %02x:%02x.%x: BAR %u reads %#lx after writing %#lx",
              d->bus, d->slot, d->function, d->bar, now, addr);
  CFG_W16(d, PCI_COMMAND, (uint16_t)(command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER));
  d->base = addr;
}

/* ---- The scan ---- */

static bool is_virtio(uint32_t id) {
  const uint16_t vendor = (uint16_t)id, device = (uint16_t)(id >> 16);
  return vendor == VIRTIO_PCI_VENDOR && device > VIRTIO_PCI_DEVICE_BASE &&
         device < VIRTIO_PCI_DEVICE_BASE + 0x40;
}

int virtio_pci_find_all(struct virtio_pci_dev* out, int max) {
  int count = 0;
  for (uint8_t slot = 0; slot < 32; slot++) {
    const uint32_t id0 = pci_config_read32(0, slot, 0, PCI_VENDOR_ID);
    if ((uint16_t)id0 == 0xffff || (uint16_t)id0 == 0) continue;
    const uint8_t functions = (pci_config_read8(0, slot, 0, PCI_HEADER_TYPE) & 0x80) ? 8 : 1;
    for (uint8_t f = 0; f < functions; f++) {
      const uint32_t id = f ? pci_config_read32(0, slot, f, PCI_VENDOR_ID) : id0;
      if (!is_virtio(id)) continue;
      if (count < max) {
        struct virtio_pci_dev* d = &out[count];
        memset(d, 0, sizeof *d);
        d->slot = slot;
        d->function = f;
        d->pci_device_id = (uint16_t)(id >> 16);
        d->device_id = d->pci_device_id - VIRTIO_PCI_DEVICE_BASE;
        read_capabilities(d);
        move_bar(d);
      }
      count++;
    }
  }
  return count;
}

/* ---- Initialization ---- */

static void w8(const struct virtio_pci_dev* d, uint32_t off, uint8_t v) {
  *virtio_pci_common(d, off) = v;
}
static void w16(const struct virtio_pci_dev* d, uint32_t off, uint16_t v) {
  *(volatile uint16_t*)virtio_pci_common(d, off) = v;
}
static uint16_t r16(const struct virtio_pci_dev* d, uint32_t off) {
  return *(volatile uint16_t*)virtio_pci_common(d, off);
}
static void w32(const struct virtio_pci_dev* d, uint32_t off, uint32_t v) {
  *(volatile uint32_t*)virtio_pci_common(d, off) = v;
}
static uint32_t r32(const struct virtio_pci_dev* d, uint32_t off) {
  return *(volatile uint32_t*)virtio_pci_common(d, off);
}
/* 64-bit fields as two 32-bit halves, low first (4.1.3.1). */
static void w64(const struct virtio_pci_dev* d, uint32_t off, uint64_t v) {
  w32(d, off, (uint32_t)v);
  w32(d, off + 4, (uint32_t)(v >> 32));
}

void virtio_pci_reset(struct virtio_pci_dev* d) {
  w8(d, VIRTIO_PCI_COMMON_STATUS, 0);
  /* The reset is done when device_status reads 0 (4.1.4.3.2). */
  for (unsigned i = 0; virtio_pci_status(d) != 0; i++) {
    if (i == 1000000) guest_fail("virtio-pci at %#lx: reset does not finish", d->base);
    cpu_relax();
  }
  d->features = 0;
}

static void add_status(const struct virtio_pci_dev* d, uint8_t bits) {
  w8(d, VIRTIO_PCI_COMMON_STATUS, (uint8_t)(virtio_pci_status(d) | bits));
}

int virtio_pci_negotiate(struct virtio_pci_dev* d, uint64_t wanted) {
  virtio_pci_reset(d);
  add_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  add_status(d, VIRTIO_STATUS_DRIVER);
  const uint64_t version_1 = 1ULL << VIRTIO_F_VERSION_1;
  w32(d, VIRTIO_PCI_COMMON_DFSELECT, 1);
  uint64_t offered = (uint64_t)r32(d, VIRTIO_PCI_COMMON_DF) << 32;
  w32(d, VIRTIO_PCI_COMMON_DFSELECT, 0);
  offered |= r32(d, VIRTIO_PCI_COMMON_DF);
  if (!(offered & version_1)) {
    add_status(d, VIRTIO_STATUS_FAILED);
    return -1;
  }
  const uint64_t accepted = offered & (wanted | version_1);
  w32(d, VIRTIO_PCI_COMMON_GFSELECT, 0);
  w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)accepted);
  w32(d, VIRTIO_PCI_COMMON_GFSELECT, 1);
  w32(d, VIRTIO_PCI_COMMON_GF, (uint32_t)(accepted >> 32));
  add_status(d, VIRTIO_STATUS_FEATURES_OK);
  if (!(virtio_pci_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
    add_status(d, VIRTIO_STATUS_FAILED);
    return -2;
  }
  d->features = accepted;
  return 0;
}

uint32_t virtio_pci_driver_ok(struct virtio_pci_dev* d) {
  add_status(d, VIRTIO_STATUS_DRIVER_OK);
  return virtio_pci_status(d);
}

/* ---- Queues ---- */

int virtio_pci_queue_setup(struct virtio_pci_dev* d, uint16_t index, struct virtq* q,
                           struct virtq_rings* rings, uint16_t size) {
  if (index >= r16(d, VIRTIO_PCI_COMMON_NUMQ)) return -1;
  w16(d, VIRTIO_PCI_COMMON_Q_SELECT, index);
  /* Before the driver writes it, queue_size reads the device's maximum. */
  const uint16_t max = r16(d, VIRTIO_PCI_COMMON_Q_SIZE);
  if (max == 0 || r16(d, VIRTIO_PCI_COMMON_Q_ENABLE) != 0) return -1;
  if (size == 0) size = (uint16_t)(max < VIRTQ_MAX ? max : VIRTQ_MAX);
  if ((size & (size - 1)) != 0 || size > max || size > VIRTQ_MAX) return -2;

  const uint16_t notify_off = r16(d, VIRTIO_PCI_COMMON_Q_NOFF);
  virtq_init(q, rings, index, size,
             d->base + d->notify + (uint64_t)notify_off * d->notify_multiplier, 2);
  w16(d, VIRTIO_PCI_COMMON_Q_SIZE, size);
  w64(d, VIRTIO_PCI_COMMON_Q_DESC, (uint64_t)(uintptr_t)rings->desc);
  w64(d, VIRTIO_PCI_COMMON_Q_AVAIL, (uint64_t)(uintptr_t)&rings->avail);
  w64(d, VIRTIO_PCI_COMMON_Q_USED, (uint64_t)(uintptr_t)&rings->used);
  w16(d, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
  return size;
}
