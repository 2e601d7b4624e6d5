// The pages of one guest memory region that the VMM wrote, in KVM's dirty-log layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/result.h"

namespace vireo::memory {

// Size of a page in the dirty log (KVM logs 4-KiB pages on x86).
inline constexpr uint64_t kPageSize = 4096;

// One bit per 4-KiB page of a region, in 64-bit words exactly as KVM_GET_DIRTY_LOG
// returns them: bit i of word w is page w * 64 + i of the region (so on this
// little-endian host, bit j of byte b is page b * 8 + j), and the bitmap has
// ceil(pages / 64) words. A migration pass can OR it with KVM's log of the same slot.
//
// The words live in an anonymous mapping of their own: a bitmap that is never written
// costs address space, not memory (32 KiB per GiB of guest RAM once written).
//
// Thread safety: mark() and take() are lock-free atomic operations on the words and may
// run on any threads at the same time. mark() is a release and take() an acquire, so a
// caller that takes a page's bit and then reads the page sees every byte written before
// that bit was marked; a page marked after take() read its word keeps its bit for the
// next take(). clear() is for when nobody marks (it can drop a concurrent mark).
class DirtyBitmap {
 public:
  static Result<DirtyBitmap> create(uint64_t pages);

  DirtyBitmap() = default;
  ~DirtyBitmap();
  DirtyBitmap(DirtyBitmap&& o) noexcept;
  DirtyBitmap& operator=(DirtyBitmap&& o) noexcept;
  DirtyBitmap(const DirtyBitmap&) = delete;
  DirtyBitmap& operator=(const DirtyBitmap&) = delete;

  uint64_t pages() const { return pages_; }
  size_t words() const { return static_cast<size_t>((pages_ + 63) / 64); }

  // Sets the bits of pages [first, end); pages past pages() are ignored. One atomic OR
  // per word touched.
  void mark(uint64_t first, uint64_t end) const;
  // Returns the bitmap and clears it, word by word (an atomic exchange each).
  std::vector<uint64_t> take() const;
  // Clears every word; words already zero are not written (their pages stay unbacked).
  void clear() const;

 private:
  void unmap();

  uint64_t* words_ = nullptr;  // words() words at the start of a mapping of map_bytes_
  uint64_t pages_ = 0;
  size_t map_bytes_ = 0;
};

}  // namespace vireo::memory
