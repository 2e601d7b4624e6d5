/*
 * Drives virtio-blk disks (vireo --disk) through the runtime's virtio drivers
 * (runtime/virtio.h: virtio-mmio, or virtio-pci if no virtio-mmio device is announced or
 * with `transport=pci`), polling, without interrupts. Every disk found
 * is set up (features SEG_MAX, RO, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES; no EVENT_IDX
 * or indirect descriptors), its configuration printed and its serial read (GET_ID).
 * Options:
 *   mode=check     on every disk, the steps of virtio_blk_user.c, one line each: reads
 *                  checked against the image's pattern (common/blk_pattern.h), writes read
 *                  back, chains split in several ways, flush, discard and write-zeroes
 *                  read back as zeroes, and requests that must fail alone (past the end,
 *                  partial sectors, an unknown type, a bad flag); on a read-only disk,
 *                  writes, discards and write-zeroes that must fail. `discard=any`: do not
 *                  expect discarded sectors to read back as zeroes (QEMU ignores discards
 *                  by default).
 *   mode=inflight  on the first disk: 128 requests of 4 KiB in flight (reads and writes of
 *                  distinct sectors), one kick, all used entries, three times.
 *   mode=bench     on the first disk: op=read|write|randread|randwrite (default read),
 *                  bs=BYTES (multiple of 4096, default 1 MiB), qd=N (1-64, default 1),
 *                  total=BYTES (default 256 MiB). Prints `bench-start` and `bench-end` lines
 *                  around the loop, for the host to time.
 *   disks=N        how many disks there must be (default: at least one).
 *   ro=1           every disk must be read-only; ro=SERIAL: that one, the others writable.
 *                  Without ro= every disk must be writable.
 *   ring=3         runs the requests and their checks in ring 3.
 *   timeout_cycles=N  per used entry (default 10^10).
 * The disk layout is in virtio_blk.h. Prints PASS, or FAIL: <reason>.
 */
#include "runtime.h"
#include "virtio.h"
#include "virtio_blk.h"
#include "blk_pattern.h"

/* mode=inflight and mode=bench buffers: RAM after the image, marked user-accessible. */
#define BIG_AT 0x400000ULL

static bool in_ring3;
static unsigned disk_count;

/* Runs blk_run(what) in ring 3 or 0; fails the guest, naming `where`, if it failed. */
static void run(uint64_t what, const char* where) {
  memset(&blk_job.fail, 0, sizeof blk_job.fail);
  uint64_t r = in_ring3 ? user_run(blk_user_main, what, blk_stack + sizeof blk_stack,
                                   USER_ENTER_IRETQ)
                        : blk_run(what);
  if (r == 0) return;
  const struct blk_failure* f = &blk_job.fail;
  if (!f->what) guest_fail("%s: %s returned %#lx", blk_job.disk->serial, where, r);
  guest_fail("%s: %s: %s: got %#lx, want %#lx (disk byte %#lx, device status %#x)",
             blk_job.disk->serial, where, f->what, f->got, f->want, f->at,
             virtio_status(&blk_job.disk->dev));
}

static uint32_t config32(const struct virtio_dev* d, uint32_t offset) {
  return virtio_config32(d, offset);
}

static uint8_t config8(const struct virtio_dev* d, uint32_t offset) {
  return virtio_config8(d, offset);
}

static uint64_t config64(const struct virtio_dev* d, uint32_t offset) {
  return virtio_config64(d, offset);
}

static bool has(const struct blk_disk* d, unsigned bit) { return d->dev.features & (1ULL << bit); }

static void start_disk(unsigned i) {
  struct blk_disk* d = &blk_disks[i];
  const uint64_t wanted = 1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_RO |
                          1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH |
                          1ULL << VIRTIO_BLK_F_DISCARD | 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
  int r = virtio_negotiate(&d->dev, wanted);
  GUEST_CHECK(r == 0, "disk %u: feature negotiation failed (%d), status %#x", i, r,
              virtio_status(&d->dev));
  int size = virtio_queue_setup(&d->dev, 0, &d->q, &blk_rings[i], 0);
  GUEST_CHECK(size > 0, "disk %u: queue 0 setup failed (%d)", i, size);
  uint32_t status = virtio_driver_ok(&d->dev);
  GUEST_CHECK(status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                         VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK),
              "disk %u: status %#x after DRIVER_OK", i, status);
  d->capacity = config64(&d->dev, 0);
  d->ro = has(d, VIRTIO_BLK_F_RO);
  d->max_write_zeroes_seg = has(d, VIRTIO_BLK_F_WRITE_ZEROES) ? config32(&d->dev, 52) : 0;
  printf("virtio_blk: disk %u at %#lx (%s): features %#lx, queue of %d entries, status %#x\n",
         i, d->dev.base, virtio_transport_name(&d->dev), d->dev.features, size, status);
  printf("virtio_blk: disk %u: capacity %lu sectors (%lu KiB), seg_max %u, blk_size %u, ro %d\n",
         i, d->capacity, d->capacity / 2,
         has(d, VIRTIO_BLK_F_SEG_MAX) ? config32(&d->dev, 12) : 0,
         has(d, VIRTIO_BLK_F_BLK_SIZE) ? config32(&d->dev, 20) : 0, d->ro);
  if (has(d, VIRTIO_BLK_F_DISCARD) || has(d, VIRTIO_BLK_F_WRITE_ZEROES))
    printf("virtio_blk: disk %u: discard max %u sectors x %u segments, alignment %u; "
           "write-zeroes max %u sectors x %u segments, may unmap %u\n",
           i, config32(&d->dev, 36), config32(&d->dev, 40), config32(&d->dev, 44),
           config32(&d->dev, 48), d->max_write_zeroes_seg, config8(&d->dev, 56));
}

/* GET_ID: the serial names the disk and seeds its pattern. */
static void identify_disk(unsigned i) {
  struct blk_disk* d = &blk_disks[i];
  blk_job.disk = d;
  memcpy(d->serial, "(no serial yet)", 16);
  run(BLK_RUN_GET_ID, "get-id");
  memcpy(d->serial, blk_id, sizeof d->serial);
  d->seed = blk_serial_seed(d->serial, VIRTIO_BLK_ID_BYTES);
  printf("virtio_blk: disk %u: serial '%s' (pattern seed %u)\n", i, d->serial, d->seed);
}

/* ro=1: all read-only; ro=SERIAL: that one; no ro=: none. */
static bool expect_ro(const struct blk_disk* d) {
  const char* v;
  size_t n;
  if (!cmdline_find("ro", &v, &n)) return false;
  if (n == 1 && v[0] == '1') return true;
  return n == strlen(d->serial) && memcmp(v, d->serial, n) == 0;
}

static void check_disk(unsigned i) {
  struct blk_disk* d = &blk_disks[i];
  blk_job.disk = d;
  GUEST_CHECK(d->ro == expect_ro(d), "%s: read-only is %d, want %d", d->serial, d->ro,
              expect_ro(d));
  if (!d->ro)
    GUEST_CHECK(has(d, VIRTIO_BLK_F_DISCARD) && has(d, VIRTIO_BLK_F_WRITE_ZEROES) &&
                    has(d, VIRTIO_BLK_F_FLUSH),
                "%s: a writable disk without FLUSH, DISCARD or WRITE_ZEROES", d->serial);
  GUEST_CHECK(d->capacity >= BLK_MIN_SECTORS, "%s: %lu sectors, mode=check needs %u",
              d->serial, d->capacity, BLK_MIN_SECTORS);
  const struct blk_step* steps = d->ro ? blk_ro_steps : blk_rw_steps;
  const unsigned count = d->ro ? blk_ro_step_count : blk_rw_step_count;
  for (unsigned k = 0; k < count; k++) {
    run((d->ro ? BLK_RUN_RO : 0) + k, steps[k].name);
    printf("virtio_blk: %s: %s: ok\n", d->serial, steps[k].name);
  }
  printf("virtio_blk: %s: check ok (%u steps, %s)\n", d->serial, count,
         d->ro ? "read-only" : "writable");
}

/* `bytes` of user-accessible RAM at BIG_AT for the loops' buffers. */
static uint8_t* big_buffer(uint64_t bytes) {
  GUEST_CHECK(memmap_is_ram(BIG_AT, bytes) && BIG_AT + bytes <= 0xc0000000ULL,
              "%lu bytes of RAM at %#llx needed: give the VM more memory", bytes, BIG_AT);
  paging_set_user(BIG_AT, bytes);
  return (uint8_t*)(uintptr_t)BIG_AT;
}

static void mode_inflight(void) {
  struct blk_disk* d = &blk_disks[0];
  blk_job.disk = d;
  GUEST_CHECK(!d->ro && d->capacity >= BLK_MIN_SECTORS,
              "%s: mode=inflight needs a writable disk of %u sectors", d->serial, BLK_MIN_SECTORS);
  GUEST_CHECK(d->q.size >= 2 * BLK_INFLIGHT_SLOTS, "%s: a queue of %u entries is too small",
              d->serial, d->q.size);
  blk_job.big = big_buffer(BLK_INFLIGHT_SLOTS * 8192);
  uint64_t t0 = rdtsc();
  run(BLK_RUN_INFLIGHT, "inflight");
  printf("virtio_blk: %s: used before the kick: %u\n", d->serial, blk_job.pending_before_kick);
  printf("virtio_blk: %s: inflight ok: 3 rounds of %u requests, one kick each, %lu cycles\n",
         d->serial, BLK_INFLIGHT_SLOTS, rdtsc() - t0);
}

static enum blk_op bench_op(void) {
  if (cmdline_is("op", "write")) return BLK_OP_WRITE;
  if (cmdline_is("op", "randread")) return BLK_OP_RANDREAD;
  if (cmdline_is("op", "randwrite")) return BLK_OP_RANDWRITE;
  const char* v;
  size_t n;
  GUEST_CHECK(!cmdline_find("op", &v, &n) || cmdline_is("op", "read"),
              "op= must be read, write, randread or randwrite");
  return BLK_OP_READ;
}

static void mode_bench(void) {
  static const char* const names[] = {"read", "write", "randread", "randwrite"};
  struct blk_disk* d = &blk_disks[0];
  blk_job.disk = d;
  blk_job.op = bench_op();
  blk_job.bs = (uint32_t)cmdline_u64("bs", 1 << 20);
  blk_job.qd = (uint32_t)cmdline_u64("qd", 1);
  blk_job.total = cmdline_u64("total", 256ULL << 20);
  GUEST_CHECK(blk_job.bs >= 4096 && blk_job.bs % 4096 == 0 && blk_job.bs <= (64u << 20),
              "bs=%u must be a multiple of 4096 up to 64 MiB", blk_job.bs);
  GUEST_CHECK(blk_job.qd >= 1 && blk_job.qd <= 64 && 3 * blk_job.qd <= d->q.size,
              "qd=%u must be 1-64 (three descriptors each in %u)", blk_job.qd, d->q.size);
  GUEST_CHECK(!d->ro || blk_job.op == BLK_OP_READ || blk_job.op == BLK_OP_RANDREAD,
              "%s is read-only", d->serial);
  blk_job.big = big_buffer((uint64_t)blk_job.qd * blk_job.bs);
  printf("virtio_blk: bench op=%s bs=%u qd=%u total=%lu ring=%d\n", names[blk_job.op],
         blk_job.bs, blk_job.qd, blk_job.total, in_ring3 ? 3 : 0);
  printf("virtio_blk: bench-start\n");
  uint64_t t0 = rdtsc();
  run(BLK_RUN_BENCH, "bench");
  uint64_t cycles = rdtsc() - t0;
  printf("virtio_blk: bench-end requests=%lu bytes=%lu kicks=%lu cycles=%lu\n", blk_job.requests,
         blk_job.requests * blk_job.bs, blk_job.kicks, cycles);
}

/* The virtio-blk devices among those found, in their order. */
static void find_disks(void) {
  struct virtio_dev all[16];
  int n = virtio_find_all(all, 16);
  for (int i = 0; i < n && i < 16; i++) {
    if (all[i].device_id != VIRTIO_ID_BLOCK) continue;
    GUEST_CHECK(disk_count < BLK_MAX_DISKS, "more than %d disks", BLK_MAX_DISKS);
    blk_disks[disk_count++].dev = all[i];
  }
  GUEST_CHECK(disk_count > 0,
              "no virtio-blk on the command line or on PCI bus 0 (vireo run --disk)");
  const uint64_t want = cmdline_u64("disks", 0);
  GUEST_CHECK(want == 0 || want == disk_count, "%u disks, want %lu", disk_count, want);
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("virtio_blk: guest (virtio-mmio and virtio-pci drivers, polling)\n");
  in_ring3 = cmdline_u64("ring", 0) == 3;
  /* About 10 s at 1 GHz: a request takes micro- to milliseconds. */
  blk_job.timeout = cmdline_u64("timeout_cycles", 10000000000ULL);
  blk_job.discard_zeroes = !cmdline_is("discard", "any");
  find_disks();
  if (in_ring3) {
    user_init();
    paging_set_user((uint64_t)(uintptr_t)__user_start,
                    (uint64_t)(uintptr_t)(__user_end - __user_start));
    for (unsigned i = 0; i < disk_count; i++) /* kicks from ring 3 */
      paging_set_user(blk_disks[i].dev.base, blk_disks[i].dev.size);
  }
  for (unsigned i = 0; i < disk_count; i++) {
    start_disk(i);
    identify_disk(i);
  }
  if (cmdline_is("mode", "check")) {
    for (unsigned i = 0; i < disk_count; i++) check_disk(i);
  } else if (cmdline_is("mode", "inflight")) {
    mode_inflight();
  } else if (cmdline_is("mode", "bench")) {
    mode_bench();
  } else {
    guest_fail("say mode=check|inflight|bench");
  }
  guest_pass();
}
