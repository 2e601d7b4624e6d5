/* Shared between virtio_rng.c (ring 0: setup, the hostile mode, reporting) and
 * virtio_rng_user.c (the device loops and checks, in the .user page: they run in ring 3
 * with ring=3, or are called from ring 0). */
#ifndef VIREO_GUEST_VIRTIO_RNG_H
#define VIREO_GUEST_VIRTIO_RNG_H

#include <stdint.h>

#include "virtio.h"

#define RNG_CANARY 0xa5     /* what the buffers hold before the device fills them */
#define RNG_GUARD 64        /* canary bytes after each buffer that must stay untouched */
#define RNG_BUF_BYTES (320 * 1024)
#define RNG_READ_REQUESTS 10
#define RNG_MAX_PARTS 3

/* One request of mode=read: an optional device-readable header (the device must ignore
 * it), then up to RNG_MAX_PARTS device-writable parts. The device fills them all, up to
 * rng_job.cap bytes. */
struct rng_request {
  uint32_t header;
  uint32_t parts[RNG_MAX_PARTS];
};
extern const struct rng_request rng_requests[RNG_READ_REQUESTS];

/* What a loop found; `what` NULL means every check passed. */
struct rng_failure {
  const char* what;
  uint32_t request;
  uint64_t got, want;
};

struct rng_job {
  struct virtq q;
  uint64_t timeout;   /* TSC cycles to wait for one used entry */
  uint32_t rounds;    /* mode=inflight: full queues, each with one kick */
  uint32_t cap;       /* bytes the device gives per request at most (0: no limit) */
  uint32_t used_len[RNG_READ_REQUESTS];
  uint32_t canary_hits[RNG_READ_REQUESTS]; /* filled bytes that still read RNG_CANARY */
  uint32_t pending_before_kick;            /* mode=inflight, last round */
  uint64_t bytes;                          /* filled bytes checked */
  struct rng_failure fail;
};

/* In the .user page. */
extern struct rng_job rng_job;
extern struct virtq_rings rng_rings;
extern uint8_t rng_buf[RNG_BUF_BYTES];
extern uint8_t rng_stack[16384];

/* Each returns 0 if every check passed, else 1 (details in rng_job.fail). The caller
 * set up rng_job.q and filled rng_buf with RNG_CANARY. */
uint64_t rng_read_loop(void);
uint64_t rng_inflight_loop(void);
/* Ring-3 entry for user_run: arg 0 runs rng_read_loop, 1 rng_inflight_loop. */
void rng_user_main(uint64_t which);

#endif
