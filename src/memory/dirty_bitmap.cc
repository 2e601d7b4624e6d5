#include "memory/dirty_bitmap.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include <fmt/format.h>

namespace vireo::memory {

Result<DirtyBitmap> DirtyBitmap::create(uint64_t pages) {
  DirtyBitmap b;
  b.pages_ = pages;
  const uint64_t bytes = (b.words() * sizeof(uint64_t) + kPageSize - 1) / kPageSize * kPageSize;
  if (bytes == 0) return b;
  // Private anonymous pages read as zero until written, and only written pages count.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return Error::from_errno(fmt::format("mmap(dirty bitmap of {} pages)", pages));
  b.words_ = static_cast<uint64_t*>(p);
  b.map_bytes_ = bytes;
  return b;
}

DirtyBitmap::~DirtyBitmap() { unmap(); }

DirtyBitmap::DirtyBitmap(DirtyBitmap&& o) noexcept
    : words_(std::exchange(o.words_, nullptr)),
      pages_(std::exchange(o.pages_, 0)),
      map_bytes_(std::exchange(o.map_bytes_, 0)) {}

DirtyBitmap& DirtyBitmap::operator=(DirtyBitmap&& o) noexcept {
  if (this != &o) {
    unmap();
    words_ = std::exchange(o.words_, nullptr);
    pages_ = std::exchange(o.pages_, 0);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
  }
  return *this;
}

void DirtyBitmap::unmap() {
  if (words_) ::munmap(words_, map_bytes_);
  words_ = nullptr;
  pages_ = 0;
  map_bytes_ = 0;
}

void DirtyBitmap::mark(uint64_t first, uint64_t end) const {
  end = std::min(end, pages_);
  if (first >= end) return;
  const uint64_t last = end - 1;
  for (uint64_t w = first / 64; w <= last / 64; ++w) {
    const unsigned lo = w == first / 64 ? first % 64 : 0;
    const unsigned hi = w == last / 64 ? last % 64 : 63;
    const uint64_t mask = (~0ull >> (63 - hi)) & (~0ull << lo);  // bits lo..hi
    // Release: whoever takes this bit sees the caller's writes to the page.
    std::atomic_ref<uint64_t>(words_[w]).fetch_or(mask, std::memory_order_release);
  }
}

std::vector<uint64_t> DirtyBitmap::take() const {
  std::vector<uint64_t> out(words());
  for (size_t w = 0; w < out.size(); ++w) {
    std::atomic_ref<uint64_t> word(words_[w]);
    // A zero word is left alone so its page of the bitmap stays unbacked.
    if (word.load(std::memory_order_relaxed) != 0)
      out[w] = word.exchange(0, std::memory_order_acquire);
  }
  return out;
}

void DirtyBitmap::clear() const {
  for (size_t w = 0; w < words(); ++w) {
    std::atomic_ref<uint64_t> word(words_[w]);
    if (word.load(std::memory_order_relaxed) != 0) word.store(0, std::memory_order_relaxed);
  }
}

}  // namespace vireo::memory
