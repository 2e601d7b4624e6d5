/*
 * A small polling driver for virtio-mmio devices, version 2 (virtio 1.2, 4.2; no legacy
 * devices). No interrupts: the driver kicks QueueNotify and polls the used ring.
 *
 * Setup (finding, resetting, negotiating, queue registers, DRIVER_OK) is in
 * virtio_mmio.c and runs in ring 0. The split virtqueues and their operations (add,
 * kick, poll) are in virtqueue.h, shared with virtio_pci.h; for ring-3 queue loops the
 * device's register page must be user-accessible too (paging_set_user).
 */
#ifndef VIREO_GUEST_VIRTIO_MMIO_H
#define VIREO_GUEST_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

/* Register offsets (4.2.2). All are 32 bits wide and must be accessed as such. */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976u /* "virt" */

/* ---- Devices ---- */

struct virtio_mmio_dev {
  uint64_t base; /* the register page (guest-physical = virtual: identity map) */
  uint64_t size;
  uint32_t gsi;
  uint32_t device_id; /* 0 = no device behind the page */
  uint32_t vendor_id;
  uint64_t features; /* negotiated (after virtio_mmio_negotiate) */
};

static inline uint32_t virtio_mmio_read(const struct virtio_mmio_dev* d, uint32_t reg) {
  return *(volatile uint32_t*)(uintptr_t)(d->base + reg);
}
static inline void virtio_mmio_write(const struct virtio_mmio_dev* d, uint32_t reg, uint32_t v) {
  *(volatile uint32_t*)(uintptr_t)(d->base + reg) = v;
}
static inline uint32_t virtio_mmio_status(const struct virtio_mmio_dev* d) {
  return virtio_mmio_read(d, VIRTIO_MMIO_STATUS);
}

/* Fills up to `max` entries from the command line's `virtio_mmio.device=<size>@<base>:<gsi>`
 * switches (size in bytes with an optional K/M/G suffix, base in hex or decimal), reading
 * each page's identity. Returns how many there are (possibly more than `max`); fails the
 * guest on a malformed switch or a page that is not virtio-mmio version 2. */
int virtio_mmio_find_all(struct virtio_mmio_dev* out, int max);
/* The first device of type `device_id` on the command line; false if there is none. */
bool virtio_mmio_find(uint32_t device_id, struct virtio_mmio_dev* out);

/* Resets the device (Status 0, waits until it reads 0), sets ACKNOWLEDGE | DRIVER and
 * negotiates: accepts VIRTIO_F_VERSION_1 plus the bits of `wanted` the device offers,
 * then sets FEATURES_OK and checks that it stuck. Returns 0, or a negative number:
 * -1 no VERSION_1 offered, -2 FEATURES_OK refused (FAILED is set then). */
int virtio_mmio_negotiate(struct virtio_mmio_dev* d, uint64_t wanted);
/* Sets DRIVER_OK; returns the status read back (check VIRTIO_STATUS_NEEDS_RESET). */
uint32_t virtio_mmio_driver_ok(struct virtio_mmio_dev* d);
/* Status 0: the device forgets features and queues and leaves DEVICE_NEEDS_RESET. */
void virtio_mmio_reset(struct virtio_mmio_dev* d);

/* Programs queue `index` of `d` (after negotiation, before DRIVER_OK) with `size`
 * entries (0: the device's maximum, capped at VIRTQ_MAX) over `rings`, which it clears.
 * Returns the size, or a negative number: -1 no such queue / already live, -2 `size` is
 * not a power of two within the device's maximum. */
int virtio_mmio_queue_setup(struct virtio_mmio_dev* d, uint16_t index, struct virtq* q,
                struct virtq_rings* rings, uint16_t size);

#endif
