/*
 * The ring-3 guest's workload, shared with host-side tests (plain C99 / C++, no libc):
 * the guest fills a buffer with vireo_fill_word(i) for every 64-bit word i and folds it
 * with vireo_checksum_update(); the host computes the same value with
 * vireo_checksum_expected(bytes) and checks what the guest printed.
 */
#ifndef VIREO_GUEST_CHECKSUM_H
#define VIREO_GUEST_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#define VIREO_CHECKSUM_SEED 0x7669726571756e31ULL /* "vireoun1"-ish, arbitrary */
#define VIREO_CHECKSUM_INIT 0xcbf29ce484222325ULL /* FNV-1a 64-bit offset basis */
#define VIREO_CHECKSUM_PRIME 0x00000100000001b3ULL /* FNV-1a 64-bit prime */

/* Word i of the buffer: SplitMix64 of the seed plus i times the golden-ratio step. */
static inline uint64_t vireo_fill_word(uint64_t i) {
  uint64_t z = VIREO_CHECKSUM_SEED + i * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* One step per 64-bit word: FNV-1a on whole words, plus a rotation so that the high
 * bits of each word reach the low bits of the state. */
static inline uint64_t vireo_checksum_update(uint64_t h, uint64_t w) {
  h = (h ^ w) * VIREO_CHECKSUM_PRIME;
  return (h << 23) | (h >> 41);
}

/* The final value also covers the length. */
static inline uint64_t vireo_checksum_final(uint64_t h, uint64_t bytes) {
  h ^= bytes;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

static inline void vireo_fill(uint64_t* buf, size_t words) {
  for (size_t i = 0; i < words; i++) buf[i] = vireo_fill_word(i);
}

/* Checksum of `words` 64-bit words at buf (bytes = 8 * words). */
static inline uint64_t vireo_checksum(const uint64_t* buf, size_t words) {
  uint64_t h = VIREO_CHECKSUM_INIT;
  for (size_t i = 0; i < words; i++) h = vireo_checksum_update(h, buf[i]);
  return vireo_checksum_final(h, (uint64_t)words * 8);
}

/* What vireo_checksum() gives for a buffer filled by vireo_fill(), without the buffer.
 * `bytes` is rounded down to whole words. */
static inline uint64_t vireo_checksum_expected(uint64_t bytes) {
  uint64_t h = VIREO_CHECKSUM_INIT;
  uint64_t words = bytes / 8;
  for (uint64_t i = 0; i < words; i++) h = vireo_checksum_update(h, vireo_fill_word(i));
  return vireo_checksum_final(h, words * 8);
}

#endif
