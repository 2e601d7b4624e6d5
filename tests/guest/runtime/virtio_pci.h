/*
 * A small polling driver for virtio-pci devices, modern interface only (virtio 1.2, 4.1;
 * no legacy I/O BAR), with the split virtqueues of virtqueue.h. No interrupts: the driver
 * never enables MSI-X, kicks the queue's notification address and polls the used ring.
 *
 * Finding (virtio_pci_find_all): a scan of bus 0 through configuration mechanism #1
 * (ports 0xcf8/0xcfc: every slot, and functions 1-7 of multi-function devices) for
 * vendor 0x1af4, device 0x1040 + type; the capability list gives the virtio structures
 * (common configuration, notifications and their multiplier, ISR, device configuration),
 * which must all be in one memory BAR. Then, as an operating system that re-assigns
 * resources does, the driver moves that BAR into the 32-bit window: it sizes the BAR
 * (all ones, with memory decoding off), writes an address from VIRTIO_PCI_WINDOW_START
 * on, aligned to the size (upper dword 0 for a 64-bit BAR), and turns memory decoding
 * and bus mastering on. vireo places 64-bit BARs above 4 GiB, where the guests' identity
 * map does not reach, and leaves decoding off (it has no firmware); so that the move takes
 * the BAR off a live address (and vireo's ioeventfds with it), the driver first turns
 * decoding on where it found the BAR, as firmware would have left it.
 *
 * Setup (reset, negotiation, queues, DRIVER_OK) goes through the common configuration
 * structure in ring 0. For ring-3 queue loops the BAR must be user-accessible
 * (paging_set_user(d.base, d.bar_size)).
 */
#ifndef VIREO_GUEST_VIRTIO_PCI_H
#define VIREO_GUEST_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* modern devices: 0x1040 + virtio device ID */

/* Where moved BARs go: the 32-bit PCI window (vireo: 0xc0000000-0xcfffffff), after the
 * 2 MiB #PF hole the guests keep at 0xc0000000 (PF_HOLE_ADDR). */
#define VIRTIO_PCI_WINDOW_START 0xc0200000ULL
#define VIRTIO_PCI_WINDOW_END 0xd0000000ULL

/* struct virtio_pci_common_cfg (4.1.4.3). */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0c
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e
#define VIRTIO_PCI_COMMON_Q_DESC 0x20
#define VIRTIO_PCI_COMMON_Q_AVAIL 0x28
#define VIRTIO_PCI_COMMON_Q_USED 0x30

struct virtio_pci_dev {
  uint8_t bus, slot, function;
  uint16_t pci_device_id; /* 0x1040 + device_id */
  uint32_t device_id;     /* the virtio device type */
  uint8_t bar;            /* the BAR holding the virtio structures */
  uint64_t bar_size;
  uint64_t bar_found;     /* its address as found (vireo: above 4 GiB) */
  uint64_t base;          /* its address after the move: the registers are here */
  uint32_t common, notify, isr, device_cfg; /* offsets into the BAR */
  uint32_t device_cfg_len;                  /* 0: no device configuration */
  uint32_t notify_multiplier;
  uint64_t features; /* negotiated (after virtio_pci_negotiate) */
};

/* Configuration space through ports 0xcf8/0xcfc. */
uint32_t pci_config_read32(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset);
uint16_t pci_config_read16(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset);
uint8_t pci_config_read8(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset);
void pci_config_write32(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset, uint32_t v);
void pci_config_write16(uint8_t bus, uint8_t slot, uint8_t function, uint8_t offset, uint16_t v);

/* Fills up to `max` entries with the virtio-pci functions on bus 0, in slot order, each
 * with its BAR moved into the 32-bit window (see above). Returns how many there are
 * (possibly more than `max`; only the first `max` are moved). Fails the guest on a
 * function whose capabilities are missing or malformed, or when the window is full. */
int virtio_pci_find_all(struct virtio_pci_dev* out, int max);

static inline volatile uint8_t* virtio_pci_common(const struct virtio_pci_dev* d, uint32_t off) {
  return (volatile uint8_t*)(uintptr_t)(d->base + d->common + off);
}
static inline uint8_t virtio_pci_status(const struct virtio_pci_dev* d) {
  return *virtio_pci_common(d, VIRTIO_PCI_COMMON_STATUS);
}
/* Device configuration at `off` (within device_cfg_len) and the generation counter. */
static inline uint8_t virtio_pci_config8(const struct virtio_pci_dev* d, uint32_t off) {
  return *(volatile uint8_t*)(uintptr_t)(d->base + d->device_cfg + off);
}
static inline uint32_t virtio_pci_config32(const struct virtio_pci_dev* d, uint32_t off) {
  return *(volatile uint32_t*)(uintptr_t)(d->base + d->device_cfg + off);
}
static inline uint8_t virtio_pci_config_generation(const struct virtio_pci_dev* d) {
  return *virtio_pci_common(d, VIRTIO_PCI_COMMON_CFGGENERATION);
}

/* As virtio_mmio_negotiate: reset, ACKNOWLEDGE | DRIVER, VERSION_1 plus the offered bits
 * of `wanted`, FEATURES_OK. 0, or -1 no VERSION_1 offered, -2 FEATURES_OK refused. */
int virtio_pci_negotiate(struct virtio_pci_dev* d, uint64_t wanted);
/* Sets DRIVER_OK; returns the status read back. */
uint32_t virtio_pci_driver_ok(struct virtio_pci_dev* d);
/* Status 0 (waits until it reads 0): the device forgets features and queues. */
void virtio_pci_reset(struct virtio_pci_dev* d);
/* As virtio_mmio_queue_setup: queue_select, queue_size (0: the device's maximum, capped
 * at VIRTQ_MAX), the three ring addresses, queue_enable; the kick writes the index (16
 * bits) at notify + queue_notify_off * multiplier. Returns the size, or -1 no such queue /
 * already enabled, -2 a bad size. */
int virtio_pci_queue_setup(struct virtio_pci_dev* d, uint16_t index, struct virtq* q,
                           struct virtq_rings* rings, uint16_t size);

#endif
