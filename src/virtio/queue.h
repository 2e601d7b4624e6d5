// Queue: the device side of one split virtqueue (virtio 1.2, 2.7).
//
// The driver owns the descriptor table and the available ring, the device the used ring;
// all three live in guest memory, which the guest may change at any time. So:
// - every index, address, length and flag is checked before it is used, on a copy read
//   once (no pointers into guest memory are kept);
// - a driver that breaks the protocol (a descriptor loop, a chain or table past the end
//   of guest memory, an index past the queue size, an available index that jumped more
//   than the queue holds, nested or misplaced indirect tables) gets an Error from pop():
//   the device then reports DEVICE_NEEDS_RESET and stops using the queue. Walking a chain
//   is bounded by the queue size (or the indirect table's), so nothing a guest writes can
//   make the VMM loop, allocate without bound or touch memory outside guest RAM;
// - the available index is read with acquire and the used index published with release
//   ordering; notification decisions put a full fence between the two (2.7.7, 2.7.10).
//
// Notification suppression both ways: set_notifications() asks the driver for kicks, or
// asks it not to (VIRTQ_USED_F_NO_NOTIFY, or avail_event with VIRTIO_F_EVENT_IDX), and
// should_notify() tells whether the driver wants an interrupt for what was just used
// (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event).
//
// Not thread-safe: one thread (the device's I/O thread) drives a queue; the transport
// configures it only while the device is not running.
#pragma once

#include <cstdint>
#include <optional>

#include "memory/guest_memory.h"
#include "util/result.h"
#include "util/state_codec.h"
#include "virtio/descriptor_chain.h"

namespace vireo::virtio {

// Everything about a queue that a snapshot must keep.
struct QueueState {
  uint16_t max_size = 0;     // what the device offers
  uint16_t size = 0;         // what the driver chose (a power of two, <= max_size)
  bool ready = false;        // queue_enable
  uint64_t desc = 0, avail = 0, used = 0;  // guest addresses of the three areas
  uint16_t next_avail = 0;   // the device's position in the available ring
  uint16_t next_used = 0;    // the used index the device published last
  uint16_t signalled_used = 0;      // next_used at the last interrupt decision (EVENT_IDX)
  bool signalled_valid = false;     // false until the first one
  bool event_idx = false;    // VIRTIO_F_EVENT_IDX negotiated
  bool indirect = false;     // VIRTIO_F_INDIRECT_DESC negotiated
  bool operator==(const QueueState&) const = default;
};

// The encoding of a QueueState in a device's saved state.
void encode_queue_state(StateWriter& w, const QueueState& s);
Result<QueueState> decode_queue_state(StateReader& r);

class Queue {
 public:
  explicit Queue(uint16_t max_size);

  QueueState& state() { return s_; }
  const QueueState& state() const { return s_; }

  // Back to the reset state (the driver sets it up again); max_size stays.
  void reset();

  // Checks the driver's setup when the queue is enabled: a power-of-two size up to
  // max_size, aligned areas inside guest RAM.
  Result<void> validate(const memory::GuestMemory& mem) const;

  // The next available chain; nullopt when the driver has made none available. With
  // EVENT_IDX, finding the ring empty also publishes avail_event (the driver's next
  // buffer gets a kick), so a device that pops until nullopt never misses one.
  Result<std::optional<DescriptorChain>> pop(const memory::GuestMemory& mem);
  // Puts the chain pop() returned last back, to be popped again (a rate-limited device
  // that may not serve it yet).
  void undo_pop() { --s_.next_avail; }
  // Returns a chain to the driver: `len` is the number of bytes the device wrote.
  Result<void> add_used(const memory::GuestMemory& mem, uint16_t head, uint32_t len);
  // Whether the driver wants an interrupt for the used elements added since the last call.
  Result<bool> should_notify(const memory::GuestMemory& mem);
  // Asks the driver to notify (kick) on new buffers, or not to. After enabling, check
  // has_available(): buffers made available before the driver saw the request get no
  // kick.
  Result<void> set_notifications(const memory::GuestMemory& mem, bool enable);
  // Whether chains are waiting.
  Result<bool> has_available(const memory::GuestMemory& mem) const;

 private:
  Result<uint16_t> avail_idx(const memory::GuestMemory& mem) const;
  uint64_t used_event_addr() const { return s_.avail + 4 + 2 * uint64_t{s_.size}; }
  uint64_t avail_event_addr() const { return s_.used + 4 + 8 * uint64_t{s_.size}; }

  QueueState s_;
};

}  // namespace vireo::virtio
