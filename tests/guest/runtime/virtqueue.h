/*
 * The transport-independent part of the test guests' virtio drivers: device status and
 * feature bits, device IDs, and split virtqueues (virtio 1.2, 2.7) with their queue
 * operations. virtio_mmio.h and virtio_pci.h set queues up on their transports
 * (virtq_init here does the memory side); virtio.h picks a transport.
 *
 * The queue operations (add, kick, poll) are static inline so that they compile into
 * whichever object calls them: called from a `*_user.c` file they land in the `.user`
 * page and run in ring 3, natively on hosts that emulate ring 0. For that the `struct
 * virtq`, its rings and the buffers must be in user pages too, and so must the page of
 * the device's notification register (paging_set_user).
 *
 * Memory ordering: the guest is x86 (TSO). Stores are seen in program order by the
 * device (also relative to the uncached store to the notification register), and loads
 * are not reordered with older loads, so compiler barriers are enough between writing a
 * ring entry and publishing the index, and between reading the used index and its
 * entries.
 */
#ifndef VIREO_GUEST_VIRTQUEUE_H
#define VIREO_GUEST_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Feature bits (6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Device IDs (5). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_ENTROPY 4

/* ---- Split virtqueues (2.7) ---- */

#define VIRTQ_MAX 256 /* the largest queue this driver sets up */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1 /* the driver polls: no interrupts, please */

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[VIRTQ_MAX]; /* only `size` entries are used (no EVENT_IDX: no used_event) */
  uint16_t used_event;
};
struct virtq_used_elem {
  uint32_t id; /* the head of the chain (32 bits in the ring, a descriptor index) */
  uint32_t len;
};
struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  struct virtq_used_elem ring[VIRTQ_MAX];
  uint16_t avail_event;
};

/* The rings of one queue, in memory the guest owns. Alignments from 2.7 (table 2.3):
 * descriptors 16, available ring 2, used ring 4; the page alignment is for tidiness. */
struct virtq_rings {
  struct virtq_desc desc[VIRTQ_MAX];
  struct virtq_avail avail __attribute__((aligned(16)));
  struct virtq_used used __attribute__((aligned(16)));
} __attribute__((aligned(4096)));

struct virtq {
  struct virtq_rings* rings;
  uint64_t notify;    /* address of the queue's notification register */
  uint8_t notify_width; /* bytes the kick writes there: 4 (virtio-mmio) or 2 (virtio-pci) */
  uint16_t index;     /* the queue's number on its device */
  uint16_t size;      /* entries, a power of two <= VIRTQ_MAX */
  uint16_t free_head; /* free descriptors are chained through desc[].next */
  uint16_t num_free;
  uint16_t avail_idx; /* the driver's copy of avail.idx */
  uint16_t last_used; /* used entries consumed so far */
  uint16_t chain_len[VIRTQ_MAX]; /* per in-flight head: descriptors to free; 0 = not in flight */
};

/* The memory side of a queue's setup: clears `q` and `rings` and chains all `size`
 * descriptors into the free list. The transport then tells the device where the rings
 * are. In virtqueue.c (ring 0). */
void virtq_init(struct virtq* q, struct virtq_rings* rings, uint16_t index, uint16_t size,
                uint64_t notify, uint8_t notify_width);

/* One buffer of a chain: `device_writes` buffers must follow the readable ones. */
struct virtq_buf {
  uint64_t addr;
  uint32_t len;
  bool device_writes;
};

static inline void virtq_barrier(void) { __asm__ volatile("" ::: "memory"); }

/* Chains `n` buffers and makes the chain available (the device sees it at the next
 * kick). Returns the head descriptor, or -1 if fewer than n (or no) descriptors are free. */
static inline int virtq_add(struct virtq* q, const struct virtq_buf* bufs, unsigned n) {
  if (n == 0 || n > q->num_free) return -1;
  struct virtq_desc* desc = q->rings->desc;
  uint16_t head = q->free_head, i = head;
  for (unsigned k = 0; k < n; k++) {
    desc[i].addr = bufs[k].addr;
    desc[i].len = bufs[k].len;
    desc[i].flags = (uint16_t)((bufs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0) |
                               (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
    if (k + 1 < n) i = desc[i].next; /* the free list already links them */
  }
  q->free_head = desc[i].next;
  q->num_free = (uint16_t)(q->num_free - n);
  q->chain_len[head] = (uint16_t)n;
  q->rings->avail.ring[q->avail_idx & (q->size - 1)] = head;
  q->avail_idx++;
  virtq_barrier(); /* the entry before the index that publishes it */
  *(volatile uint16_t*)&q->rings->avail.idx = q->avail_idx;
  return head;
}

/* Tells the device that queue has new chains: writes the queue's index to its
 * notification register (virtio-mmio QueueNotify, 32 bits; virtio-pci, 16 bits). */
static inline void virtq_kick(struct virtq* q) {
  virtq_barrier(); /* published indices before the notification */
  if (q->notify_width == 2)
    *(volatile uint16_t*)(uintptr_t)q->notify = q->index;
  else
    *(volatile uint32_t*)(uintptr_t)q->notify = q->index;
}

/* Kicks unless the device said it needs none (VIRTQ_USED_F_NO_NOTIFY: it is polling the
 * ring, as Linux's virtqueue_kick_prepare() honours). The flag is read after the index is
 * published, with a full barrier between (the device sets the flag, fences and reads the
 * index: one of the two sees the other). True if it kicked. */
#define VIRTQ_USED_F_NO_NOTIFY 1
static inline bool virtq_kick_if_wanted(struct virtq* q) {
  __asm__ volatile("lock; addl $0, (%%rsp)" ::: "memory", "cc");
  if (*(volatile uint16_t*)&q->rings->used.flags & VIRTQ_USED_F_NO_NOTIFY) return false;
  virtq_kick(q);
  return true;
}

/* Chains the device has returned but the driver has not taken yet. */
static inline uint16_t virtq_used_pending(const struct virtq* q) {
  return (uint16_t)(*(volatile uint16_t*)&q->rings->used.idx - q->last_used);
}

/* Takes the next used entry: returns its head and sets *len (bytes the device wrote), or
 * -1 if there is none yet, or -2 if the device returned a head that is not in flight
 * (the entry is consumed all the same). Frees the chain's descriptors. */
static inline int virtq_get_used(struct virtq* q, uint32_t* len) {
  if (virtq_used_pending(q) == 0) return -1;
  virtq_barrier(); /* the index before the entry it covers */
  const volatile struct virtq_used_elem* e = &q->rings->used.ring[q->last_used & (q->size - 1)];
  uint32_t id = e->id;
  *len = e->len;
  q->last_used++;
  if (id >= q->size || q->chain_len[id] == 0) return -2;
  /* Our own record of the chain, not the table, says how long it is. */
  struct virtq_desc* desc = q->rings->desc;
  uint16_t last = (uint16_t)id;
  for (uint16_t k = 1; k < q->chain_len[id]; k++) last = desc[last].next;
  desc[last].next = q->free_head;
  q->free_head = (uint16_t)id;
  q->num_free = (uint16_t)(q->num_free + q->chain_len[id]);
  q->chain_len[id] = 0;
  return (int)id;
}

static inline uint64_t virtq_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* Polls for the next used entry for up to `timeout_cycles` TSC cycles: like
 * virtq_get_used(), and -1 on timeout. */
static inline int virtq_wait_used(struct virtq* q, uint32_t* len, uint64_t timeout_cycles) {
  uint64_t start = virtq_rdtsc();
  while (virtq_used_pending(q) == 0) {
    if (virtq_rdtsc() - start > timeout_cycles) return -1;
    __asm__ volatile("pause" ::: "memory");
  }
  return virtq_get_used(q, len);
}

#endif
