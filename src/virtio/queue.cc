#include "virtio/queue.h"

#include <fmt/format.h>

#include <atomic>

#include "virtio/spec.h"

namespace vireo::virtio {

namespace {

// struct virtq_desc, copied out of guest memory once.
struct RawDesc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(RawDesc) == split::kDescSize);

struct UsedElem {
  uint32_t id;
  uint32_t len;
};
static_assert(sizeof(UsedElem) == split::kUsedElemSize);

bool is_power_of_two(uint16_t v) { return v != 0 && (v & (v - 1)) == 0; }

// 2.7.10: whether the used index moving from `old_idx` to `new_idx` passed `event`.
bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx) {
  return static_cast<uint16_t>(new_idx - event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace

Queue::Queue(uint16_t max_size) { s_.max_size = max_size; }

void encode_queue_state(StateWriter& w, const QueueState& s) {
  w.u16(s.max_size);
  w.u16(s.size);
  w.boolean(s.ready);
  w.u64(s.desc);
  w.u64(s.avail);
  w.u64(s.used);
  w.u16(s.next_avail);
  w.u16(s.next_used);
  w.u16(s.signalled_used);
  w.boolean(s.signalled_valid);
  w.boolean(s.event_idx);
  w.boolean(s.indirect);
}

Result<QueueState> decode_queue_state(StateReader& r) {
  QueueState s;
  VIREO_ASSIGN_OR_RETURN(s.max_size, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.size, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.ready, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.desc, r.u64());
  VIREO_ASSIGN_OR_RETURN(s.avail, r.u64());
  VIREO_ASSIGN_OR_RETURN(s.used, r.u64());
  VIREO_ASSIGN_OR_RETURN(s.next_avail, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.next_used, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.signalled_used, r.u16());
  VIREO_ASSIGN_OR_RETURN(s.signalled_valid, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.event_idx, r.boolean());
  VIREO_ASSIGN_OR_RETURN(s.indirect, r.boolean());
  return s;
}

void Queue::reset() {
  const uint16_t max = s_.max_size;
  s_ = QueueState{};
  s_.max_size = max;
}

Result<void> Queue::validate(const memory::GuestMemory& mem) const {
  if (!is_power_of_two(s_.size) || s_.size > s_.max_size)
    return Error(fmt::format("queue size {} is not a power of two up to {}", s_.size, s_.max_size));
  struct Area {
    const char* name;
    uint64_t addr, len, align;
  };
  for (const Area& a : {Area{"descriptor table", s_.desc, split::desc_bytes(s_.size), split::kDescAlign},
                        Area{"available ring", s_.avail, split::avail_bytes(s_.size), split::kAvailAlign},
                        Area{"used ring", s_.used, split::used_bytes(s_.size), split::kUsedAlign}}) {
    if (a.addr % a.align != 0)
      return Error(fmt::format("the {} at {:#x} is not {}-byte aligned", a.name, a.addr, a.align));
    if (!mem.contains(a.addr, a.len))
      return Error(fmt::format("the {} at {:#x}+{:#x} is not in guest RAM", a.name, a.addr, a.len));
  }
  return {};
}

Result<uint16_t> Queue::avail_idx(const memory::GuestMemory& mem) const {
  return mem.load_acquire<uint16_t>(s_.avail + 2);
}

Result<bool> Queue::has_available(const memory::GuestMemory& mem) const {
  VIREO_ASSIGN_OR_RETURN(uint16_t idx, avail_idx(mem));
  return idx != s_.next_avail;
}

Result<std::optional<DescriptorChain>> Queue::pop(const memory::GuestMemory& mem) {
  VIREO_ASSIGN_OR_RETURN(uint16_t idx, avail_idx(mem));
  uint16_t pending = static_cast<uint16_t>(idx - s_.next_avail);
  if (pending == 0) {
    if (!s_.event_idx) return std::optional<DescriptorChain>();
    // With EVENT_IDX the driver kicks only when its available index passes avail_event,
    // so a device that has taken everything must move avail_event up to it, or it never
    // hears of the next buffer. Then look once more: a buffer made available before the
    // driver could see the new avail_event got no kick.
    VIREO_TRY(mem.store_release<uint16_t>(avail_event_addr(), s_.next_avail));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    VIREO_ASSIGN_OR_RETURN(idx, avail_idx(mem));
    pending = static_cast<uint16_t>(idx - s_.next_avail);
    if (pending == 0) return std::optional<DescriptorChain>();
  }
  if (pending > s_.size)
    return Error(fmt::format("the available index moved {} entries past the device, more than "
                             "the queue's {}", pending, s_.size));
  // The ring entry: ordered after the index by the acquire load.
  const uint64_t slot = s_.avail + 4 + 2 * uint64_t{static_cast<uint16_t>(s_.next_avail % s_.size)};
  VIREO_ASSIGN_OR_RETURN(uint16_t head, mem.read_obj<uint16_t>(slot));
  if (head >= s_.size)
    return Error(fmt::format("available ring entry {} names descriptor {} of {}", s_.next_avail,
                             head, s_.size));

  DescriptorChain chain;
  chain.head = head;
  uint64_t table = s_.desc;
  uint32_t table_size = s_.size;
  uint32_t limit = s_.size;  // descriptors one table can contribute: more means a loop
  uint32_t walked = 0;
  bool in_indirect = false, seen_writable = false;
  uint64_t readable = 0, writable = 0;
  uint16_t i = head;
  for (;;) {
    if (i >= table_size)
      return Error(fmt::format("chain {}: next descriptor {} is past the table of {}", head, i,
                               table_size));
    if (++walked > limit)
      return Error(fmt::format("chain {}: more than {} descriptors (a loop?)", head, limit));
    VIREO_ASSIGN_OR_RETURN(RawDesc d, mem.read_obj<RawDesc>(table + split::kDescSize * i));
    if (d.flags & split::kDescIndirect) {
      if (!s_.indirect)
        return Error(fmt::format("chain {}: an indirect descriptor, not negotiated", head));
      if (in_indirect || walked != 1)
        return Error(fmt::format("chain {}: an indirect descriptor inside a chain or table", head));
      if (d.flags & split::kDescNext)
        return Error(fmt::format("chain {}: an indirect descriptor with NEXT set", head));
      if (d.len == 0 || d.len % split::kDescSize != 0 || d.len / split::kDescSize > split::kMaxSize)
        return Error(fmt::format("chain {}: indirect table length {} is not a whole number of "
                                 "up to {} descriptors", head, d.len, split::kMaxSize));
      // No alignment is asked of an indirect table (2.7.5.3; Linux's are 8-byte aligned).
      if (!mem.contains(d.addr, d.len))
        return Error(fmt::format("chain {}: indirect table {:#x}+{:#x} is not in guest RAM",
                                 head, d.addr, d.len));
      table = d.addr;
      table_size = limit = d.len / split::kDescSize;
      walked = 0;
      in_indirect = true;
      i = 0;
      continue;
    }
    const bool w = d.flags & split::kDescWrite;
    if (d.len > 0 && !mem.contains(d.addr, d.len))
      return Error(fmt::format("chain {}: buffer {:#x}+{:#x} is not in guest RAM", head, d.addr, d.len));
    if (!w && seen_writable)
      return Error(fmt::format("chain {}: a device-readable buffer after a writable one", head));
    seen_writable |= w;
    (w ? writable : readable) += d.len;
    if (readable > UINT32_MAX || writable > UINT32_MAX)
      return Error(fmt::format("chain {}: more than 4 GiB of buffers", head));
    chain.descriptors.push_back({d.addr, d.len, w});
    if (!(d.flags & split::kDescNext)) break;
    i = d.next;
  }
  ++s_.next_avail;
  return std::optional<DescriptorChain>(std::move(chain));
}

Result<void> Queue::add_used(const memory::GuestMemory& mem, uint16_t head, uint32_t len) {
  if (head >= s_.size)
    return Error(fmt::format("used element for descriptor {} of {}", head, s_.size));
  const uint64_t slot = s_.used + 4 + split::kUsedElemSize * (s_.next_used % s_.size);
  VIREO_TRY(mem.write_obj(slot, UsedElem{head, len}));
  ++s_.next_used;
  // Publishes the element before the index.
  return mem.store_release<uint16_t>(s_.used + 2, s_.next_used);
}

Result<bool> Queue::should_notify(const memory::GuestMemory& mem) {
  // The used index store must be visible before the driver's flags or event are read
  // (the driver does the mirror image): a full fence, as in 2.7.10's pseudo-code.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (s_.event_idx) {
    VIREO_ASSIGN_OR_RETURN(uint16_t event, mem.load_acquire<uint16_t>(used_event_addr()));
    const uint16_t old_idx = s_.signalled_used;
    const bool valid = s_.signalled_valid;
    s_.signalled_used = s_.next_used;
    s_.signalled_valid = true;
    return !valid || need_event(event, s_.next_used, old_idx);
  }
  VIREO_ASSIGN_OR_RETURN(uint16_t flags, mem.load_acquire<uint16_t>(s_.avail));
  return !(flags & split::kAvailNoInterrupt);
}

Result<void> Queue::set_notifications(const memory::GuestMemory& mem, bool enable) {
  if (s_.event_idx) {
    // Kick when the driver passes the entry after the last one the device took. Disabling
    // needs no write: the driver kicks only when it passes avail_event.
    if (enable) VIREO_TRY(mem.store_release<uint16_t>(avail_event_addr(), s_.next_avail));
  } else {
    VIREO_TRY(mem.store_release<uint16_t>(s_.used, enable ? 0 : split::kUsedNoNotify));
  }
  if (enable) std::atomic_thread_fence(std::memory_order_seq_cst);  // before has_available()
  return {};
}

}  // namespace vireo::virtio
