/* The packet loops of virtio_net.elf and their checks, linked into the .user page: they
 * run in ring 3 (natively where ring 0 is emulated), or are called from ring 0 with
 * ring=0. They must not call the runtime (supervisor pages): only the inline queue
 * operations of virtqueue.h and the inline frame functions of net_frame.h. */
#include "runtime.h"
#include "virtqueue.h"
#include "virtio_net.h"

struct net_job net_job;
struct virtq_rings net_rings[2];
uint8_t net_stack[16384] __attribute__((aligned(16)));

/* 512 KiB each: slot s of a queue is NET_SLOT_BYTES at [s]. */
static uint8_t rx_slots[NET_SLOTS][NET_SLOT_BYTES] __attribute__((aligned(4096)));
static uint8_t tx_slots[NET_SLOTS][NET_SLOT_BYTES] __attribute__((aligned(4096)));
static uint16_t rx_slot_of[VIRTQ_MAX], tx_slot_of[VIRTQ_MAX]; /* by chain head */

static const uint8_t host_mac[6] = NET_HOST_MAC;
static const uint8_t broadcast[6] = NET_BROADCAST;

static uint64_t fail_at(const char* what, uint32_t seq, uint64_t got, uint64_t want, uint32_t at) {
  net_job.fail.what = what;
  net_job.fail.seq = seq;
  net_job.fail.got = got;
  net_job.fail.want = want;
  net_job.fail.at = at;
  return 1;
}
static uint64_t fail(const char* what, uint32_t seq, uint64_t got, uint64_t want) {
  return fail_at(what, seq, got, want, 0);
}

static uint64_t addr(const void* p) { return (uint64_t)(uintptr_t)p; }

static void fill(uint8_t* p, uint32_t n, uint8_t v) {
  for (uint32_t i = 0; i < n; i++) p[i] = v;
}

static void kick(struct virtq* q) {
  /* As Linux's driver: no kick while the device said it needs none. */
  if (virtq_kick_if_wanted(q)) net_job.kicks++;
}

static bool ours(const uint8_t* frame) {
  return frame[12] == (NET_ETHERTYPE >> 8) && frame[13] == (NET_ETHERTYPE & 0xff);
}

/* RX slot s as one device-writable buffer. */
static int post_rx(uint32_t s) {
  const struct virtq_buf b = {addr(rx_slots[s]), NET_RX_BUF_BYTES, true};
  int head = virtq_add(&net_job.rx, &b, 1);
  if (head >= 0) rx_slot_of[head] = (uint16_t)s;
  return head;
}

static uint64_t rx_post(void) {
  for (uint32_t s = 0; s < net_job.rx.size; s++) {
    fill(rx_slots[s], NET_SLOT_BYTES, NET_CANARY);
    if (post_rx(s) < 0) return fail("free RX descriptors", s, net_job.rx.num_free, 1);
  }
  kick(&net_job.rx);
  return 0;
}

/* NET_CHECK_FRAMES frames in two batches of a kick each; even ones with the header and
 * the frame in one descriptor, odd ones in two. Every chain must come back, used length 0. */
static uint64_t tx_check(void) {
  struct virtq* q = &net_job.tx;
  for (uint32_t seq = 0; seq < NET_CHECK_FRAMES; seq++) {
    uint8_t* s = tx_slots[seq];
    const uint32_t size = net_check_size(seq);
    fill(s, NET_HDR_BYTES, 0); /* no checksum or segmentation asked for */
    net_frame_fill(s + NET_HDR_BYTES, size, seq, NET_DIR_TX, broadcast, net_job.mac);
    struct virtq_buf b[2] = {{addr(s), NET_HDR_BYTES + size, false},
                             {addr(s) + NET_HDR_BYTES, size, false}};
    const unsigned n = seq & 1 ? 2 : 1;
    if (n == 2) b[0].len = NET_HDR_BYTES;
    int head = virtq_add(q, b, n);
    if (head < 0) return fail("free TX descriptors", seq, q->num_free, n);
    tx_slot_of[head] = (uint16_t)seq;
    if (seq == NET_CHECK_FRAMES / 2 - 1 || seq == NET_CHECK_FRAMES - 1) kick(q);
  }
  for (uint32_t n = 0; n < NET_CHECK_FRAMES; n++) {
    uint32_t len;
    int head = virtq_wait_used(q, &len, net_job.timeout);
    if (head == -1) return fail("TX used entries in time", n, n, NET_CHECK_FRAMES);
    if (head < 0) return fail("TX used head in flight", n, (uint64_t)(int64_t)head, 0);
    const uint32_t seq = tx_slot_of[head];
    if (len != 0) return fail("TX used length", seq, len, 0);
    net_job.frames++;
    net_job.bytes += net_check_size(seq);
  }
  if (q->num_free != q->size) return fail("TX descriptors free", 0, q->num_free, q->size);
  return 0;
}

/* One received frame of mode=check, in RX slot `p` with used length `len`: sequence
 * `seq` from the host's MAC to ours, a header of zeroes but num_buffers 1, nothing
 * written past the used length. */
static uint64_t check_received(const uint8_t* p, uint32_t len, uint32_t seq) {
  const uint32_t size = net_check_size(seq);
  if (len != NET_HDR_BYTES + size) return fail("RX used length", seq, len, NET_HDR_BYTES + size);
  for (uint32_t i = 0; i < NET_HDR_NUM_BUFFERS; i++)
    if (p[i] != 0) return fail_at("virtio_net_hdr (flags, gso: zero)", seq, p[i], 0, i);
  const uint32_t num_buffers = p[NET_HDR_NUM_BUFFERS] | (uint32_t)p[NET_HDR_NUM_BUFFERS + 1] << 8;
  if (num_buffers != 1 && !net_job.num_buffers_any)
    return fail("virtio_net_hdr num_buffers", seq, num_buffers, 1);
  uint32_t at;
  const uint8_t* f = p + NET_HDR_BYTES;
  const char* bad = net_frame_check(f, size, seq, NET_DIR_RX, net_job.mac, host_mac, &at);
  if (bad) return fail_at(bad, seq, f[at], 0, NET_HDR_BYTES + at);
  for (uint32_t i = len; i < NET_SLOT_BYTES; i++)
    if (p[i] != NET_CANARY)
      return fail_at("a byte past the used length was written", seq, p[i], NET_CANARY, i);
  return 0;
}

/* NET_CHECK_FRAMES frames in sequence, in the buffers rx_post made available; frames of
 * other types (the host's own traffic) are counted and skipped. */
static uint64_t rx_check(void) {
  struct virtq* q = &net_job.rx;
  uint32_t seq = 0;
  while (seq < NET_CHECK_FRAMES) {
    uint32_t len;
    int head = virtq_wait_used(q, &len, net_job.timeout);
    if (head == -1) return fail("a received frame in time", seq, seq, NET_CHECK_FRAMES);
    if (head < 0) return fail("RX used head in flight", seq, (uint64_t)(int64_t)head, 0);
    const uint8_t* p = rx_slots[rx_slot_of[head]];
    if (len > NET_RX_BUF_BYTES) return fail("RX used length", seq, len, NET_RX_BUF_BYTES);
    if (len < NET_HDR_BYTES + 14 || !ours(p + NET_HDR_BYTES)) {
      if (++net_job.other > NET_MAX_OTHER) return fail("frames of other types", seq, net_job.other, 0);
      continue;
    }
    if (check_received(p, len, seq)) return 1;
    net_job.frames++;
    net_job.bytes += len - NET_HDR_BYTES;
    seq++;
  }
  return 0;
}

/* mode=bench dir=tx: every slot holds a frame of net_job.size bytes (sequence = slot). */
static uint64_t tx_prep(void) {
  if (net_job.size < NET_FRAME_MIN || net_job.size > NET_FRAME_MAX)
    return fail("frame size", 0, net_job.size, NET_FRAME_MAX);
  for (uint32_t s = 0; s < net_job.tx.size; s++) {
    fill(tx_slots[s], NET_HDR_BYTES, 0);
    net_frame_fill(tx_slots[s] + NET_HDR_BYTES, net_job.size, s, NET_DIR_TX, broadcast,
                   net_job.mac);
  }
  return 0;
}

/* Keeps the TX ring full until net_job.want frames are sent: after each wait it takes
 * every used chain there is, refills the ring and kicks once. */
static uint64_t tx_bench(void) {
  struct virtq* q = &net_job.tx;
  uint16_t free_slots[VIRTQ_MAX];
  uint32_t nfree = 0;
  for (uint32_t s = 0; s < q->size; s++) free_slots[nfree++] = (uint16_t)(q->size - 1 - s);
  uint64_t issued = 0, done = 0;
  while (done < net_job.want) {
    bool added = false;
    while (nfree > 0 && issued < net_job.want) {
      const uint16_t s = free_slots[--nfree];
      const struct virtq_buf b = {addr(tx_slots[s]), NET_HDR_BYTES + net_job.size, false};
      int head = virtq_add(q, &b, 1);
      if (head < 0) return fail("free TX descriptors", (uint32_t)issued, q->num_free, 1);
      tx_slot_of[head] = s;
      issued++;
      added = true;
    }
    if (added) kick(q);
    uint32_t len;
    int head = virtq_wait_used(q, &len, net_job.timeout);
    if (head == -1) return fail("TX used entries in time", (uint32_t)done, done, net_job.want);
    do {
      if (head < 0) return fail("TX used head in flight", (uint32_t)done, (uint64_t)(int64_t)head, 0);
      free_slots[nfree++] = tx_slot_of[head];
      done++;
    } while ((head = virtq_get_used(q, &len)) != -1);
  }
  net_job.frames = done;
  net_job.bytes = done * net_job.size;
  return 0;
}

/* Counts frames of net_job.size bytes and our type until net_job.want have come, giving
 * each buffer back at once; one kick per batch of used entries. */
static uint64_t rx_bench(void) {
  struct virtq* q = &net_job.rx;
  while (net_job.frames < net_job.want) {
    uint32_t len;
    int head = virtq_wait_used(q, &len, net_job.timeout);
    if (head == -1)
      return fail("received frames in time", (uint32_t)net_job.frames, net_job.frames, net_job.want);
    do {
      if (head < 0) return fail("RX used head in flight", 0, (uint64_t)(int64_t)head, 0);
      const uint32_t s = rx_slot_of[head];
      if (ours(rx_slots[s] + NET_HDR_BYTES)) {
        if (len != NET_HDR_BYTES + net_job.size)
          return fail("RX used length", (uint32_t)net_job.frames, len, NET_HDR_BYTES + net_job.size);
        net_job.frames++;
        net_job.bytes += net_job.size;
      } else {
        net_job.other++;
      }
      if (post_rx(s) < 0) return fail("free RX descriptors", s, q->num_free, 1);
    } while (net_job.frames < net_job.want && (head = virtq_get_used(q, &len)) != -1);
    kick(q);
  }
  return 0;
}

uint64_t net_run(uint64_t what) {
  switch (what) {
    case NET_RUN_RX_POST: return rx_post();
    case NET_RUN_TX_CHECK: return tx_check();
    case NET_RUN_RX_CHECK: return rx_check();
    case NET_RUN_TX_PREP: return tx_prep();
    case NET_RUN_TX_BENCH: return tx_bench();
    case NET_RUN_RX_BENCH: return rx_bench();
    default: return fail("nothing to run", 0, what, 0);
  }
}

void net_user_main(uint64_t what) { user_return_int80(net_run(what)); }
