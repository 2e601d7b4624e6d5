/*
 * Drives a virtio-net device (vireo --net tap=NAME) through the runtime's virtio drivers
 * (runtime/virtio.h: virtio-mmio, or virtio-pci if no virtio-mmio device is announced or
 * with `transport=pci`), polling, without interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT on both
 * queues). It negotiates VERSION_1 and MAC only (no offloads, no MRG_RXBUF: a frame and
 * its 12-byte virtio_net_hdr fit one buffer), prints the MAC from the configuration and
 * keeps NET_SLOTS buffers per queue (virtio_net.h). The frames are common/net_frame.h's.
 * Options:
 *   mode=check   makes every RX buffer available and says `rx ready` (the host may then
 *                inject frames), sends NET_CHECK_FRAMES frames (broadcast, from the
 *                device's MAC, sizes net_check_size(seq), in two batches, some with the
 *                header in its own descriptor), waits until all are used, then receives
 *                NET_CHECK_FRAMES frames from NET_HOST_MAC to its MAC, in sequence, each
 *                checked whole: used length, header, content, nothing written past it.
 *                Frames of other ethertypes are skipped (NET_MAX_OTHER at most).
 *                `num_buffers=any`: do not check the header's num_buffers, which a
 *                device must set to 1 without MRG_RXBUF (virtio 1.2, 5.1.6.4.1) and QEMU
 *                7.2 leaves as it was.
 *   mode=bench   dir=tx|rx frames=N (default 100000) size=BYTES (60-1514, default 1514).
 *                tx: keeps the TX ring full of frames until N are used; rx: keeps the RX
 *                ring full and counts frames of the test type (all SIZE bytes long) until
 *                N came. Prints `bench-start` and `bench-end frames= bytes= kicks= ...`
 *                around the loop, for the host to time.
 *   ring=0       runs the loops in ring 0 (default: ring 3, native speed on hosts that
 *                emulate ring 0).
 *   timeout_cycles=N  per used entry (default 10^10).
 * Prints PASS, or FAIL: <reason>.
 */
#include "runtime.h"
#include "virtio.h"
#include "virtio_net.h"

static bool in_ring3;

/* Runs net_run(what) in ring 3 or 0; fails the guest, naming `where`, if it failed. */
static void run(uint64_t what, const char* where) {
  memset(&net_job.fail, 0, sizeof net_job.fail);
  uint64_t r = in_ring3 ? user_run(net_user_main, what, net_stack + sizeof net_stack,
                                   USER_ENTER_IRETQ)
                        : net_run(what);
  if (r == 0) return;
  const struct net_failure* f = &net_job.fail;
  if (!f->what) guest_fail("%s returned %#lx", where, r);
  guest_fail("%s: frame %u: %s: got %#lx, want %#lx (slot byte %u, device status %#x)", where,
             f->seq, f->what, f->got, f->want, f->at, virtio_status(&net_job.dev));
}

static void start_device(void) {
  struct virtio_dev* d = &net_job.dev;
  GUEST_CHECK(virtio_find(VIRTIO_ID_NET, d),
              "no virtio-net on the command line or on PCI bus 0 (vireo run --net tap=NAME)");
  int r = virtio_negotiate(d, 1ULL << VIRTIO_NET_F_MAC);
  GUEST_CHECK(r == 0, "feature negotiation failed (%d), status %#x", r, virtio_status(d));
  GUEST_CHECK(d->features == (1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_NET_F_MAC),
              "features %#lx, want VERSION_1 and MAC", d->features);
  int rx = virtio_queue_setup(d, NET_RXQ, &net_job.rx, &net_rings[NET_RXQ], 0);
  int tx = virtio_queue_setup(d, NET_TXQ, &net_job.tx, &net_rings[NET_TXQ], 0);
  GUEST_CHECK(rx > 0 && tx > 0, "queue setup failed (receive %d, transmit %d)", rx, tx);
  net_rings[NET_RXQ].avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  net_rings[NET_TXQ].avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  uint32_t status = virtio_driver_ok(d);
  GUEST_CHECK(status == (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                         VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK),
              "status %#x after DRIVER_OK", status);
  for (unsigned k = 0; k < 6; k++) net_job.mac[k] = virtio_config8(d, k);
  printf("virtio_net: device at %#lx (%s): features %#lx, queues of %d and %d entries, "
         "status %#x\n",
         d->base, virtio_transport_name(d), d->features, rx, tx, status);
  const uint8_t* m = net_job.mac;
  printf("virtio_net: mac %02x:%02x:%02x:%02x:%02x:%02x\n", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void mode_check(void) {
  run(NET_RUN_RX_POST, "rx post");
  printf("virtio_net: rx ready: %u buffers of %u bytes\n", net_job.rx.size, NET_RX_BUF_BYTES);
  run(NET_RUN_TX_CHECK, "tx");
  printf("virtio_net: tx ok: %lu frames, %lu bytes\n", net_job.frames, net_job.bytes);
  net_job.frames = net_job.bytes = 0;
  run(NET_RUN_RX_CHECK, "rx");
  printf("virtio_net: rx ok: %lu frames, %lu bytes checked (%lu frames of other types "
         "skipped)\n",
         net_job.frames, net_job.bytes, net_job.other);
}

static void mode_bench(void) {
  const bool tx = cmdline_is("dir", "tx");
  GUEST_CHECK(tx || cmdline_is("dir", "rx"), "dir= must be tx or rx");
  net_job.want = cmdline_u64("frames", 100000);
  net_job.size = (uint32_t)cmdline_u64("size", NET_FRAME_MAX);
  GUEST_CHECK(net_job.size >= NET_FRAME_MIN && net_job.size <= NET_FRAME_MAX,
              "size=%u must be %u-%u", net_job.size, NET_FRAME_MIN, NET_FRAME_MAX);
  GUEST_CHECK(net_job.want > 0, "frames= must be at least 1");
  printf("virtio_net: bench dir=%s frames=%lu size=%u ring=%d\n", tx ? "tx" : "rx",
         net_job.want, net_job.size, in_ring3 ? 3 : 0);
  run(tx ? NET_RUN_TX_PREP : NET_RUN_RX_POST, "bench setup");
  net_job.kicks = 0;
  printf("virtio_net: bench-start\n");
  uint64_t t0 = rdtsc();
  run(tx ? NET_RUN_TX_BENCH : NET_RUN_RX_BENCH, "bench");
  uint64_t cycles = rdtsc() - t0;
  printf("virtio_net: bench-end frames=%lu bytes=%lu kicks=%lu other=%lu cycles=%lu\n",
         net_job.frames, net_job.bytes, net_job.kicks, net_job.other, cycles);
}

int guest_main(const struct hvm_start_info* si) {
  (void)si;
  printf("virtio_net: guest (virtio-mmio and virtio-pci drivers, polling)\n");
  in_ring3 = cmdline_u64("ring", 3) == 3;
  /* About 10 s at 1 GHz. */
  net_job.timeout = cmdline_u64("timeout_cycles", 10000000000ULL);
  net_job.num_buffers_any = cmdline_is("num_buffers", "any");
  start_device();
  if (in_ring3) {
    user_init();
    paging_set_user((uint64_t)(uintptr_t)__user_start,
                    (uint64_t)(uintptr_t)(__user_end - __user_start));
    paging_set_user(net_job.dev.base, net_job.dev.size); /* kicks from ring 3 */
  }
  if (cmdline_is("mode", "check")) mode_check();
  else if (cmdline_is("mode", "bench")) mode_bench();
  else guest_fail("say mode=check|bench");
  guest_pass();
}
