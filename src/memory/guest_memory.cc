#include "memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <fmt/format.h>

namespace vireo::memory {

namespace {
constexpr uint64_t kPageSize = 4096;
}

Result<GuestMemory> GuestMemory::create(const std::vector<RangeSpec>& ranges,
                                        const std::string& name) {
  GuestMemory mem;
  uint64_t total = 0;
  for (const auto& r : ranges) {
    if (r.size == 0 || r.size % kPageSize != 0 || r.gpa % kPageSize != 0)
      return Error(fmt::format("guest memory range {:#x}+{:#x} is not page-aligned", r.gpa,
                               r.size));
    if (r.gpa + r.size < r.gpa) return Error("guest memory range wraps around");
    total += r.size;
  }
  int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Error::from_errno("memfd_create(guest memory)");
  mem.memfd_.reset(fd);
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0)
    return Error::from_errno(fmt::format("ftruncate(guest memory, {} bytes)", total));
  uint64_t offset = 0;
  for (const auto& r : ranges) {
    void* p = ::mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
                     static_cast<off_t>(offset));
    if (p == MAP_FAILED)
      return Error::from_errno(fmt::format("mmap(guest memory {:#x}+{:#x})", r.gpa, r.size));
    mem.regions_.push_back(Region{r.gpa, r.size, static_cast<uint8_t*>(p), offset});
    offset += r.size;
  }
  return mem;
}

GuestMemory::~GuestMemory() { unmap_all(); }

GuestMemory::GuestMemory(GuestMemory&& o) noexcept
    : memfd_(std::move(o.memfd_)), regions_(std::move(o.regions_)) {
  o.regions_.clear();
}

GuestMemory& GuestMemory::operator=(GuestMemory&& o) noexcept {
  if (this != &o) {
    unmap_all();
    memfd_ = std::move(o.memfd_);
    regions_ = std::move(o.regions_);
    o.regions_.clear();
  }
  return *this;
}

void GuestMemory::unmap_all() {
  for (auto& r : regions_) ::munmap(r.host, r.size);
  regions_.clear();
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

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  const Region* r = find(gpa);
  if (!r || len > r->size - (gpa - r->gpa))
    return Error(fmt::format("guest range {:#x}+{:#x} is outside guest memory", gpa, len));
  return std::span<uint8_t>(r->host + (gpa - r->gpa), len);
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
    done += n;
  }
  return {};
}

}  // namespace vireo::memory
