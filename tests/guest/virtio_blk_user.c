/* The requests of virtio_blk.elf and their checks, linked into the .user page: they run
 * in ring 3 (natively where ring 0 is emulated) with ring=3, or are called from ring 0.
 * They must not call the runtime (supervisor pages): only the inline queue operations of
 * virtqueue.h. The disk layout is in virtio_blk.h, the bytes in common/blk_pattern.h. */
#include "runtime.h"
#include "virtqueue.h"
#include "virtio_blk.h"
#include "blk_pattern.h"

struct blk_job blk_job;
struct blk_disk blk_disks[BLK_MAX_DISKS];
struct virtq_rings blk_rings[BLK_MAX_DISKS];
uint8_t blk_stack[16384] __attribute__((aligned(16)));
char blk_id[VIRTIO_BLK_ID_BYTES + 1];

#define CANARY 0xa5 /* what buffers hold before the device fills them */
#define GUARD 64    /* canary bytes after each buffer that must stay untouched */
#define STATUS_UNSET 0xee
#define BUF_BYTES (512 * 1024)
#define MAX_PIECES 16

/* mode=check's buffers: each request lays its pieces out here, each followed by a guard. */
static uint8_t buf[BUF_BYTES] __attribute__((aligned(4096)));
static uint32_t buf_used;
static struct {
  uint32_t at, len;
} pieces[MAX_PIECES];
static unsigned piece_count;

static uint64_t fail_at(const char* what, uint64_t got, uint64_t want, uint64_t at) {
  blk_job.fail.what = what;
  blk_job.fail.got = got;
  blk_job.fail.want = want;
  blk_job.fail.at = at;
  return 1;
}
static uint64_t fail(const char* what, uint64_t got, uint64_t want) {
  return fail_at(what, got, want, 0);
}

static uint64_t addr(const void* p) { return (uint64_t)(uintptr_t)p; }
static uint64_t capacity(void) { return blk_job.disk->capacity; }
static uint8_t seed(void) { return blk_job.disk->seed; }

static void fill(uint8_t* p, uint64_t n, uint8_t v) {
  for (uint64_t i = 0; i < n; i++) p[i] = v;
}

/* ---- Pieces of one request in buf ---- */

static void begin(void) {
  buf_used = 0;
  piece_count = 0;
}

/* The next `len` bytes of buf (64-byte aligned), filled with the canary like the guard
 * after them. NULL when buf is full (a bug in a step: the request then fails). */
static uint8_t* take(uint32_t len) {
  const uint32_t end = (buf_used + len + GUARD + 63) & ~63u;
  if (end > BUF_BYTES || piece_count == MAX_PIECES) return 0;
  uint8_t* p = buf + buf_used;
  fill(p, len + GUARD, CANARY);
  pieces[piece_count].at = buf_used;
  pieces[piece_count++].len = len;
  buf_used = end;
  return p;
}

static uint64_t check_guards(void) {
  for (unsigned k = 0; k < piece_count; k++) {
    const uint8_t* g = buf + pieces[k].at + pieces[k].len;
    for (unsigned i = 0; i < GUARD; i++)
      if (g[i] != CANARY) return fail("a byte after a buffer was written", g[i], CANARY);
  }
  return 0;
}

/* ---- Expected disk contents ---- */

enum content { PATTERN, ZEROES, WRITTEN, UNTOUCHED /* the canary: the device wrote nothing */ };

static uint8_t expected(enum content c, uint64_t offset, uint8_t round) {
  switch (c) {
    case PATTERN: return blk_pattern(offset, seed());
    case WRITTEN: return blk_written(offset, seed(), round);
    case UNTOUCHED: return CANARY;
    default: return 0;
  }
}

/* p holds `len` bytes read from disk byte `offset`. */
static uint64_t check_bytes(const uint8_t* p, uint64_t offset, uint64_t len, enum content c,
                            uint8_t round) {
  for (uint64_t i = 0; i < len; i++) {
    const uint8_t want = expected(c, offset + i, round);
    if (p[i] != want) return fail_at("data read back", p[i], want, offset + i);
  }
  return 0;
}

static void fill_written(uint8_t* p, uint64_t offset, uint64_t len, uint8_t round) {
  for (uint64_t i = 0; i < len; i++) p[i] = blk_written(offset + i, seed(), round);
}

/* ---- Requests ---- */

/* Makes bufs[0..n) one chain (the status byte is the last byte of the last buffer), kicks
 * and waits for it. The device must answer `want`; with OK the used length must be
 * `data_in` + 1 (the bytes it wrote), otherwise at least the status byte and at most
 * every writable byte. */
static uint64_t request(const struct virtq_buf* bufs, unsigned n, uint8_t want, uint32_t data_in) {
  struct virtq* q = &blk_job.disk->q;
  volatile uint8_t* status = (volatile uint8_t*)(uintptr_t)(bufs[n - 1].addr + bufs[n - 1].len - 1);
  *status = STATUS_UNSET;
  uint32_t writable = 0;
  for (unsigned k = 0; k < n; k++) writable += bufs[k].device_writes ? bufs[k].len : 0;
  int head = virtq_add(q, bufs, n);
  if (head < 0) return fail("free descriptors", q->num_free, n);
  virtq_kick(q);
  uint32_t len;
  int got = virtq_wait_used(q, &len, blk_job.timeout);
  if (got == -1) return fail("no used entry in time", 0, 0);
  if (got != head) return fail("used head", (uint64_t)got, (uint64_t)head);
  if (*status != want) return fail("status", *status, want);
  if (want == VIRTIO_BLK_S_OK ? len != data_in + 1 : len < 1 || len > writable)
    return fail("used length", len, data_in + 1);
  return check_guards();
}

/* Header, optional data (device-writable when `in`), status: three descriptors. */
static uint64_t simple(uint32_t type, uint64_t sector, uint8_t* data, uint32_t len, bool in,
                       uint8_t want) {
  struct blk_header* h = (struct blk_header*)take(sizeof *h);
  uint8_t* st = take(1);
  if (!h || !st) return fail("room in the request buffer", buf_used, BUF_BYTES);
  h->type = type;
  h->reserved = 0;
  h->sector = sector;
  struct virtq_buf b[3];
  unsigned n = 0;
  b[n++] = (struct virtq_buf){addr(h), sizeof *h, false};
  if (len) b[n++] = (struct virtq_buf){addr(data), len, in};
  b[n++] = (struct virtq_buf){addr(st), 1, true};
  return request(b, n, want, in ? len : 0);
}

/* A run of sectors and what they should hold. */
struct run {
  uint32_t sectors;
  enum content c;
  uint8_t round;
};

/* Reads from `sector` as many sectors as the runs cover, in one request, and checks them. */
static uint64_t read_runs(uint64_t sector, const struct run* runs, unsigned n) {
  uint32_t total = 0;
  for (unsigned k = 0; k < n; k++) total += runs[k].sectors;
  begin();
  uint8_t* d = take(total * BLK_SECTOR);
  if (!d) return fail("room in the request buffer", total * BLK_SECTOR, BUF_BYTES);
  if (simple(VIRTIO_BLK_T_IN, sector, d, total * BLK_SECTOR, true, VIRTIO_BLK_S_OK)) return 1;
  uint64_t offset = sector * BLK_SECTOR;
  for (unsigned k = 0; k < n; k++) {
    const uint32_t len = runs[k].sectors * BLK_SECTOR;
    if (check_bytes(d, offset, len, runs[k].c, runs[k].round)) return 1;
    d += len;
    offset += len;
  }
  return 0;
}

static uint64_t read_expect(uint64_t sector, uint32_t sectors, enum content c, uint8_t round) {
  const struct run r = {sectors, c, round};
  return read_runs(sector, &r, 1);
}

static uint64_t write_sectors(uint64_t sector, uint32_t sectors, uint8_t round) {
  begin();
  const uint32_t len = sectors * BLK_SECTOR;
  uint8_t* d = take(len);
  if (!d) return fail("room in the request buffer", len, BUF_BYTES);
  fill_written(d, sector * BLK_SECTOR, len, round);
  return simple(VIRTIO_BLK_T_OUT, sector, d, len, false, VIRTIO_BLK_S_OK);
}

/* A discard or write-zeroes request of `n` segments. */
static uint64_t segments(uint32_t type, const struct blk_segment* segs, unsigned n, uint8_t want) {
  begin();
  struct blk_header* h = (struct blk_header*)take(sizeof *h);
  struct blk_segment* s = (struct blk_segment*)take(n * sizeof *s);
  uint8_t* st = take(1);
  h->type = type;
  h->reserved = 0;
  h->sector = 0;
  for (unsigned k = 0; k < n; k++) s[k] = segs[k];
  struct virtq_buf b[3] = {{addr(h), sizeof *h, false},
                           {addr(s), n * (uint32_t)sizeof *s, false},
                           {addr(st), 1, true}};
  return request(b, 3, want, 0);
}

/* ---- mode=check: the steps ---- */

static uint64_t step_read_start(void) { return read_expect(0, 128, PATTERN, 0); }

/* The header in two descriptors (6 + 10 bytes), the data in four, the status alone. */
static uint64_t step_read_split(void) {
  static const uint32_t sizes[4] = {512, 1024, 1536, 1024};
  begin();
  struct blk_header* h = (struct blk_header*)take(sizeof *h);
  uint8_t* d[4];
  for (unsigned k = 0; k < 4; k++) d[k] = take(sizes[k]);
  uint8_t* st = take(1);
  h->type = VIRTIO_BLK_T_IN;
  h->reserved = 0;
  h->sector = BLK_READ_SPLIT_AT;
  struct virtq_buf b[7];
  b[0] = (struct virtq_buf){addr(h), 6, false};
  b[1] = (struct virtq_buf){addr(h) + 6, 10, false};
  for (unsigned k = 0; k < 4; k++) b[2 + k] = (struct virtq_buf){addr(d[k]), sizes[k], true};
  b[6] = (struct virtq_buf){addr(st), 1, true};
  if (request(b, 7, VIRTIO_BLK_S_OK, 4096)) return 1;
  uint64_t offset = BLK_READ_SPLIT_AT * BLK_SECTOR;
  for (unsigned k = 0; k < 4; k++) {
    if (check_bytes(d[k], offset, sizes[k], PATTERN, 0)) return 1;
    offset += sizes[k];
  }
  return 0;
}

/* The last 8 sectors; data and status share one device-writable buffer. */
static uint64_t step_read_tail(void) {
  begin();
  struct blk_header* h = (struct blk_header*)take(sizeof *h);
  uint8_t* ds = take(4096 + 1);
  h->type = VIRTIO_BLK_T_IN;
  h->reserved = 0;
  h->sector = capacity() - 8;
  struct virtq_buf b[2] = {{addr(h), sizeof *h, false}, {addr(ds), 4096 + 1, true}};
  if (request(b, 2, VIRTIO_BLK_S_OK, 4096)) return 1;
  return check_bytes(ds, (capacity() - 8) * BLK_SECTOR, 4096, PATTERN, 0);
}

static uint64_t step_write(void) {
  if (write_sectors(BLK_WRITE_AT, 128, 0)) return 1;
  return read_expect(BLK_WRITE_AT, 128, WRITTEN, 0);
}

/* The header and the first sector in one device-readable buffer, three more sectors in a
 * second one. */
static uint64_t step_write_split(void) {
  begin();
  uint8_t* hd = take(sizeof(struct blk_header) + 512);
  uint8_t* rest = take(1536);
  uint8_t* st = take(1);
  struct blk_header* h = (struct blk_header*)hd;
  h->type = VIRTIO_BLK_T_OUT;
  h->reserved = 0;
  h->sector = BLK_WRITE_SPLIT_AT;
  fill_written(hd + sizeof *h, BLK_WRITE_SPLIT_AT * BLK_SECTOR, 512, 1);
  fill_written(rest, BLK_WRITE_SPLIT_AT * BLK_SECTOR + 512, 1536, 1);
  struct virtq_buf b[3] = {{addr(hd), sizeof *h + 512, false}, {addr(rest), 1536, false},
                           {addr(st), 1, true}};
  if (request(b, 3, VIRTIO_BLK_S_OK, 0)) return 1;
  const struct run r[3] = {{4, PATTERN, 0}, {4, WRITTEN, 1}, {4, PATTERN, 0}};
  return read_runs(BLK_WRITE_SPLIT_AT - 4, r, 3);
}

static uint64_t step_flush(void) {
  begin();
  return simple(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, VIRTIO_BLK_S_OK);
}

/* 256 sectors; the 8 on either side keep the pattern. */
static uint64_t step_discard(void) {
  const struct blk_segment s = {BLK_DISCARD_AT, 256, 0};
  if (segments(VIRTIO_BLK_T_DISCARD, &s, 1, VIRTIO_BLK_S_OK)) return 1;
  if (!blk_job.discard_zeroes) return 0;
  const struct run r[3] = {{8, PATTERN, 0}, {256, ZEROES, 0}, {8, PATTERN, 0}};
  return read_runs(BLK_DISCARD_AT - 8, r, 3);
}

/* Two segments, the second with the unmap flag, the pattern between: in one request, or
 * in two where the device takes one segment at a time (QEMU's max_write_zeroes_seg). */
static uint64_t step_write_zeroes(void) {
  const struct blk_segment s[2] = {{BLK_ZERO_AT, 64, 0}, {BLK_ZERO_UNMAP_AT, 64, 1}};
  if (blk_job.disk->max_write_zeroes_seg >= 2) {
    if (segments(VIRTIO_BLK_T_WRITE_ZEROES, s, 2, VIRTIO_BLK_S_OK)) return 1;
  } else if (segments(VIRTIO_BLK_T_WRITE_ZEROES, &s[0], 1, VIRTIO_BLK_S_OK) ||
             segments(VIRTIO_BLK_T_WRITE_ZEROES, &s[1], 1, VIRTIO_BLK_S_OK)) {
    return 1;
  }
  const struct run r[5] = {
      {8, PATTERN, 0}, {64, ZEROES, 0}, {64, PATTERN, 0}, {64, ZEROES, 0}, {8, PATTERN, 0}};
  return read_runs(BLK_ZERO_AT - 8, r, 5);
}

/* The hostile-but-valid requests: each fails alone and writes nothing but its status. */

static uint64_t step_read_past_end(void) {
  begin();
  uint8_t* d = take(512);
  if (simple(VIRTIO_BLK_T_IN, capacity(), d, 512, true, VIRTIO_BLK_S_IOERR)) return 1;
  return check_bytes(d, 0, 512, UNTOUCHED, 0);
}

static uint64_t step_read_across_end(void) {
  begin();
  uint8_t* d = take(1024);
  if (simple(VIRTIO_BLK_T_IN, capacity() - 1, d, 1024, true, VIRTIO_BLK_S_IOERR)) return 1;
  return check_bytes(d, 0, 1024, UNTOUCHED, 0);
}

static uint64_t step_write_across_end(void) {
  begin();
  uint8_t* d = take(1024);
  fill_written(d, (capacity() - 1) * BLK_SECTOR, 1024, 9);
  return simple(VIRTIO_BLK_T_OUT, capacity() - 1, d, 1024, false, VIRTIO_BLK_S_IOERR);
}

static uint64_t step_read_partial(void) {
  begin();
  uint8_t* d = take(100);
  if (simple(VIRTIO_BLK_T_IN, 10, d, 100, true, VIRTIO_BLK_S_IOERR)) return 1;
  return check_bytes(d, 0, 100, UNTOUCHED, 0);
}

static uint64_t step_write_partial(void) {
  begin();
  uint8_t* d = take(513);
  fill_written(d, BLK_BAD_WRITE_AT * BLK_SECTOR, 513, 9);
  return simple(VIRTIO_BLK_T_OUT, BLK_BAD_WRITE_AT, d, 513, false, VIRTIO_BLK_S_IOERR);
}

static uint64_t step_unknown_type(void) {
  begin();
  uint8_t* d = take(512);
  if (simple(0x7f, 0, d, 512, true, VIRTIO_BLK_S_UNSUPP)) return 1;
  return check_bytes(d, 0, 512, UNTOUCHED, 0);
}

static uint64_t step_discard_with_unmap(void) {
  const struct blk_segment s = {BLK_BAD_DISCARD_AT, 8, 1};
  return segments(VIRTIO_BLK_T_DISCARD, &s, 1, VIRTIO_BLK_S_UNSUPP);
}

static uint64_t step_zeroes_past_end(void) {
  const struct blk_segment s = {capacity() - 4, 8, 0};
  return segments(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, VIRTIO_BLK_S_IOERR);
}

/* After the failures: the targets of the failed writes kept the pattern, and the device
 * still serves reads. */
static uint64_t step_still_serving(void) {
  if (read_expect(0, 128, PATTERN, 0)) return 1;
  if (read_expect(capacity() - 8, 8, PATTERN, 0)) return 1;
  if (read_expect(BLK_BAD_WRITE_AT, 8, PATTERN, 0)) return 1;
  if (blk_job.disk->ro) return read_expect(BLK_WRITE_AT, 128, PATTERN, 0);
  if (read_expect(BLK_BAD_DISCARD_AT, 8, PATTERN, 0)) return 1;
  return read_expect(BLK_WRITE_AT, 128, WRITTEN, 0);
}

/* A read-only disk. */

static uint64_t step_ro_write(void) {
  begin();
  uint8_t* d = take(4096);
  fill_written(d, BLK_WRITE_AT * BLK_SECTOR, 4096, 0);
  return simple(VIRTIO_BLK_T_OUT, BLK_WRITE_AT, d, 4096, false, VIRTIO_BLK_S_IOERR);
}

/* Discard and write-zeroes without the feature: UNSUPP. A device that offers them on a
 * read-only disk (QEMU offers DISCARD and then ignores it) is not asked: a driver must
 * not write to a read-only device, so any answer would do. */
static uint64_t step_ro_discard(void) {
  if (blk_job.disk->dev.features & (1ULL << VIRTIO_BLK_F_DISCARD)) return 0;
  const struct blk_segment s = {BLK_DISCARD_AT, 8, 0};
  return segments(VIRTIO_BLK_T_DISCARD, &s, 1, VIRTIO_BLK_S_UNSUPP);
}

static uint64_t step_ro_zeroes(void) {
  if (blk_job.disk->dev.features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES)) return 0;
  const struct blk_segment s = {BLK_ZERO_AT, 8, 0};
  return segments(VIRTIO_BLK_T_WRITE_ZEROES, &s, 1, VIRTIO_BLK_S_UNSUPP);
}

const struct blk_step blk_rw_steps[] = {
    {"read 64 KiB at sector 0", step_read_start},
    {"read 4 KiB at sector 300: header in 2 descriptors, data in 4, status alone", step_read_split},
    {"read the last 4 KiB: data and status in one descriptor", step_read_tail},
    {"write 64 KiB at sector 1024, read back", step_write},
    {"write 2 KiB at sector 1200: header and data in one descriptor, read back", step_write_split},
    {"flush", step_flush},
    {"discard 256 sectors at 2048, read back", step_discard},
    {"write-zeroes 64 sectors at 3072 and 64 at 3200 (unmap), read back", step_write_zeroes},
    {"read at the capacity: IOERR", step_read_past_end},
    {"read across the end: IOERR", step_read_across_end},
    {"write across the end: IOERR", step_write_across_end},
    {"read of 100 bytes: IOERR", step_read_partial},
    {"write of 513 bytes at sector 1300: IOERR", step_write_partial},
    {"unknown type 0x7f: UNSUPP", step_unknown_type},
    {"discard with the unmap flag at 1400: UNSUPP", step_discard_with_unmap},
    {"write-zeroes across the end: IOERR", step_zeroes_past_end},
    {"still serving, failed writes left nothing", step_still_serving},
};
const unsigned blk_rw_step_count = sizeof blk_rw_steps / sizeof blk_rw_steps[0];

const struct blk_step blk_ro_steps[] = {
    {"read 64 KiB at sector 0", step_read_start},
    {"read 4 KiB at sector 300: header in 2 descriptors, data in 4, status alone", step_read_split},
    {"read the last 4 KiB: data and status in one descriptor", step_read_tail},
    {"write on a read-only disk: IOERR", step_ro_write},
    {"discard on a read-only disk: UNSUPP", step_ro_discard},
    {"write-zeroes on a read-only disk: UNSUPP", step_ro_zeroes},
    {"flush", step_flush},
    {"read at the capacity: IOERR", step_read_past_end},
    {"read of 100 bytes: IOERR", step_read_partial},
    {"unknown type 0x7f: UNSUPP", step_unknown_type},
    {"still serving, failed writes left nothing", step_still_serving},
};
const unsigned blk_ro_step_count = sizeof blk_ro_steps / sizeof blk_ro_steps[0];

static uint64_t get_id(void) {
  begin();
  uint8_t* d = take(VIRTIO_BLK_ID_BYTES);
  if (simple(VIRTIO_BLK_T_GET_ID, 0, d, VIRTIO_BLK_ID_BYTES, true, VIRTIO_BLK_S_OK)) return 1;
  for (unsigned i = 0; i < VIRTIO_BLK_ID_BYTES; i++) blk_id[i] = (char)d[i];
  blk_id[VIRTIO_BLK_ID_BYTES] = 0;
  return 0;
}

/* ---- mode=inflight ---- */

/* Slot i of blk_job.big: 16-byte header, 4 KiB of data, the status byte, back to back,
 * so that a read is {header}{data+status} and a write {header+data}{status}: two
 * descriptors each, 128 requests fill the queue. Slot i covers sectors
 * BLK_INFLIGHT_AT + 8 i. */
#define SLOT_BYTES 8192
#define SLOT_DATA 4096

static uint8_t* slot(uint32_t i) { return blk_job.big + (uint64_t)i * SLOT_BYTES; }
static uint64_t slot_offset(uint32_t i) { return (BLK_INFLIGHT_AT + 8ull * i) * BLK_SECTOR; }

/* Whether slot i is written in `round`: the even slots in round 1, the odd ones in round
 * 2 (with blk_written's round = round + 1); round 3 only reads. */
static bool slot_written_in(uint32_t i, uint32_t round) { return round < 3 && i % 2 == (round - 1) % 2; }

/* What slot i holds when it is read in `round`. */
static enum content slot_content(uint32_t i, uint32_t round, uint8_t* written_round) {
  const uint32_t written_in = i % 2 == 0 ? 1 : 2;
  *written_round = (uint8_t)(written_in + 1);
  return round > written_in ? WRITTEN : PATTERN;
}

/* Round 1 writes the even slots and reads the odd ones, round 2 the other way round,
 * round 3 reads all: every chain made available, then one kick, then all used entries
 * taken in any order. */
static uint64_t inflight_round(uint32_t round) {
  struct virtq* q = &blk_job.disk->q;
  uint8_t done[VIRTQ_MAX];
  uint32_t slot_of[VIRTQ_MAX];
  fill(done, sizeof done, 0);
  for (uint32_t i = 0; i < BLK_INFLIGHT_SLOTS; i++) {
    uint8_t* s = slot(i);
    struct blk_header* h = (struct blk_header*)s;
    const bool write = slot_written_in(i, round);
    h->type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    h->reserved = 0;
    h->sector = BLK_INFLIGHT_AT + 8ull * i;
    s[16 + SLOT_DATA] = STATUS_UNSET;
    if (write) fill_written(s + 16, slot_offset(i), SLOT_DATA, (uint8_t)(round + 1));
    else fill(s + 16, SLOT_DATA, CANARY);
    struct virtq_buf b[2] = {{addr(s), write ? 16 + SLOT_DATA : 16, false},
                             {addr(s) + (write ? 16 + SLOT_DATA : 16), write ? 1 : SLOT_DATA + 1,
                              true}};
    int head = virtq_add(q, b, 2);
    if (head < 0) return fail_at("free descriptors", q->num_free, 2, slot_offset(i));
    slot_of[head] = i;
  }
  struct virtq_buf extra[2] = {{addr(slot(0)), 16, false}, {addr(slot(0)) + 16, 1, true}};
  if (virtq_add(q, extra, 2) >= 0) return fail("a full queue took another chain", round, 0);
  blk_job.pending_before_kick = virtq_used_pending(q);
  virtq_kick(q);
  for (uint32_t n = 0; n < BLK_INFLIGHT_SLOTS; n++) {
    uint32_t len;
    int head = virtq_wait_used(q, &len, blk_job.timeout);
    if (head == -1) return fail("used entries in time", n, BLK_INFLIGHT_SLOTS);
    if (head < 0 || done[head]) return fail("used head not in flight", (uint64_t)head, 0);
    done[head] = 1;
    const uint32_t i = slot_of[head];
    const bool write = slot_written_in(i, round);
    const uint8_t status = *(volatile uint8_t*)(slot(i) + 16 + SLOT_DATA);
    if (status != VIRTIO_BLK_S_OK) return fail_at("status", status, 0, slot_offset(i));
    if (len != (write ? 1 : SLOT_DATA + 1))
      return fail_at("used length", len, write ? 1 : SLOT_DATA + 1, slot_offset(i));
  }
  if (q->num_free != q->size) return fail("descriptors free after the round", q->num_free, q->size);
  for (uint32_t i = 0; i < BLK_INFLIGHT_SLOTS; i++) {
    if (slot_written_in(i, round)) continue;
    uint8_t r;
    const enum content c = slot_content(i, round, &r);
    if (check_bytes(slot(i) + 16, slot_offset(i), SLOT_DATA, c, r)) return 1;
  }
  return 0;
}

static uint64_t inflight(void) {
  for (uint32_t round = 1; round <= 3; round++)
    if (inflight_round(round)) return 1;
  return 0;
}

/* ---- mode=bench ---- */

static struct blk_header bench_hdr[VIRTQ_MAX];
static uint8_t bench_status[VIRTQ_MAX];

static uint64_t xorshift(uint64_t* s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Keeps blk_job.qd requests of blk_job.bs bytes in flight until blk_job.total bytes are
 * done: reads or writes, sequential (wrapping at the end of the disk) or at random
 * bs-aligned places. After each wait it takes every used entry there is, refills the
 * queue and kicks once (unless the device is polling the ring). Data are not checked: this measures the device path. */
static uint64_t bench(void) {
  struct virtq* q = &blk_job.disk->q;
  const uint64_t count = blk_job.total / blk_job.bs;
  const uint64_t blocks = capacity() * BLK_SECTOR / blk_job.bs;
  const bool in = blk_job.op == BLK_OP_READ || blk_job.op == BLK_OP_RANDREAD;
  const bool random = blk_job.op == BLK_OP_RANDREAD || blk_job.op == BLK_OP_RANDWRITE;
  if (blocks == 0) return fail("blocks of bs bytes on the disk", 0, 1);
  uint32_t free_slots[VIRTQ_MAX], slot_of[VIRTQ_MAX], nfree = 0;
  for (uint32_t i = 0; i < blk_job.qd; i++) free_slots[nfree++] = blk_job.qd - 1 - i;
  uint64_t issued = 0, done = 0, next = 0, rng = 0x9e3779b97f4a7c15ull;
  while (done < count) {
    bool added = false;
    while (nfree > 0 && issued < count) {
      const uint32_t s = free_slots[--nfree];
      const uint64_t block = random ? xorshift(&rng) % blocks : next++ % blocks;
      bench_hdr[s].type = in ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
      bench_hdr[s].reserved = 0;
      bench_hdr[s].sector = block * (blk_job.bs / BLK_SECTOR);
      bench_status[s] = STATUS_UNSET;
      struct virtq_buf b[3] = {{addr(&bench_hdr[s]), sizeof bench_hdr[s], false},
                               {addr(blk_job.big + (uint64_t)s * blk_job.bs), blk_job.bs, in},
                               {addr(&bench_status[s]), 1, true}};
      int head = virtq_add(q, b, 3);
      if (head < 0) return fail("free descriptors", q->num_free, 3);
      slot_of[head] = s;
      issued++;
      added = true;
    }
    if (added && virtq_kick_if_wanted(q)) blk_job.kicks++;
    uint32_t len;
    int head = virtq_wait_used(q, &len, blk_job.timeout);
    if (head == -1) return fail("a used entry in time", done, count);
    do {
      if (head < 0) return fail("used head not in flight", (uint64_t)head, 0);
      const uint32_t s = slot_of[head];
      const uint8_t status = *(volatile uint8_t*)&bench_status[s];
      if (status != VIRTIO_BLK_S_OK)
        return fail_at("status", status, 0, bench_hdr[s].sector * BLK_SECTOR);
      free_slots[nfree++] = s;
      done++;
    } while ((head = virtq_get_used(q, &len)) != -1);
  }
  blk_job.requests = done;
  return 0;
}

uint64_t blk_run(uint64_t what) {
  if (what < blk_rw_step_count) return blk_rw_steps[what].fn();
  if (what >= BLK_RUN_RO && what - BLK_RUN_RO < blk_ro_step_count)
    return blk_ro_steps[what - BLK_RUN_RO].fn();
  if (what == BLK_RUN_GET_ID) return get_id();
  if (what == BLK_RUN_INFLIGHT) return inflight();
  if (what == BLK_RUN_BENCH) return bench();
  return fail("nothing to run", what, 0);
}

void blk_user_main(uint64_t what) { user_return_int80(blk_run(what)); }
