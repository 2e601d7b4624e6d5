/*
 * One interface to the test guests' two virtio drivers: virtio-mmio (virtio_mmio.h) and
 * virtio-pci (virtio_pci.h), both polling, with the split virtqueues of virtqueue.h.
 *
 * virtio_find_all() picks the transport: the guest command line's `transport=mmio` or
 * `transport=pci` says which; without it, the virtio-mmio devices announced on the
 * command line (`virtio_mmio.device=`) if there are any, else the virtio-pci functions
 * on PCI bus 0 (whose BARs it moves into the 32-bit window, printing one line each).
 * Everything else is ring 0 setup that dispatches on the transport; the queue operations
 * are virtqueue.h's. For ring-3 queue loops: paging_set_user(d.base, d.size).
 */
#ifndef VIREO_GUEST_VIRTIO_H
#define VIREO_GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "virtqueue.h"

enum virtio_transport { VIRTIO_TRANSPORT_MMIO, VIRTIO_TRANSPORT_PCI };

struct virtio_dev {
  enum virtio_transport transport;
  uint32_t device_id; /* the virtio device type */
  uint64_t base;      /* the registers: the virtio-mmio page or the PCI BAR (moved) */
  uint64_t size;
  uint64_t features;  /* negotiated (after virtio_negotiate) */
  struct virtio_mmio_dev mmio; /* by transport */
  struct virtio_pci_dev pci;
};

/* Fills up to `max` entries (see above); returns how many there are. */
int virtio_find_all(struct virtio_dev* out, int max);
/* The first device of type `device_id`; false if there is none. */
bool virtio_find(uint32_t device_id, struct virtio_dev* out);
/* "virtio-mmio" or "virtio-pci". */
const char* virtio_transport_name(const struct virtio_dev* d);
/* Prints where the device is: `<prefix> at <base> size <size>, <transport> ...`. */
void virtio_describe(const struct virtio_dev* d, const char* prefix);

uint32_t virtio_status(const struct virtio_dev* d);
/* Reset, ACKNOWLEDGE | DRIVER, VERSION_1 plus the offered bits of `wanted`, FEATURES_OK:
 * 0, or -1 no VERSION_1, -2 FEATURES_OK refused. Sets d->features. */
int virtio_negotiate(struct virtio_dev* d, uint64_t wanted);
/* Sets DRIVER_OK; returns the status read back. */
uint32_t virtio_driver_ok(struct virtio_dev* d);
/* Status 0: the device forgets features and queues and leaves DEVICE_NEEDS_RESET. */
void virtio_reset(struct virtio_dev* d);
/* Queue `index` with `size` entries (0: the device's maximum, capped at VIRTQ_MAX) over
 * `rings`, after negotiation: the size, or -1 no such queue / already live, -2 bad size. */
int virtio_queue_setup(struct virtio_dev* d, uint16_t index, struct virtq* q,
                       struct virtq_rings* rings, uint16_t size);

/* The device-specific configuration. */
uint8_t virtio_config8(const struct virtio_dev* d, uint32_t offset);
uint32_t virtio_config32(const struct virtio_dev* d, uint32_t offset);
/* A 64-bit field as two halves, read again if the generation changed in between. */
uint64_t virtio_config64(const struct virtio_dev* d, uint32_t offset);

#endif
