#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "util/membarrier.h"

namespace vireo::memory {

WritableSlice::~WritableSlice() {
  if (mem_) mem_->mark_dirty(gpa_, bytes_.size());
}

Result<GuestMemory> GuestMemory::create(const std::vector<RangeSpec>& ranges,
                                        const std::string& name, Backing backing) {
  GuestMemory mem;
  uint64_t total = 0;
  for (const auto& r : ranges) {
    if (r.size == 0 || r.size % kPageSize != 0 || r.gpa % kPageSize != 0)
      return Error(fmt::format("guest memory range {:#x}+{:#x} is not page-aligned", r.gpa,
                               r.size));
    if (r.gpa + r.size < r.gpa) return Error("guest memory range wraps around");
    total += r.size;
  }
  int fd = -1;
  if (backing == Backing::kSharedMemfd) {
    fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
    if (fd < 0) return Error::from_errno("memfd_create(guest memory)");
    mem.memfd_.reset(fd);
    if (::ftruncate(fd, static_cast<off_t>(total)) != 0)
      return Error::from_errno(fmt::format("ftruncate(guest memory, {} bytes)", total));
  }
  uint64_t offset = 0;
  for (const auto& r : ranges) {
    void* p = backing == Backing::kSharedMemfd
                  ? ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                           fd, static_cast<off_t>(offset))
                  : ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return Error::from_errno(fmt::format("mmap(guest memory {:#x}+{:#x})", r.gpa, r.size));
    mem.regions_.push_back(Region{r.gpa, r.size, static_cast<uint8_t*>(p), offset});
    if (backing == Backing::kPrivate) {
      // Both are hints: a host without THP or without anonymous VMA names still runs.
      (void)::madvise(p, r.size, MADV_HUGEPAGE);
      (void)::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, r.size, name.c_str());
    }
    offset += r.size;
    VIREO_ASSIGN_OR_RETURN(auto bitmap, DirtyBitmap::create(r.size / kPageSize));
    mem.dirty_.push_back(std::move(bitmap));
  }
  return mem;
}

Result<GuestMemory> GuestMemory::map_file(const std::vector<RangeSpec>& ranges, int fd,
                                          const std::string& name) {
  GuestMemory mem;
  mem.from_file_ = true;
  uint64_t offset = 0;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error::from_errno("fstat(guest memory file)");
  for (const auto& r : ranges) {
    if (r.size == 0 || r.size % kPageSize != 0 || r.gpa % kPageSize != 0)
      return Error(fmt::format("guest memory range {:#x}+{:#x} is not page-aligned", r.gpa, r.size));
    if (offset + r.size > static_cast<uint64_t>(st.st_size))
      return Error(fmt::format("the memory file holds {} bytes, the guest's memory needs {}",
                               st.st_size, offset + r.size));
    void* p = ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd,
                     static_cast<off_t>(offset));
    if (p == MAP_FAILED)
      return Error::from_errno(fmt::format("mmap(guest memory file {:#x}+{:#x})", r.gpa, r.size));
    mem.regions_.push_back(Region{r.gpa, r.size, static_cast<uint8_t*>(p), offset});
    (void)name;  // file mappings show the file's name in smaps
    offset += r.size;
    VIREO_ASSIGN_OR_RETURN(auto bitmap, DirtyBitmap::create(r.size / kPageSize));
    mem.dirty_.push_back(std::move(bitmap));
  }
  return mem;
}

GuestMemory::~GuestMemory() { unmap_all(); }

GuestMemory::GuestMemory(GuestMemory&& o) noexcept
    : memfd_(std::move(o.memfd_)),
      from_file_(o.from_file_),
      regions_(std::move(o.regions_)),
      dirty_(std::move(o.dirty_)),
      tracking_(o.tracking_.exchange(false, std::memory_order_relaxed)) {
  o.regions_.clear();
  o.dirty_.clear();
}

GuestMemory& GuestMemory::operator=(GuestMemory&& o) noexcept {
  if (this != &o) {
    unmap_all();
    memfd_ = std::move(o.memfd_);
    from_file_ = o.from_file_;
    regions_ = std::move(o.regions_);
    dirty_ = std::move(o.dirty_);
    tracking_.store(o.tracking_.exchange(false, std::memory_order_relaxed),
                    std::memory_order_relaxed);
    o.regions_.clear();
    o.dirty_.clear();
  }
  return *this;
}

void GuestMemory::unmap_all() {
  for (auto& r : regions_) ::munmap(r.host, r.size);
  regions_.clear();
  dirty_.clear();
  tracking_.store(false, std::memory_order_relaxed);
}

uint64_t GuestMemory::total_size() const {
  uint64_t t = 0;
  for (const auto& r : regions_) t += r.size;
  return t;
}

const Region* GuestMemory::find(uint64_t gpa) const {
  for (const auto& r : regions_)
    if (gpa >= r.gpa && gpa - r.gpa < r.size) return &r;
  return nullptr;
}

bool GuestMemory::contains(uint64_t gpa, uint64_t len) const {
  const Region* r = find(gpa);
  if (!r) return len == 0 ? false : false;
  return len <= r->size - (gpa - r->gpa);
}

Result<GuestMemory::HostRange> GuestMemory::host_range(uint64_t gpa, uint64_t len,
                                                       const char* what) const {
  const Region* r = find(gpa);
  if (!r || len > r->size - (gpa - r->gpa))
    return Error(fmt::format("guest {} {:#x}+{:#x} is outside guest memory", what, gpa, len));
  return HostRange{r->host + (gpa - r->gpa), static_cast<size_t>(r - regions_.data())};
}

Result<GuestMemory::HostRange> GuestMemory::aligned_host(uint64_t gpa, uint64_t size,
                                                         const char* what) const {
  // Regions start on page boundaries in both address spaces, so an aligned gpa is an
  // aligned host address, and an aligned access never straddles two regions.
  if (gpa % size != 0)
    return Error(fmt::format("guest {} of {} bytes at {:#x} is not naturally aligned", what,
                             size, gpa));
  return host_range(gpa, size, what);
}

Result<std::span<const uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  VIREO_ASSIGN_OR_RETURN(HostRange at, host_range(gpa, len, "range"));
  return std::span<const uint8_t>(at.host, len);
}

Result<WritableSlice> GuestMemory::writable_slice(uint64_t gpa, uint64_t len) const {
  VIREO_ASSIGN_OR_RETURN(HostRange at, host_range(gpa, len, "range"));
  return WritableSlice(this, gpa, std::span<uint8_t>(at.host, len));
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  uint64_t done = 0;
  while (done < out.size()) {
    uint64_t addr = gpa + done;
    if (addr < gpa) return Error(fmt::format("guest read at {:#x} wraps around", gpa));
    const Region* r = find(addr);
    if (!r)
      return Error(fmt::format("guest read {:#x}+{:#x} is outside guest memory", gpa,
                               out.size()));
    uint64_t n = std::min<uint64_t>(out.size() - done, r->end() - addr);
    std::memcpy(out.data() + done, r->host + (addr - r->gpa), n);
    done += n;
  }
  return {};
}

Result<void> GuestMemory::discard(uint64_t gpa, uint64_t len) const {
  constexpr uint64_t kPage = 4096;
  if (gpa % kPage != 0 || len % kPage != 0 || len == 0)
    return Error(fmt::format("guest discard {:#x}+{:#x} is not whole pages", gpa, len));
  VIREO_ASSIGN_OR_RETURN(HostRange at, host_range(gpa, len, "discard"));
  if (from_file_) {
    // MADV_DONTNEED would bring the file's bytes back: anonymous zero pages instead.
    if (::mmap(at.host, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
      return Error::from_errno(fmt::format("mmap(zero pages over guest {:#x}+{:#x})", gpa, len));
    mark_in_region(at.region, gpa, len);
    return {};
  }
  const bool shared = memfd_.get() >= 0;
  if (::madvise(at.host, len, shared ? MADV_REMOVE : MADV_DONTNEED) != 0)
    return Error::from_errno(fmt::format("madvise({}, guest {:#x}+{:#x})",
                                         shared ? "MADV_REMOVE" : "MADV_DONTNEED", gpa, len));
  mark_in_region(at.region, gpa, len);
  return {};
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) const {
  uint64_t done = 0;
  while (done < in.size()) {
    uint64_t addr = gpa + done;
    if (addr < gpa) return Error(fmt::format("guest write at {:#x} wraps around", gpa));
    const Region* r = find(addr);
    if (!r)
      return Error(fmt::format("guest write {:#x}+{:#x} is outside guest memory", gpa,
                               in.size()));
    uint64_t n = std::min<uint64_t>(in.size() - done, r->end() - addr);
    std::memcpy(r->host + (addr - r->gpa), in.data() + done, n);
    mark_in_region(static_cast<size_t>(r - regions_.data()), addr, n);
    done += n;
  }
  return {};
}

Result<void> GuestMemory::start_dirty_tracking() {
  for (const auto& b : dirty_) b.clear();
  tracking_.store(true, std::memory_order_relaxed);
  auto barrier = process_memory_barrier();
  if (!barrier.ok()) {
    tracking_.store(false, std::memory_order_relaxed);
    return barrier.error().context("start dirty tracking of guest memory");
  }
  return {};
}

void GuestMemory::stop_dirty_tracking() { tracking_.store(false, std::memory_order_relaxed); }

Result<std::vector<uint64_t>> GuestMemory::take_dirty_bitmap(size_t region_index) {
  if (region_index >= dirty_.size())
    return Error(fmt::format("dirty bitmap of guest memory region {}: there are {} regions",
                             region_index, dirty_.size()));
  return dirty_[region_index].take();
}

void GuestMemory::mark_dirty(uint64_t gpa, uint64_t len) const {
  std::atomic_signal_fence(std::memory_order_seq_cst);  // see mark_in_region()
  if (len == 0 || !tracking_.load(std::memory_order_relaxed)) return;
  const uint64_t end = gpa + len < gpa ? UINT64_MAX : gpa + len;
  for (size_t i = 0; i < regions_.size(); ++i) {
    const uint64_t lo = std::max(gpa, regions_[i].gpa);
    const uint64_t hi = std::min(end, regions_[i].end());
    if (lo < hi) mark_tracked(i, lo, hi - lo);
  }
}

void GuestMemory::mark_tracked(size_t region, uint64_t gpa, uint64_t len) const {
  if (len == 0) return;
  const uint64_t offset = gpa - regions_[region].gpa;
  dirty_[region].mark(offset / kPageSize, (offset + len - 1) / kPageSize + 1);
}

}  // namespace vireo::memory
