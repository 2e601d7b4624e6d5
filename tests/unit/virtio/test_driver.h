// TestDriver: the driver side of a split virtqueue in a small real guest memory, for
// device and queue tests. It lays out the three areas, makes chains available (direct or
// through an indirect table), and reads what the device used. Tests that play a hostile
// guest poke the areas directly (desc_addr(), avail_addr(), ...).
#pragma once

#include <cstdint>
#include <vector>

#include "memory/guest_memory.h"
#include "virtio/queue.h"
#include "virtio/spec.h"

namespace vireo::virtio::test {

struct Buf {
  uint64_t addr;
  uint32_t len;
  bool writable;
};

class TestDriver {
 public:
  // A guest memory of `mem_size` bytes with a queue of `size` entries at 0x1000.
  explicit TestDriver(uint16_t size = 16, uint64_t mem_size = 0x100000)
      : mem_(std::move(*memory::GuestMemory::create({{0, mem_size}}))), size_(size) {
    desc_ = 0x1000;
    avail_ = desc_ + split::desc_bytes(size);
    used_ = (avail_ + split::avail_bytes(size) + 3) & ~uint64_t{3};
    data_ = (used_ + split::used_bytes(size) + 0xfff) & ~uint64_t{0xfff};
  }

  memory::GuestMemory& mem() { return mem_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }
  uint16_t size() const { return size_; }

  // Configures `q` as a driver would through a transport.
  void setup(Queue& q, bool event_idx = false, bool indirect = true) {
    auto& s = q.state();
    s.size = size_;
    s.desc = desc_;
    s.avail = avail_;
    s.used = used_;
    s.event_idx = event_idx;
    s.indirect = indirect;
    s.ready = true;
  }

  // Guest memory for buffers, bump-allocated after the rings.
  uint64_t alloc(uint64_t len, uint64_t align = 16) {
    data_ = (data_ + align - 1) & ~(align - 1);
    const uint64_t at = data_;
    data_ += len;
    return at;
  }

  void write_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next,
                  uint64_t table = 0) {
    const uint64_t at = (table ? table : desc_) + split::kDescSize * i;
    (void)mem_.write_obj<uint64_t>(at, addr);
    (void)mem_.write_obj<uint32_t>(at + 8, len);
    (void)mem_.write_obj<uint16_t>(at + 12, flags);
    (void)mem_.write_obj<uint16_t>(at + 14, next);
  }

  // Puts head `h` in the available ring and bumps the index.
  void make_available(uint16_t h) {
    (void)mem_.write_obj<uint16_t>(avail_ + 4 + 2 * (avail_idx_ % size_), h);
    ++avail_idx_;
    (void)mem_.write_obj<uint16_t>(avail_ + 2, avail_idx_);
  }
  void set_avail_idx(uint16_t v) {
    avail_idx_ = v;
    (void)mem_.write_obj<uint16_t>(avail_ + 2, v);
  }

  // A chain of `bufs` using descriptors from next_desc_; returns its head.
  uint16_t add_chain(const std::vector<Buf>& bufs) {
    const uint16_t head = next_desc_;
    for (size_t k = 0; k < bufs.size(); ++k) {
      const uint16_t i = next_desc_++ % size_;
      const bool last = k + 1 == bufs.size();
      write_desc(i, bufs[k].addr, bufs[k].len,
                 static_cast<uint16_t>((bufs[k].writable ? split::kDescWrite : 0) |
                                       (last ? 0 : split::kDescNext)),
                 static_cast<uint16_t>(next_desc_ % size_));
    }
    make_available(head % size_);
    return head % size_;
  }

  // A chain described by an indirect table (one descriptor in the queue's table).
  uint16_t add_indirect(const std::vector<Buf>& bufs) {
    const uint64_t table = alloc(split::kDescSize * bufs.size(), 16);
    for (size_t k = 0; k < bufs.size(); ++k) {
      const bool last = k + 1 == bufs.size();
      write_desc(static_cast<uint16_t>(k), bufs[k].addr, bufs[k].len,
                 static_cast<uint16_t>((bufs[k].writable ? split::kDescWrite : 0) |
                                       (last ? 0 : split::kDescNext)),
                 static_cast<uint16_t>(k + 1), table);
    }
    const uint16_t head = next_desc_++ % size_;
    write_desc(head, table, static_cast<uint32_t>(split::kDescSize * bufs.size()),
               split::kDescIndirect, 0);
    make_available(head);
    return head;
  }

  // Whether a real driver would notify after making entries available since
  // `old_avail` (2.7.13.4): with EVENT_IDX once its index passed avail_event, without it
  // unless the device set VIRTQ_USED_F_NO_NOTIFY.
  bool would_kick(uint16_t old_avail, bool event_idx) {
    if (!event_idx) return !(used_flags() & split::kUsedNoNotify);
    const uint16_t event = avail_event();
    return static_cast<uint16_t>(avail_idx_ - event - 1) <
           static_cast<uint16_t>(avail_idx_ - old_avail);
  }
  uint16_t avail_idx() const { return avail_idx_; }

  uint16_t used_idx() { return *mem_.read_obj<uint16_t>(used_ + 2); }
  uint16_t used_flags() { return *mem_.read_obj<uint16_t>(used_); }
  // The used element `n` (in ring order): {id, len}.
  std::pair<uint32_t, uint32_t> used_elem(uint16_t n) {
    const uint64_t at = used_ + 4 + split::kUsedElemSize * (n % size_);
    return {*mem_.read_obj<uint32_t>(at), *mem_.read_obj<uint32_t>(at + 4)};
  }
  uint16_t avail_event() { return *mem_.read_obj<uint16_t>(used_ + 4 + 8 * size_); }
  void set_used_event(uint16_t v) { (void)mem_.write_obj<uint16_t>(avail_ + 4 + 2 * size_, v); }
  void set_avail_flags(uint16_t v) { (void)mem_.write_obj<uint16_t>(avail_, v); }

 private:
  memory::GuestMemory mem_;
  uint16_t size_;
  uint64_t desc_, avail_, used_, data_;
  uint16_t avail_idx_ = 0;
  uint16_t next_desc_ = 0;
};

// A second queue in a TestDriver's memory (devices with several queues): its rings are
// allocated from the driver's buffer area; chains are direct and device-readable or
// -writable as given.
class ExtraQueue {
 public:
  ExtraQueue(TestDriver& drv, uint16_t size = 16)
      : drv_(drv),
        size_(size),
        desc_(drv.alloc(split::desc_bytes(size), 16)),
        avail_(drv.alloc(split::avail_bytes(size), 2)),
        used_(drv.alloc(split::used_bytes(size), 4)) {}

  uint16_t size() const { return size_; }
  uint64_t desc_addr() const { return desc_; }
  uint64_t avail_addr() const { return avail_; }
  uint64_t used_addr() const { return used_; }

  uint16_t add_chain(const std::vector<Buf>& bufs) {
    const uint16_t head = next_ % size_;
    for (size_t k = 0; k < bufs.size(); ++k) {
      const uint64_t at = desc_ + split::kDescSize * ((next_ + k) % size_);
      const bool last = k + 1 == bufs.size();
      (void)drv_.mem().write_obj<uint64_t>(at, bufs[k].addr);
      (void)drv_.mem().write_obj<uint32_t>(at + 8, bufs[k].len);
      (void)drv_.mem().write_obj<uint16_t>(
          at + 12, static_cast<uint16_t>((bufs[k].writable ? split::kDescWrite : 0) |
                                         (last ? 0 : split::kDescNext)));
      (void)drv_.mem().write_obj<uint16_t>(at + 14, static_cast<uint16_t>((next_ + k + 1) % size_));
    }
    next_ = static_cast<uint16_t>(next_ + bufs.size());
    (void)drv_.mem().write_obj<uint16_t>(avail_ + 4 + 2 * (avail_idx_ % size_), head);
    ++avail_idx_;
    (void)drv_.mem().write_obj<uint16_t>(avail_ + 2, avail_idx_);
    return head;
  }
  uint16_t used_idx() { return *drv_.mem().read_obj<uint16_t>(used_ + 2); }
  std::pair<uint32_t, uint32_t> used_elem(uint16_t n) {
    const uint64_t at = used_ + 4 + split::kUsedElemSize * (n % size_);
    return {*drv_.mem().read_obj<uint32_t>(at), *drv_.mem().read_obj<uint32_t>(at + 4)};
  }

 private:
  TestDriver& drv_;
  uint16_t size_;
  uint64_t desc_, avail_, used_;
  uint16_t next_ = 0, avail_idx_ = 0;
};

}  // namespace vireo::virtio::test
