/* The Ethernet frames of the virtio_net guest, shared by the guest (freestanding C) and
 * the host side (the integration tests and bench/net_pump.cc, C++).
 *
 * A frame of `size` bytes (NET_FRAME_MIN to NET_FRAME_MAX, no FCS):
 *   0   destination MAC      6 bytes
 *   6   source MAC           6 bytes
 *   12  ethertype 0x88b5     big-endian (IEEE local experimental)
 *   14  sequence number      32 bits, little-endian
 *   18  checksum             32 bits, little-endian: FNV-1a over bytes 22..size
 *   22  net_pattern(seq, i, dir) for byte i, up to the end
 * `dir` keeps the two directions apart (a guest that echoed a frame back would fail):
 * NET_DIR_TX for what the guest sends, NET_DIR_RX for what the host injects. */
#ifndef VIREO_GUEST_NET_FRAME_H
#define VIREO_GUEST_NET_FRAME_H

#include <stdint.h>

#define NET_ETHERTYPE 0x88b5
#define NET_FRAME_MIN 60
#define NET_FRAME_MAX 1514 /* a 1500-byte MTU */
#define NET_PAYLOAD_AT 22
#define NET_DIR_TX 1
#define NET_DIR_RX 2
/* mode=check: frames each way, and their sizes by sequence number. */
#define NET_CHECK_FRAMES 16

static inline uint32_t net_check_size(uint32_t seq) {
  static const uint16_t sizes[8] = {60, 1514, 64, 61, 128, 1000, 1513, 333};
  return sizes[seq % 8];
}

static inline uint8_t net_pattern(uint32_t seq, uint32_t i, uint8_t dir) {
  uint32_t x = seq * 2654435761u + i * 40503u + dir * 0x9e3779b9u;
  return (uint8_t)(x ^ (x >> 11) ^ (x >> 23));
}

static inline uint32_t net_sum(const uint8_t* p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static inline uint32_t net_get32(const uint8_t* p) {
  return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void net_put32(uint8_t* p, uint32_t v) {
  for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static inline void net_frame_fill(uint8_t* f, uint32_t size, uint32_t seq, uint8_t dir,
                                  const uint8_t dst[6], const uint8_t src[6]) {
  for (int k = 0; k < 6; k++) {
    f[k] = dst[k];
    f[6 + k] = src[k];
  }
  f[12] = NET_ETHERTYPE >> 8;
  f[13] = NET_ETHERTYPE & 0xff;
  net_put32(f + 14, seq);
  for (uint32_t i = NET_PAYLOAD_AT; i < size; i++) f[i] = net_pattern(seq, i, dir);
  net_put32(f + 18, net_sum(f + NET_PAYLOAD_AT, size - NET_PAYLOAD_AT));
}

/* What is wrong with frame `f` of `size` bytes that should be sequence `seq` from `src`
 * to `dst` in direction `dir`: NULL if nothing. `*at` is set to the first bad byte. */
static inline const char* net_frame_check(const uint8_t* f, uint32_t size, uint32_t seq,
                                          uint8_t dir, const uint8_t dst[6],
                                          const uint8_t src[6], uint32_t* at) {
  *at = 0;
  if (size < NET_FRAME_MIN || size > NET_FRAME_MAX) return "frame size";
  for (int k = 0; k < 6; k++) {
    *at = (uint32_t)k;
    if (f[k] != dst[k]) return "destination MAC";
    *at = (uint32_t)(6 + k);
    if (f[6 + k] != src[k]) return "source MAC";
  }
  *at = 12;
  if (f[12] != (NET_ETHERTYPE >> 8) || f[13] != (NET_ETHERTYPE & 0xff)) return "ethertype";
  *at = 14;
  if (net_get32(f + 14) != seq) return "sequence number";
  for (uint32_t i = NET_PAYLOAD_AT; i < size; i++) {
    *at = i;
    if (f[i] != net_pattern(seq, i, dir)) return "payload";
  }
  *at = 18;
  if (net_get32(f + 18) != net_sum(f + NET_PAYLOAD_AT, size - NET_PAYLOAD_AT)) return "checksum";
  return 0;
}

#endif
