/* Shared between virtio_blk.c (ring 0: finding and setting up the disks, reporting) and
 * virtio_blk_user.c (the requests and their checks, in the .user page: they run in ring 3
 * with ring=3, or are called from ring 0).
 *
 * Disk layout of mode=check and mode=inflight, in 512-byte sectors; the image holds
 * blk_pattern(offset, blk_serial_seed(serial)) everywhere to begin with (common/
 * blk_pattern.h) and must be at least BLK_MIN_SECTORS long. What a passing run leaves:
 *   BLK_WRITE_AT, 128 sectors        blk_written(offset, seed, 0)
 *   BLK_WRITE_SPLIT_AT, 4 sectors    blk_written(offset, seed, 1)
 *   BLK_DISCARD_AT, 256 sectors      zeroes
 *   BLK_ZERO_AT and BLK_ZERO_UNMAP_AT, 64 sectors each: zeroes
 *   BLK_INFLIGHT_AT, 128 slots of 8 sectors (mode=inflight): even slots
 *                                    blk_written(offset, seed, 2), odd ones round 3
 *   everything else (the targets of the failed requests included) untouched.
 * A read-only disk is left as it was. */
#ifndef VIREO_GUEST_VIRTIO_BLK_H
#define VIREO_GUEST_VIRTIO_BLK_H

#include <stdint.h>

#include "virtio.h"

#define BLK_SECTOR 512
#define BLK_MAX_DISKS 4
#define BLK_MIN_SECTORS 8192 /* 4 MiB */

#define BLK_READ_SPLIT_AT 300
#define BLK_WRITE_AT 1024
#define BLK_WRITE_SPLIT_AT 1200
#define BLK_BAD_WRITE_AT 1300 /* a 513-byte write that must fail */
#define BLK_BAD_DISCARD_AT 1400 /* a discard with the unmap flag that must fail */
#define BLK_DISCARD_AT 2048
#define BLK_ZERO_AT 3072
#define BLK_ZERO_UNMAP_AT 3200
#define BLK_INFLIGHT_AT 4096
#define BLK_INFLIGHT_SLOTS 128 /* two descriptors each fill a 256-entry queue */

/* Feature bits (virtio 1.2, 5.2.3). */
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20

struct blk_header {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
struct blk_segment {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags; /* 1: unmap (write-zeroes only) */
};

struct blk_disk {
  struct virtio_dev dev;
  struct virtq q;
  uint64_t capacity; /* sectors */
  uint8_t seed;      /* of the image's pattern, from the serial */
  bool ro;           /* VIRTIO_BLK_F_RO negotiated */
  uint32_t max_write_zeroes_seg; /* from the configuration */
  char serial[VIRTIO_BLK_ID_BYTES + 1];
};

/* What a loop found; `what` NULL means every check passed. `at` is a disk byte offset
 * where that applies. */
struct blk_failure {
  const char* what;
  uint64_t got, want, at;
};

enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_RANDREAD, BLK_OP_RANDWRITE };

struct blk_job {
  struct blk_disk* disk; /* the one the next loop works on */
  uint64_t timeout;      /* TSC cycles to wait for one used entry */
  bool discard_zeroes;   /* check that discarded sectors read back as zeroes */
  struct blk_failure fail;
  uint32_t pending_before_kick; /* mode=inflight */
  /* mode=bench */
  enum blk_op op;
  uint32_t bs, qd;
  uint64_t total;           /* bytes */
  uint8_t* big;             /* qd * bs bytes of data buffers, user pages */
  uint64_t requests, kicks; /* done */
};

/* One check of mode=check: `fn` returns 0 if it passed, else 1 (details in blk_job.fail). */
struct blk_step {
  const char* name;
  uint64_t (*fn)(void);
};

/* In the .user page. */
extern struct blk_job blk_job;
extern struct blk_disk blk_disks[BLK_MAX_DISKS];
extern struct virtq_rings blk_rings[BLK_MAX_DISKS];
extern uint8_t blk_stack[16384];
extern char blk_id[VIRTIO_BLK_ID_BYTES + 1];
extern const struct blk_step blk_rw_steps[], blk_ro_steps[];
extern const unsigned blk_rw_step_count, blk_ro_step_count;

/* What blk_user_main / blk_run do with their argument: a step index of the writable
 * list, or of the read-only list with BLK_RUN_RO added, or one of the loops. */
#define BLK_RUN_RO 0x100
#define BLK_RUN_GET_ID 0x200 /* reads the serial into blk_id */
#define BLK_RUN_INFLIGHT 0x201
#define BLK_RUN_BENCH 0x202
uint64_t blk_run(uint64_t what);
/* Ring-3 entry for user_run: leaves ring 3 with blk_run(what). */
void blk_user_main(uint64_t what);

#endif
