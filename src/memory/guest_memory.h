// Guest physical memory: regions mapped into the VMM (private anonymous memory with
// transparent huge pages, or one shared memfd), with checked access and a log of the
// pages the VMM writes.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "memory/dirty_bitmap.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::memory {

class GuestMemory;

// One contiguous range of guest physical addresses backed by one host mapping.
struct Region {
  uint64_t gpa = 0;
  uint64_t size = 0;
  uint8_t* host = nullptr;  // start of the host mapping
  uint64_t fd_offset = 0;   // offset of this region in the backing memfd or file
  uint64_t end() const { return gpa + size; }
};

// The integers shared rings are made of (virtqueue indexes, flags, used elements,
// descriptor addresses): 2, 4 or 8 bytes, accessed at naturally aligned addresses.
template <class T>
concept RingWord = std::unsigned_integral<T> && (sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);

// Guest bytes the VMM writes in place (an ELF segment, a disk read straight into a guest
// buffer, a locked compare-exchange). Write only inside bytes() and only while this object
// lives; never keep the span. The range is marked dirty when the object is destroyed, that
// is after the writes: a dirty-log pass running meanwhile either takes that mark or runs
// before it and leaves it for the next pass. (Marking when handing the view out would not
// do: a pass could take the bit and copy the page before the bytes change, and the write
// would never reach the destination.)
class WritableSlice {
 public:
  WritableSlice(WritableSlice&& o) noexcept
      : mem_(std::exchange(o.mem_, nullptr)), gpa_(o.gpa_), bytes_(o.bytes_) {}
  WritableSlice& operator=(WritableSlice&&) = delete;
  WritableSlice(const WritableSlice&) = delete;
  WritableSlice& operator=(const WritableSlice&) = delete;
  ~WritableSlice();

  std::span<uint8_t> bytes() const { return bytes_; }
  uint64_t gpa() const { return gpa_; }

 private:
  friend class GuestMemory;
  WritableSlice(const GuestMemory* mem, uint64_t gpa, std::span<uint8_t> bytes)
      : mem_(mem), gpa_(gpa), bytes_(bytes) {}

  const GuestMemory* mem_;  // null once moved from
  uint64_t gpa_;
  std::span<uint8_t> bytes_;
};

// Guest RAM. All guest addresses are hostile input: every access is checked against
// the regions and fails with an Error (never UB) if any byte falls outside.
//
// Device code and the guest share this memory, and a guest can change any byte at any
// moment, also while the VMM reads it. So device code:
// - copies a guest structure out once (read(), read_obj(): one copy, nothing kept that
//   points into guest memory), validates the copy and uses only the copy, never reading
//   a field again after checking it (a second read can return a different value: TOCTOU).
//   A copy can be torn by a concurrent guest write; the validation must cope with that.
// - accesses the indexes and flags a guest changes concurrently (virtqueue avail/used
//   idx, event indexes) with load_acquire() / store_release(), never with plain reads:
//   load_acquire(avail idx) orders the ring entries read after it; write_obj(used elem)
//   then store_release(used idx) publishes the element before the index. (Virtio's
//   event-index check after publishing needs a full fence between the store and the
//   load: std::atomic_thread_fence(std::memory_order_seq_cst).)
// - writes only through write(), write_obj(), store_release() or a WritableSlice, which
//   record the pages written in the dirty bitmap while tracking is on. KVM's dirty log
//   sees only the guest's own writes; snapshots and live migration need both.
class GuestMemory {
 public:
  struct RangeSpec {
    uint64_t gpa;
    uint64_t size;
  };
  enum class Backing {
    // Private anonymous mappings with MADV_HUGEPAGE (as QEMU and Cloud Hypervisor do):
    // 2 MiB pages where the host's THP setting allows ("madvise", Debian's default), so
    // fewer TLB misses in the guest and far fewer pages to pin for an O_DIRECT request
    // (1 MiB disk reads 1.4-1.7x faster than over 4 KiB shmem pages, bench/blk_bench.sh).
    // Each mapping is named (smaps shows [anon:NAME]) so tools can tell guest RAM apart.
    kPrivate,
    // One memfd holding all ranges back to back, mapped shared: another process can map
    // the same pages (vhost-user, external snapshot tools). Shmem gets huge pages only
    // where the host's shmem_enabled allows, which it does not by default.
    kSharedMemfd,
  };
  // Maps the ranges. Sizes must be page-aligned.
  static Result<GuestMemory> create(const std::vector<RangeSpec>& ranges,
                                    const std::string& name = "vireo-guest-ram",
                                    Backing backing = Backing::kPrivate);
  // Maps the ranges from a snapshot's memory file (memory/memory_file.h: the ranges back
  // to back), private and copy-on-write: nothing is read until the guest touches a page,
  // so this takes the same time for any size, and the guest's writes never reach the
  // file. The file must hold them all.
  static Result<GuestMemory> map_file(const std::vector<RangeSpec>& ranges, int fd,
                                      const std::string& name = "vireo-guest-ram");

  GuestMemory() = default;
  ~GuestMemory();
  // Moves keep the regions, the bitmaps and whether tracking is on. Not while other
  // threads use either object.
  GuestMemory(GuestMemory&&) noexcept;
  GuestMemory& operator=(GuestMemory&&) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  const std::vector<Region>& regions() const { return regions_; }
  uint64_t total_size() const;
  int memfd() const { return memfd_.get(); }  // -1 unless Backing::kSharedMemfd

  // True if [gpa, gpa+len) lies inside one region.
  bool contains(uint64_t gpa, uint64_t len) const;

  // Read-only host view of [gpa, gpa+len); fails unless the whole range is inside one
  // region. For bulk reads that a copy would only slow down (a guest buffer written to a
  // file); the guest may change the bytes while they are read, so nothing read through it
  // may be validated and then read again.
  Result<std::span<const uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  // Writable view of [gpa, gpa+len) inside one region; marks it dirty when released.
  Result<WritableSlice> writable_slice(uint64_t gpa, uint64_t len) const;

  // Copies that may span adjacent regions; fail if any byte is outside guest RAM. read()
  // copies each byte once. write() marks every page it changed, also when it fails
  // part-way.
  Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;
  Result<void> write(uint64_t gpa, std::span<const uint8_t> in) const;

  template <class T>
  Result<T> read_obj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    auto r = read(gpa, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!r.ok()) return r.error();
    return value;
  }
  template <class T>
  Result<void> write_obj(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&value),
                                               sizeof(T)));
  }

  // Single atomic accesses of the T at gpa (host byte order: little-endian, as virtio
  // rings are), which must be naturally aligned (gpa % sizeof(T) == 0): an unaligned or
  // out-of-range gpa is an Error. load_acquire() orders the accesses after it,
  // store_release() the ones before it; the store marks its page dirty.
  template <RingWord T>
  Result<T> load_acquire(uint64_t gpa) const {
    VIREO_ASSIGN_OR_RETURN(HostRange at, aligned_host(gpa, sizeof(T), "load"));
    return std::atomic_ref<T>(*reinterpret_cast<T*>(at.host)).load(std::memory_order_acquire);
  }
  template <RingWord T>
  Result<void> store_release(uint64_t gpa, T value) const {
    VIREO_ASSIGN_OR_RETURN(HostRange at, aligned_host(gpa, sizeof(T), "store"));
    std::atomic_ref<T>(*reinterpret_cast<T*>(at.host)).store(value, std::memory_order_release);
    mark_in_region(at.region, gpa, sizeof(T));
    return {};
  }

  // Gives the pages of [gpa, gpa+len) back to the host (MADV_DONTNEED, or MADV_REMOVE
  // for the memfd: the pages are freed, a huge page around them is split; the guest
  // reads zeros there afterwards, and KVM drops its mappings). Both
  // ends must be 4 KiB aligned and the range inside one region. Counts as a write for
  // dirty tracking (the contents changed to zeros). Over a map_file() region the pages
  // become anonymous zero pages (the file's bytes are not what a discard leaves).
  Result<void> discard(uint64_t gpa, uint64_t len) const;

  // Dirty tracking: while on, every write through this object sets the bits of the pages
  // it touched in its region's DirtyBitmap (KVM_GET_DIRTY_LOG's layout; region i of
  // regions() is KVM memory slot i). While off, a write pays one relaxed load of the flag.
  //
  // start_dirty_tracking() clears the bitmaps, turns tracking on and then runs a memory
  // barrier in every thread of the process (process_memory_barrier()), so that a write
  // racing with it is either marked or visible to whoever reads guest memory after it
  // returns: the writer orders its stores before its flag load with a compiler barrier only,
  // which the membarrier turns into a full one. It fails only if that barrier is refused.
  // stop_dirty_tracking() turns it off; writes racing with it may or may not be marked
  // (copy the last pages with the devices paused). Call start, stop and take from one
  // thread at a time; they may run while other threads write.
  Result<void> start_dirty_tracking();
  void stop_dirty_tracking();
  bool dirty_tracking() const { return tracking_.load(std::memory_order_relaxed); }
  // Returns the bitmap of regions()[region_index] and clears it (an atomic exchange per
  // word: a page marked meanwhile is in this bitmap or the next one, never lost).
  Result<std::vector<uint64_t>> take_dirty_bitmap(size_t region_index);
  // Marks the pages of [gpa, gpa+len) while tracking is on, for writes made around this
  // class (bytes outside guest RAM are ignored). Call it after the write.
  void mark_dirty(uint64_t gpa, uint64_t len) const;

 private:
  struct HostRange {
    uint8_t* host;
    size_t region;
  };

  const Region* find(uint64_t gpa) const;
  // Host address of [gpa, gpa+len) inside one region, or an Error naming `what`.
  Result<HostRange> host_range(uint64_t gpa, uint64_t len, const char* what) const;
  // The same for a naturally aligned access of `size` bytes.
  Result<HostRange> aligned_host(uint64_t gpa, uint64_t size, const char* what) const;
  // Marks [gpa, gpa+len), which lies in regions_[region], if tracking is on. The compiler
  // barrier keeps the caller's writes before the flag load (see start_dirty_tracking()).
  void mark_in_region(size_t region, uint64_t gpa, uint64_t len) const {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (tracking_.load(std::memory_order_relaxed)) mark_tracked(region, gpa, len);
  }
  void mark_tracked(size_t region, uint64_t gpa, uint64_t len) const;
  void unmap_all();

  UniqueFd memfd_;
  bool from_file_ = false;  // map_file(): discard maps zero pages over the file's
  std::vector<Region> regions_;
  std::vector<DirtyBitmap> dirty_;  // dirty_[i] covers regions_[i]
  std::atomic<bool> tracking_{false};
};

}  // namespace vireo::memory
