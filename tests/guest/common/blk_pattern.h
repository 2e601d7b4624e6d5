/* The bytes of the virtio_blk guest's disks, shared by the guest (freestanding C) and the
 * host tests that make the images and look at them afterwards (C++).
 *
 * An image starts with blk_pattern(offset, seed) at every byte offset; the seed comes from
 * the disk's serial (blk_serial_seed), so two disks hold different bytes and a request
 * served from the wrong disk is caught. Within 128 KiB every 512-byte sector differs from
 * every other (the sector number enters times 13, odd), so a sector read from the wrong
 * place is caught too. What the guest writes is blk_written(offset, seed, round): other
 * bytes, different per round of writes. */
#ifndef VIREO_GUEST_BLK_PATTERN_H
#define VIREO_GUEST_BLK_PATTERN_H

#include <stdint.h>

static inline uint8_t blk_pattern(uint64_t offset, uint8_t seed) {
  return (uint8_t)(offset * 7 + (offset >> 9) * 13 + (offset >> 17) + seed);
}

static inline uint8_t blk_written(uint64_t offset, uint8_t seed, uint8_t round) {
  return (uint8_t)~(offset * 3 + (offset >> 9) * 29 + seed + round * 101u);
}

/* A byte from a serial (up to 20 bytes, NUL-padded or not): never 0, which is what a
 * disk without a serial would give. */
static inline uint8_t blk_serial_seed(const char* serial, unsigned len) {
  uint32_t h = 0x55;
  for (unsigned i = 0; i < len && serial[i]; i++) h = h * 31 + (uint8_t)serial[i];
  return (uint8_t)(h % 255 + 1);
}

#endif
