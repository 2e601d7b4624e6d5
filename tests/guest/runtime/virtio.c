/* The transport switch over virtio_mmio.c and virtio_pci.c. See virtio.h. */
#include "virtio.h"

#include "runtime.h"

#define MAX_DEVICES 16

static int find_mmio(struct virtio_dev* out, int max) {
  struct virtio_mmio_dev all[MAX_DEVICES];
  int n = virtio_mmio_find_all(all, MAX_DEVICES);
  for (int i = 0; i < n && i < MAX_DEVICES && i < max; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].transport = VIRTIO_TRANSPORT_MMIO;
    out[i].device_id = all[i].device_id;
    out[i].base = all[i].base;
    out[i].size = all[i].size;
    out[i].mmio = all[i];
  }
  return n;
}

static int find_pci(struct virtio_dev* out, int max) {
  struct virtio_pci_dev all[MAX_DEVICES];
  int n = virtio_pci_find_all(all, MAX_DEVICES);
  for (int i = 0; i < n && i < MAX_DEVICES; i++) {
    const struct virtio_pci_dev* p = &all[i];
    printf("virtio: pci %02x:%02x.%x device %#x (type %u): BAR %u (%#lx bytes) moved from %#lx "
           "to %#lx\n",
           p->bus, p->slot, p->function, p->pci_device_id, p->device_id, p->bar, p->bar_size,
           p->bar_found, p->base);
    if (i >= max) continue;
    memset(&out[i], 0, sizeof out[i]);
    out[i].transport = VIRTIO_TRANSPORT_PCI;
    out[i].device_id = p->device_id;
    out[i].base = p->base;
    out[i].size = p->bar_size;
    out[i].pci = *p;
  }
  return n;
}

int virtio_find_all(struct virtio_dev* out, int max) {
  if (cmdline_is("transport", "pci")) return find_pci(out, max);
  if (cmdline_is("transport", "mmio")) return find_mmio(out, max);
  const char* v;
  size_t len;
  GUEST_CHECK(!cmdline_find("transport", &v, &len), "transport= must be mmio or pci");
  int n = find_mmio(out, max);
  return n > 0 ? n : find_pci(out, max);
}

bool virtio_find(uint32_t device_id, struct virtio_dev* out) {
  struct virtio_dev all[MAX_DEVICES];
  int n = virtio_find_all(all, MAX_DEVICES);
  for (int i = 0; i < n && i < MAX_DEVICES; i++) {
    if (all[i].device_id == device_id) {
      *out = all[i];
      return true;
    }
  }
  return false;
}

const char* virtio_transport_name(const struct virtio_dev* d) {
  return d->transport == VIRTIO_TRANSPORT_PCI ? "virtio-pci" : "virtio-mmio";
}

void virtio_describe(const struct virtio_dev* d, const char* prefix) {
  if (d->transport == VIRTIO_TRANSPORT_PCI)
    printf("%s at %#lx size %#lx, virtio-pci %02x:%02x.%x notify multiplier %u\n", prefix,
           d->base, d->size, d->pci.bus, d->pci.slot, d->pci.function, d->pci.notify_multiplier);
  else
    printf("%s at %#lx size %#lx, virtio-mmio gsi %u vendor %#x\n", prefix, d->base, d->size,
           d->mmio.gsi, d->mmio.vendor_id);
}

uint32_t virtio_status(const struct virtio_dev* d) {
  return d->transport == VIRTIO_TRANSPORT_PCI ? virtio_pci_status(&d->pci)
                                              : virtio_mmio_status(&d->mmio);
}

int virtio_negotiate(struct virtio_dev* d, uint64_t wanted) {
  int r;
  if (d->transport == VIRTIO_TRANSPORT_PCI) {
    r = virtio_pci_negotiate(&d->pci, wanted);
    d->features = d->pci.features;
  } else {
    r = virtio_mmio_negotiate(&d->mmio, wanted);
    d->features = d->mmio.features;
  }
  return r;
}

uint32_t virtio_driver_ok(struct virtio_dev* d) {
  return d->transport == VIRTIO_TRANSPORT_PCI ? virtio_pci_driver_ok(&d->pci)
                                              : virtio_mmio_driver_ok(&d->mmio);
}

void virtio_reset(struct virtio_dev* d) {
  if (d->transport == VIRTIO_TRANSPORT_PCI) virtio_pci_reset(&d->pci);
  else virtio_mmio_reset(&d->mmio);
  d->features = 0;
}

int virtio_queue_setup(struct virtio_dev* d, uint16_t index, struct virtq* q,
                       struct virtq_rings* rings, uint16_t size) {
  if (d->transport == VIRTIO_TRANSPORT_PCI)
    return virtio_pci_queue_setup(&d->pci, index, q, rings, size);
  return virtio_mmio_queue_setup(&d->mmio, index, q, rings, size);
}

uint8_t virtio_config8(const struct virtio_dev* d, uint32_t offset) {
  if (d->transport == VIRTIO_TRANSPORT_PCI) return virtio_pci_config8(&d->pci, offset);
  return *(volatile uint8_t*)(uintptr_t)(d->mmio.base + VIRTIO_MMIO_CONFIG + offset);
}

uint32_t virtio_config32(const struct virtio_dev* d, uint32_t offset) {
  if (d->transport == VIRTIO_TRANSPORT_PCI) return virtio_pci_config32(&d->pci, offset);
  return virtio_mmio_read(&d->mmio, VIRTIO_MMIO_CONFIG + offset);
}

static uint32_t generation(const struct virtio_dev* d) {
  if (d->transport == VIRTIO_TRANSPORT_PCI) return virtio_pci_config_generation(&d->pci);
  return virtio_mmio_read(&d->mmio, VIRTIO_MMIO_CONFIG_GENERATION);
}

uint64_t virtio_config64(const struct virtio_dev* d, uint32_t offset) {
  for (;;) {
    uint32_t gen = generation(d);
    uint64_t v = virtio_config32(d, offset) | (uint64_t)virtio_config32(d, offset + 4) << 32;
    if (generation(d) == gen) return v;
  }
}
