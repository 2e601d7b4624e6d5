/* Split virtqueues: the ring-0 part of a queue's setup. See virtqueue.h. */
#include "virtqueue.h"

#include "runtime.h"

void virtq_init(struct virtq* q, struct virtq_rings* rings, uint16_t index, uint16_t size,
                uint64_t notify, uint8_t notify_width) {
  memset(rings, 0, sizeof *rings);
  memset(q, 0, sizeof *q);
  q->rings = rings;
  q->notify = notify;
  q->notify_width = notify_width;
  q->index = index;
  q->size = size;
  q->num_free = size;
  for (uint16_t i = 0; i + 1 < size; i++) rings->desc[i].next = (uint16_t)(i + 1);
}
