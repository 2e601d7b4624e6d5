/* virtio-mmio version 2, the ring-0 half: finding devices, initialization (3.1.1) and
 * queue setup (4.2.3.2). See virtio_mmio.h. */
#include "virtio_mmio.h"

#include "runtime.h"

/* ---- virtio_mmio.device=<size>@<base>:<gsi> (Linux's syntax, as vireo writes it) ---- */

static const char kSwitch[] = "virtio_mmio.device=";

/* Parses a number at *p (0x-hex or decimal) up to a character that is not a digit. */
static bool parse_number(const char** p, const char* end, uint64_t* out) {
  const char* s = *p;
  unsigned base = 10;
  if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  uint64_t v = 0;
  const char* digits = s;
  for (; s < end; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9') d = (unsigned)(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f') d = (unsigned)(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F') d = (unsigned)(*s - 'A' + 10);
    else break;
    if (v > (UINT64_MAX - d) / base) return false;
    v = v * base + d;
  }
  if (s == digits) return false;
  *p = s;
  *out = v;
  return true;
}

static bool parse_switch(const char* v, const char* end, struct virtio_mmio_dev* d) {
  uint64_t size, base, gsi;
  if (!parse_number(&v, end, &size)) return false;
  if (v < end && (*v == 'K' || *v == 'k')) size <<= 10, v++;
  else if (v < end && (*v == 'M' || *v == 'm')) size <<= 20, v++;
  else if (v < end && (*v == 'G' || *v == 'g')) size <<= 30, v++;
  if (v == end || *v++ != '@' || !parse_number(&v, end, &base)) return false;
  if (v == end || *v++ != ':' || !parse_number(&v, end, &gsi)) return false;
  if (v != end && *v != ':') return false; /* Linux allows a trailing :<first id> */
  /* The registers take 0x100 bytes (QEMU's microvm packs devices 512 bytes apart;
   * vireo gives each a page), 32-bit aligned, under the 4 GiB the identity map covers. */
  if (size < 0x100 || (base & 3) || base >= 0x100000000ULL || size > 0x100000000ULL - base)
    return false;
  d->base = base;
  d->size = size;
  d->gsi = (uint32_t)gsi;
  return true;
}

static void identify(struct virtio_mmio_dev* d) {
  uint32_t magic = virtio_mmio_read(d, VIRTIO_MMIO_MAGIC);
  uint32_t version = virtio_mmio_read(d, VIRTIO_MMIO_VERSION);
  /* Version 1 is the legacy interface, which this driver does not speak. */
  if (magic != VIRTIO_MMIO_MAGIC_VALUE || version != 2)
    guest_fail("virtio-mmio at %#lx: magic %#x version %u, want %#x and 2", d->base, magic,
               version, VIRTIO_MMIO_MAGIC_VALUE);
  d->device_id = virtio_mmio_read(d, VIRTIO_MMIO_DEVICE_ID);
  d->vendor_id = virtio_mmio_read(d, VIRTIO_MMIO_VENDOR_ID);
  d->features = 0;
}

int virtio_mmio_find_all(struct virtio_mmio_dev* out, int max) {
  const size_t n = sizeof kSwitch - 1;
  int count = 0;
  for (const char* p = cmdline(); *p;) {
    while (*p == ' ') p++;
    const char* word = p;
    while (*p && *p != ' ') p++;
    if ((size_t)(p - word) <= n || memcmp(word, kSwitch, n) != 0) continue;
    struct virtio_mmio_dev d;
    if (!parse_switch(word + n, p, &d))
      guest_fail("virtio-mmio: cannot parse '%.*s'", (int)(p - word), word);
    identify(&d);
    if (count < max) out[count] = d;
    count++;
  }
  return count;
}

bool virtio_mmio_find(uint32_t device_id, struct virtio_mmio_dev* out) {
  struct virtio_mmio_dev all[16];
  int n = virtio_mmio_find_all(all, 16);
  for (int i = 0; i < n && i < 16; i++) {
    if (all[i].device_id == device_id) {
      *out = all[i];
      return true;
    }
  }
  return false;
}

/* ---- Initialization ---- */

void virtio_mmio_reset(struct virtio_mmio_dev* d) {
  virtio_mmio_write(d, VIRTIO_MMIO_STATUS, 0);
  /* The reset is done when Status reads 0 (4.2.3.1.1; vireo's is immediate). */
  for (unsigned i = 0; virtio_mmio_status(d) != 0; i++) {
    if (i == 1000000) guest_fail("virtio-mmio at %#lx: reset does not finish", d->base);
    cpu_relax();
  }
  d->features = 0;
}

static uint64_t read_device_features(const struct virtio_mmio_dev* d) {
  virtio_mmio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
  uint64_t hi = virtio_mmio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
  virtio_mmio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
  return (hi << 32) | virtio_mmio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

static void write_driver_features(const struct virtio_mmio_dev* d, uint64_t f) {
  virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
  virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
  virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
  virtio_mmio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static void add_status(const struct virtio_mmio_dev* d, uint32_t bits) {
  /* Status bits only accumulate until the next reset (3.1.1). */
  virtio_mmio_write(d, VIRTIO_MMIO_STATUS, virtio_mmio_status(d) | bits);
}

int virtio_mmio_negotiate(struct virtio_mmio_dev* d, uint64_t wanted) {
  virtio_mmio_reset(d);
  add_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  add_status(d, VIRTIO_STATUS_DRIVER);
  const uint64_t version_1 = 1ULL << VIRTIO_F_VERSION_1;
  const uint64_t offered = read_device_features(d);
  if (!(offered & version_1)) {
    add_status(d, VIRTIO_STATUS_FAILED);
    return -1;
  }
  const uint64_t accepted = offered & (wanted | version_1);
  write_driver_features(d, accepted);
  add_status(d, VIRTIO_STATUS_FEATURES_OK);
  /* The device refuses a set it cannot work with by leaving FEATURES_OK clear. */
  if (!(virtio_mmio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
    add_status(d, VIRTIO_STATUS_FAILED);
    return -2;
  }
  d->features = accepted;
  return 0;
}

uint32_t virtio_mmio_driver_ok(struct virtio_mmio_dev* d) {
  add_status(d, VIRTIO_STATUS_DRIVER_OK);
  return virtio_mmio_status(d);
}

/* ---- Queues ---- */

static void write_address(const struct virtio_mmio_dev* d, uint32_t low_reg, const void* p) {
  uint64_t a = (uint64_t)(uintptr_t)p; /* identity map: virtual = guest-physical */
  virtio_mmio_write(d, low_reg, (uint32_t)a);
  virtio_mmio_write(d, low_reg + 4, (uint32_t)(a >> 32));
}

int virtio_mmio_queue_setup(struct virtio_mmio_dev* d, uint16_t index, struct virtq* q,
                struct virtq_rings* rings, uint16_t size) {
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
  const uint32_t max = virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
  if (max == 0 || virtio_mmio_read(d, VIRTIO_MMIO_QUEUE_READY) != 0) return -1;
  if (size == 0) size = (uint16_t)(max < VIRTQ_MAX ? max : VIRTQ_MAX);
  if ((size & (size - 1)) != 0 || size > max || size > VIRTQ_MAX) return -2;

  virtq_init(q, rings, index, size, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4);

  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_NUM, size);
  write_address(d, VIRTIO_MMIO_QUEUE_DESC_LOW, rings->desc);
  write_address(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, &rings->avail);
  write_address(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, &rings->used);
  virtio_mmio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
  return size;
}
