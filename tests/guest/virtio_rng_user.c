/* The device loops of virtio_rng.elf and their checks, linked into the .user page: they
 * run in ring 3 (natively where ring 0 is emulated) with ring=3, or are called from ring
 * 0. They must not call the runtime (supervisor pages): only the inline queue operations
 * of virtqueue.h. */
#include "runtime.h"
#include "virtqueue.h"
#include "virtio_rng.h"

struct rng_job rng_job;
struct virtq_rings rng_rings;
uint8_t rng_buf[RNG_BUF_BYTES] __attribute__((aligned(4096)));
uint8_t rng_stack[16384] __attribute__((aligned(16)));

/* Sizes chosen to cover: one byte, a used length capped (vireo: at 64 KiB) in one buffer
 * and across two, a chain of three writable parts after a readable header. Requests 2 and 3
 * are compared: two fills must differ. */
const struct rng_request rng_requests[RNG_READ_REQUESTS] = {
    {0, {1}},     {0, {16}},     {0, {64}},     {0, {64}},    {0, {512}},
    {0, {4096}},  {0, {65536}},  {0, {100000}}, {16, {100, 200, 300}},
    {0, {40000, 40000}},
};

static uint64_t fail(const char* what, uint32_t request, uint64_t got, uint64_t want) {
  rng_job.fail.what = what;
  rng_job.fail.request = request;
  rng_job.fail.got = got;
  rng_job.fail.want = want;
  return 1;
}

static uint32_t align64(uint32_t v) { return (v + 63) & ~63u; }

static uint32_t count_canary(const uint8_t* p, uint32_t n) {
  uint32_t hits = 0;
  for (uint32_t i = 0; i < n; i++) hits += p[i] == RNG_CANARY;
  return hits;
}

/* A part of `len` bytes the device should have filled `filled` bytes of: the rest and
 * the guard after it keep the canary; the filled bytes look random (the canary value
 * about once in 256 bytes, not all zero). Returns the canary count of the filled bytes,
 * or -1 after recording a failure. */
static int64_t check_part(uint32_t request, const uint8_t* p, uint32_t len, uint32_t filled) {
  const uint32_t rest = len - filled + RNG_GUARD;
  const uint32_t kept = count_canary(p + filled, rest);
  if (kept != rest) {
    fail("bytes past the used length or the buffer were written", request, rest - kept, 0);
    return -1;
  }
  /* 1/256 expected. The bound must not trip on random bytes over many rounds: at
   * filled/32 + 3, 5 hits in a 63-byte part (p ~ 6e-6) came in one run of ~100 inflight
   * rounds in five; at filled/16 + 8 that takes 9 (p ~ 1e-11). */
  const uint32_t hits = count_canary(p, filled);
  if (hits > filled / 16 + 8) {
    fail("filled bytes still hold the canary", request, hits, filled / 16 + 8);
    return -1;
  }
  uint8_t any = 0;
  for (uint32_t i = 0; i < filled; i++) any |= p[i];
  if (filled >= 8 && !any) {
    fail("filled bytes are all zero", request, filled, 0);
    return -1;
  }
  rng_job.bytes += filled;
  return hits;
}

/* 64 KiB of random bytes contain every byte value (a value is missing with probability
 * about 256 * e^-256). */
static uint64_t check_all_values(uint32_t request, const uint8_t* p, uint32_t n) {
  uint8_t seen[256];
  for (unsigned i = 0; i < 256; i++) seen[i] = 0;
  for (uint32_t i = 0; i < n; i++) seen[p[i]] = 1;
  unsigned count = 0;
  for (unsigned i = 0; i < 256; i++) count += seen[i];
  return count == 256 ? 0 : fail("byte values seen in 64 KiB", request, count, 256);
}

static bool same_bytes(const uint8_t* a, const uint8_t* b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

/* Submits request r with its buffers from rng_buf + *offset and advances *offset. */
static int submit_request(uint32_t r, uint32_t* offset, uint32_t start[RNG_MAX_PARTS + 1]) {
  const struct rng_request* req = &rng_requests[r];
  struct virtq_buf bufs[RNG_MAX_PARTS + 1];
  unsigned n = 0;
  if (req->header) {
    start[n] = *offset;
    bufs[n].addr = (uint64_t)(uintptr_t)(rng_buf + *offset);
    bufs[n].len = req->header;
    bufs[n++].device_writes = false;
    *offset += align64(req->header + RNG_GUARD);
  }
  for (unsigned k = 0; k < RNG_MAX_PARTS && req->parts[k]; k++) {
    start[n] = *offset;
    bufs[n].addr = (uint64_t)(uintptr_t)(rng_buf + *offset);
    bufs[n].len = req->parts[k];
    bufs[n++].device_writes = true;
    *offset += align64(req->parts[k] + RNG_GUARD);
  }
  if (*offset > RNG_BUF_BYTES) return -1;
  return virtq_add(&rng_job.q, bufs, n);
}

/* Checks request r's buffers after the device used `len` bytes of them. */
static uint64_t check_request(uint32_t r, const uint32_t start[RNG_MAX_PARTS + 1], uint32_t len) {
  const struct rng_request* req = &rng_requests[r];
  uint32_t want = 0;
  for (unsigned k = 0; k < RNG_MAX_PARTS; k++) want += req->parts[k];
  if (rng_job.cap && want > rng_job.cap) want = rng_job.cap;
  rng_job.used_len[r] = len;
  if (len != want) return fail("used length", r, len, want);
  unsigned n = 0;
  if (req->header && count_canary(rng_buf + start[n++], req->header + RNG_GUARD) !=
                         req->header + RNG_GUARD)
    return fail("the device wrote into a device-readable buffer", r, 0, 0);
  uint32_t left = len, hits = 0;
  for (unsigned k = 0; k < RNG_MAX_PARTS && req->parts[k]; k++, n++) {
    uint32_t filled = left < req->parts[k] ? left : req->parts[k];
    int64_t h = check_part(r, rng_buf + start[n], req->parts[k], filled);
    if (h < 0) return 1;
    hits += (uint32_t)h;
    left -= filled;
    if (filled == 65536 && check_all_values(r, rng_buf + start[n], filled)) return 1;
  }
  rng_job.canary_hits[r] = hits;
  return 0;
}

/* One request at a time: submit, kick, poll, check. */
uint64_t rng_read_loop(void) {
  uint32_t offset = 0, starts[RNG_READ_REQUESTS][RNG_MAX_PARTS + 1];
  for (uint32_t r = 0; r < RNG_READ_REQUESTS; r++) {
    int head = submit_request(r, &offset, starts[r]);
    if (head < 0) return fail("no free descriptors or room in rng_buf", r, offset, RNG_BUF_BYTES);
    virtq_kick(&rng_job.q);
    uint32_t len;
    int got = virtq_wait_used(&rng_job.q, &len, rng_job.timeout);
    if (got == -1) return fail("no used entry in time", r, 0, 0);
    if (got != head) return fail("used head", r, (uint64_t)got, (uint64_t)head);
    if (check_request(r, starts[r], len)) return 1;
  }
  if (same_bytes(rng_buf + starts[2][0], rng_buf + starts[3][0], 64))
    return fail("two 64-byte requests got the same bytes", 3, 0, 0);
  return 0;
}

/* Fills the whole queue (request i asks 8 + i % 57 bytes), checks the device has used
 * none of it before the kick, kicks once and waits for all, in any order. */
static uint64_t inflight_round(uint32_t round) {
  struct virtq* q = &rng_job.q;
  const uint32_t slot = 128; /* per request: its bytes and the guard */
  uint32_t asked[VIRTQ_MAX];
  uint8_t done[VIRTQ_MAX];
  for (uint32_t i = 0; i < q->size; i++) {
    struct virtq_buf b = {(uint64_t)(uintptr_t)(rng_buf + i * slot), 8 + i % 57, true};
    int head = virtq_add(q, &b, 1);
    if (head < 0) return fail("no free descriptor", i, q->num_free, 1);
    asked[head] = b.len;
    done[head] = 0;
  }
  struct virtq_buf extra = {(uint64_t)(uintptr_t)rng_buf, 8, true};
  if (virtq_add(q, &extra, 1) >= 0) return fail("a full queue took another chain", round, 0, 0);
  rng_job.pending_before_kick = virtq_used_pending(q);
  virtq_kick(q);
  for (uint32_t n = 0; n < q->size; n++) {
    uint32_t len;
    int head = virtq_wait_used(q, &len, rng_job.timeout);
    if (head == -1) return fail("used entries in time", round, n, q->size);
    if (head < 0 || done[head]) return fail("used head not in flight", round, (uint64_t)head, 0);
    done[head] = 1;
    if (len != asked[head]) return fail("used length", (uint32_t)head, len, asked[head]);
  }
  if (q->num_free != q->size) return fail("descriptors free after the round", round, q->num_free, q->size);
  for (uint32_t i = 0; i < q->size; i++)
    if (check_part(i, rng_buf + i * slot, 8 + i % 57, 8 + i % 57) < 0) return 1;
  return 0;
}

uint64_t rng_inflight_loop(void) {
  for (uint32_t round = 0; round < rng_job.rounds; round++) {
    /* Each round checks its own bytes: the canary again first. */
    for (uint32_t i = 0; i < rng_job.q.size * 128; i++) rng_buf[i] = RNG_CANARY;
    if (inflight_round(round)) return 1;
  }
  return 0;
}

void rng_user_main(uint64_t which) {
  user_return_int80(which == 0 ? rng_read_loop() : rng_inflight_loop());
}
