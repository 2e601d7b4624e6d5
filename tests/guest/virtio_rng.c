/*
 * Drives a virtio-rng device (vireo --rng) through the runtime's virtio drivers
 * (runtime/virtio.h: virtio-mmio, or virtio-pci if no virtio-mmio device is announced or
 * with `transport=pci`), polling, without interrupts. Options:
 *   mode=read      ten requests one at a time: 1 byte to 100000 (used length capped at
 *                  64 KiB), a chain with a readable header and three writable parts, a
 *                  64 KiB request split over two buffers. Checks used lengths, that the
 *                  filled bytes look random and nothing else was written, that two
 *                  64-byte fills differ, that 64 KiB hold every byte value. `cap=N`:
 *                  the used length the device gives at most (default 65536, vireo's;
 *                  0 for no limit, e.g. QEMU's virtio-rng).
 *   mode=inflight  fills the whole queue, kicks once, waits for every chain (`rounds=N`
 *                  times, default 3, so the ring indices wrap).
 *   mode=oob       a hostile chain (`bad=addr`: a buffer outside guest RAM, the default;
 *                  `bad=loop`: two descriptors naming each other). The device must set
 *                  DEVICE_NEEDS_RESET and use nothing; then the guest resets it, sets it
 *                  up again and runs mode=read's requests.
 *   ring=3         runs the device loops and checks of read and inflight in ring 3.
 * Prints what it checked and PASS, or FAIL: <reason>.
 */
#include "runtime.h"
#include "virtio.h"
#include "virtio_rng.h"

#define OUTSIDE_RAM (1ULL << 40) /* 1 TiB: no test VM has RAM there */

static struct virtio_dev dev;
static bool in_ring3;

static void start_device(void) {
  int r = virtio_negotiate(&dev, 0);
  GUEST_CHECK(r == 0, "feature negotiation failed (%d), status %#x", r, virtio_status(&dev));
  int size = virtio_queue_setup(&dev, 0, &rng_job.q, &rng_rings, 0);
  GUEST_CHECK(size > 0, "queue 0 setup failed (%d)", size);
  uint32_t status = virtio_driver_ok(&dev);
  GUEST_CHECK(status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                         VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK),
              "status %#x after DRIVER_OK", status);
  printf("virtio_rng: features %#lx, queue 0 of %d entries, status %#x\n", dev.features, size,
         status);
}

/* Runs a device loop (0 read, 1 inflight) in ring 0 or 3; fails the guest on a failure. */
static void run_loop(uint64_t which) {
  memset(rng_buf, RNG_CANARY, sizeof rng_buf);
  memset(&rng_job.fail, 0, sizeof rng_job.fail);
  rng_job.bytes = 0;
  uint64_t t0 = rdtsc();
  uint64_t r = in_ring3 ? user_run(rng_user_main, which, rng_stack + sizeof rng_stack,
                                   USER_ENTER_IRETQ)
                        : (which == 0 ? rng_read_loop() : rng_inflight_loop());
  uint64_t cycles = rdtsc() - t0;
  const struct rng_failure* f = &rng_job.fail;
  if (r != 0) {
    if (!f->what) guest_fail("device loop returned %#lx", r);
    guest_fail("request %u: %s: got %lu, want %lu (status %#x)", f->request, f->what, f->got,
               f->want, virtio_status(&dev));
  }
  printf("virtio_rng: %lu random bytes checked in ring %d, %lu cycles\n", rng_job.bytes,
         in_ring3 ? 3 : 0, cycles);
}

static void mode_read(void) {
  run_loop(0);
  for (uint32_t r = 0; r < RNG_READ_REQUESTS; r++) {
    const struct rng_request* q = &rng_requests[r];
    printf("virtio_rng: request %u: header %u parts %u %u %u -> used %u ok (canary bytes %u)\n",
           r, q->header, q->parts[0], q->parts[1], q->parts[2], rng_job.used_len[r],
           rng_job.canary_hits[r]);
  }
  printf("virtio_rng: read ok\n");
}

static void mode_inflight(void) {
  rng_job.rounds = (uint32_t)cmdline_u64("rounds", 3);
  run_loop(1);
  /* vireo serves a queue only when kicked; another device might start early. */
  printf("virtio_rng: used before the kick: %u\n", rng_job.pending_before_kick);
  printf("virtio_rng: inflight ok: %u rounds of %u chains, one kick each\n", rng_job.rounds,
         rng_job.q.size);
}

/* Makes a chain the device must refuse available and kicks. */
static void submit_hostile(bool loop) {
  struct virtq* q = &rng_job.q;
  struct virtq_buf bufs[2] = {{(uint64_t)(uintptr_t)rng_buf, 64, true},
                              {(uint64_t)(uintptr_t)(rng_buf + 128), 64, true}};
  if (loop) {
    /* Two descriptors naming each other. virtq_add publishes the chain, but the device
     * reads it only after the kick, so it is closed into a loop in between. */
    int head = virtq_add(q, bufs, 2);
    GUEST_CHECK(head >= 0, "no descriptors");
    struct virtq_desc* d = q->rings->desc;
    uint16_t second = d[head].next;
    d[second].flags |= VIRTQ_DESC_F_NEXT;
    d[second].next = (uint16_t)head;
    printf("virtio_rng: hostile chain: descriptors %d -> %u -> %d ...\n", head, second, head);
  } else {
    bufs[0].addr = OUTSIDE_RAM;
    GUEST_CHECK(virtq_add(q, bufs, 1) >= 0, "no descriptors");
    printf("virtio_rng: hostile chain: a buffer at %#llx, outside guest RAM\n", OUTSIDE_RAM);
  }
  virtq_kick(q);
}

static void wait_needs_reset(void) {
  uint64_t start = rdtsc();
  uint32_t status;
  while (!((status = virtio_status(&dev)) & VIRTIO_STATUS_NEEDS_RESET)) {
    GUEST_CHECK(rdtsc() - start < rng_job.timeout, "no DEVICE_NEEDS_RESET (status %#x)", status);
    cpu_relax();
  }
  GUEST_CHECK(virtq_used_pending(&rng_job.q) == 0, "the device used the hostile chain");
  printf("virtio_rng: device needs reset (status %#x)\n", status);
}

static void mode_oob(void) {
  const char* v;
  size_t n;
  const bool loop = cmdline_is("bad", "loop");
  GUEST_CHECK(loop || !cmdline_find("bad", &v, &n) || cmdline_is("bad", "addr"),
              "bad= must be addr or loop");
  submit_hostile(loop);
  wait_needs_reset();
  virtio_reset(&dev);
  uint32_t status = virtio_status(&dev);
  GUEST_CHECK(status == 0, "status %#x after the reset", status);
  printf("virtio_rng: reset, status 0\n");
  start_device();
  mode_read();
  printf("virtio_rng: recovered after the reset\n");
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("virtio_rng: guest (virtio-mmio and virtio-pci drivers, polling)\n");
  in_ring3 = cmdline_u64("ring", 0) == 3;
  /* About 10 s at 1 GHz: the device answers in microseconds. */
  rng_job.timeout = cmdline_u64("timeout_cycles", 10000000000ULL);
  rng_job.cap = (uint32_t)cmdline_u64("cap", 65536);
  GUEST_CHECK(virtio_find(VIRTIO_ID_ENTROPY, &dev),
              "no virtio-rng on the command line or on PCI bus 0 (vireo run --rng)");
  virtio_describe(&dev, "virtio_rng: device");
  if (in_ring3) {
    user_init();
    paging_set_user((uint64_t)(uintptr_t)__user_start,
                    (uint64_t)(uintptr_t)(__user_end - __user_start));
    paging_set_user(dev.base, dev.size); /* kicks from ring 3 */
  }
  start_device();
  if (cmdline_is("mode", "read")) mode_read();
  else if (cmdline_is("mode", "inflight")) mode_inflight();
  else if (cmdline_is("mode", "oob")) mode_oob();
  else guest_fail("say mode=read|inflight|oob");
  guest_pass();
}
