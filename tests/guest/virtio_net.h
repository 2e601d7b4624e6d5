/* Shared between virtio_net.c (ring 0: finding and setting up the device, reporting) and
 * virtio_net_user.c (the packet loops and their checks, in the .user page: they run in
 * ring 3, or are called from ring 0 with ring=0). The frames are common/net_frame.h's.
 *
 * Buffers: NET_SLOTS slots of NET_SLOT_BYTES per queue, in the .user page (net_rx_slots,
 * net_tx_slots). A slot holds the 12-byte virtio_net_hdr (v1), then the frame; an RX
 * buffer offers the device NET_RX_BUF_BYTES of it, the rest is a guard that must keep
 * the canary. */
#ifndef VIREO_GUEST_VIRTIO_NET_H
#define VIREO_GUEST_VIRTIO_NET_H

#include <stdint.h>

#include "net_frame.h"
#include "virtio.h"

/* Feature bits (virtio 1.2, 5.1.3). */
#define VIRTIO_NET_F_MAC 5

#define NET_RXQ 0
#define NET_TXQ 1
#define NET_HDR_BYTES 12 /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define NET_HDR_NUM_BUFFERS 10
#define NET_SLOTS VIRTQ_MAX
#define NET_SLOT_BYTES 2048
#define NET_RX_BUF_BYTES (NET_HDR_BYTES + NET_FRAME_MAX)
#define NET_CANARY 0xa5
/* Frames of other types the host may put on the tap (IPv6 neighbour discovery, ...):
 * mode=check skips this many at most. */
#define NET_MAX_OTHER 64

/* The host's side of mode=check: it injects frames from this address to the guest's. */
#define NET_HOST_MAC {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
#define NET_BROADCAST {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

struct net_failure {
  const char* what; /* NULL: every check passed */
  uint32_t seq;     /* the frame concerned */
  uint64_t got, want;
  uint32_t at;      /* the byte of the slot (header and frame) concerned */
};

struct net_job {
  struct virtio_dev dev;
  struct virtq rx, tx;
  uint8_t mac[6];   /* from the device configuration */
  uint64_t timeout; /* TSC cycles to wait for one used entry */
  bool num_buffers_any; /* num_buffers=any: do not check it (QEMU 7.2 leaves it unwritten) */
  struct net_failure fail;
  /* mode=bench */
  uint32_t size;    /* frame bytes */
  uint64_t want;    /* frames to send or receive */
  /* results (mode=check and mode=bench) */
  uint64_t frames, bytes, kicks, other;
};

/* In the .user page. */
extern struct net_job net_job;
extern struct virtq_rings net_rings[2];
extern uint8_t net_stack[16384];

/* What net_run / net_user_main do. */
#define NET_RUN_RX_POST 1   /* fill every RX buffer with the canary, post them all, kick */
#define NET_RUN_TX_CHECK 2  /* mode=check: send NET_CHECK_FRAMES frames, all used */
#define NET_RUN_RX_CHECK 3  /* mode=check: receive and check NET_CHECK_FRAMES frames */
#define NET_RUN_TX_PREP 4   /* mode=bench dir=tx: a frame of net_job.size in every slot */
#define NET_RUN_TX_BENCH 5  /* mode=bench dir=tx: send net_job.want frames */
#define NET_RUN_RX_BENCH 6  /* mode=bench dir=rx: receive net_job.want frames */
uint64_t net_run(uint64_t what);
/* Ring-3 entry for user_run: leaves ring 3 with net_run(what). */
void net_user_main(uint64_t what);

#endif
