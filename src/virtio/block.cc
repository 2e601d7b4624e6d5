#include "virtio/block.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <fmt/format.h>

namespace vireo::virtio {

namespace {

using blk::kSectorSize;

// A run of guest bytes.
struct Piece {
  uint64_t gpa;
  uint64_t len;
};

// Bytes [skip, skip + len) of the chain's device-readable (or device-writable) part, as
// runs of guest memory in order. The chain was validated, so each run is inside RAM.
std::vector<Piece> pieces(const DescriptorChain& chain, bool writable, uint64_t skip,
                          uint64_t len) {
  std::vector<Piece> out;
  for (const auto& d : chain.descriptors) {
    if (d.device_writable != writable || len == 0) continue;
    if (skip >= d.len) {
      skip -= d.len;
      continue;
    }
    const uint64_t n = std::min<uint64_t>(d.len - skip, len);
    out.push_back({d.addr + skip, n});
    skip = 0;
    len -= n;
  }
  return out;
}

// Where the status byte goes: the last byte of the device-writable part.
std::optional<uint64_t> status_address(const DescriptorChain& chain) {
  for (auto d = chain.descriptors.rbegin(); d != chain.descriptors.rend(); ++d)
    if (d->device_writable && d->len > 0) return d->addr + d->len - 1;
  return std::nullopt;
}

// Whether `sectors` sectors from `sector` lie inside a disk of `capacity` sectors.
bool inside(uint64_t sector, uint64_t sectors, uint64_t capacity) {
  return sector <= capacity && sectors <= capacity - sector;
}

}  // namespace

Block::Block(block::DiskImage disk, std::string serial)
    : disk_(std::move(disk)), serial_(std::move(serial)) {}

uint32_t Block::device_type() const { return device_id::kBlock; }

uint64_t Block::offered_features() const {
  uint64_t f = feature::bit(feature::kVersion1) | feature::bit(feature::kEventIdx) |
               feature::bit(feature::kIndirectDesc) | feature::bit(blk::kFeatureSegMax) |
               feature::bit(blk::kFeatureBlkSize) | feature::bit(blk::kFeatureFlush);
  if (disk_.readonly())
    f |= feature::bit(blk::kFeatureRo);
  else
    f |= feature::bit(blk::kFeatureDiscard) | feature::bit(blk::kFeatureWriteZeroes);
  return f;
}

blk::Config Block::config() const {
  blk::Config c{};
  c.capacity = disk_.size() / kSectorSize;
  c.seg_max = kSegMax;
  c.blk_size = static_cast<uint32_t>(kSectorSize);
  c.num_queues = 1;
  if (!disk_.readonly()) {
    c.max_discard_sectors = kMaxDiscardSectors;
    c.max_discard_seg = kMaxDiscardSegments;
    c.discard_sector_alignment = kDiscardAlignSectors;
    c.max_write_zeroes_sectors = kMaxDiscardSectors;
    c.max_write_zeroes_seg = kMaxDiscardSegments;
    c.write_zeroes_may_unmap = 1;
  }
  return c;
}

void Block::read_config(uint64_t offset, std::span<uint8_t> data) const {
  const blk::Config c = config();
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&c) + offset, data.size());
}

Result<void> Block::activate(const Activation& activation) {
  deactivate();
  act_ = activation;
  broken_ = false;
  resume();
  if (!thread_) {
    act_ = {};
    return Error("virtio-blk: cannot start its I/O thread");
  }
  return {};
}

void Block::deactivate() {
  thread_.reset();
  act_ = {};
}

// Requests are served synchronously on the I/O thread, so once it is joined none is in
// flight: the queue state alone describes the device.
void Block::pause() { thread_.reset(); }

void Block::resume() {
  if (!act_.interrupts || thread_) return;
  auto t = IoThread::start("virtio-blk", {{act_.kicks[0].fd(), [this] { on_kick(); }}});
  if (t.ok()) thread_ = std::move(*t);
}

void Block::on_kick() {
  act_.kicks[0].drain();
  process_queue();
}

void Block::process_queue() {
  Queue& q = act_.queues[0];
  if (broken_ || !q.state().ready) return;
  const auto& mem = *act_.mem;
  bool used = false;
  for (;;) {
    auto chain = q.pop(mem);
    if (!chain.ok()) {
      broken_ = true;
      act_.interrupts->needs_reset(chain.error().message());
      return;
    }
    if (!*chain) break;
    const uint32_t len = serve(**chain);
    if (!q.add_used(mem, (*chain)->head, len).ok()) {
      broken_ = true;
      act_.interrupts->needs_reset("used ring is not writable");
      return;
    }
    used = true;
  }
  if (!used) return;
  auto notify = q.should_notify(mem);
  if (!notify.ok() || *notify) act_.interrupts->used_buffers(0);
}

Block::Outcome Block::fail(uint8_t status) {
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
  return {status};
}

uint32_t Block::serve(const DescriptorChain& chain) {
  const auto status_at = status_address(chain);
  if (!status_at) {  // nowhere to say how it went: give the chain back untouched
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  ChainReader reader(*act_.mem, chain);
  auto header = reader.read_obj<blk::RequestHeader>();
  const Outcome o = header.ok() ? dispatch(chain, *header, chain.writable_bytes() - 1)
                                : fail(blk::kStatusIoErr);
  if (!act_.mem->write_obj<uint8_t>(*status_at, o.status).ok()) return 0;
  return o.written + 1;
}

Block::Outcome Block::dispatch(const DescriptorChain& chain, const blk::RequestHeader& h,
                               uint64_t data_writable) {
  switch (h.type) {
    case blk::kTypeIn:
      return read(chain, h.sector, data_writable);
    case blk::kTypeOut:
      return write(chain, h.sector);
    case blk::kTypeFlush:
      stats_.flushes.fetch_add(1, std::memory_order_relaxed);
      return disk_.flush().ok() ? Outcome{blk::kStatusOk} : fail(blk::kStatusIoErr);
    case blk::kTypeGetId:
      return get_id(chain, data_writable);
    case blk::kTypeDiscard:
      if (!negotiated(blk::kFeatureDiscard)) return fail(blk::kStatusUnsupported);
      return segments(chain, false);
    case blk::kTypeWriteZeroes:
      if (!negotiated(blk::kFeatureWriteZeroes)) return fail(blk::kStatusUnsupported);
      return segments(chain, true);
    default:
      return fail(blk::kStatusUnsupported);
  }
}

Block::Outcome Block::read(const DescriptorChain& chain, uint64_t sector, uint64_t len) {
  const uint64_t capacity = disk_.size() / kSectorSize;
  if (len % kSectorSize != 0 || !inside(sector, len / kSectorSize, capacity))
    return fail(blk::kStatusIoErr);
  // The disk reads straight into the guest's buffers; each slice marks its pages dirty
  // when it goes, after the read.
  std::vector<memory::WritableSlice> slices;
  std::vector<iovec> iov;
  for (const Piece& p : pieces(chain, true, 0, len)) {
    auto s = act_.mem->writable_slice(p.gpa, p.len);
    if (!s.ok()) return fail(blk::kStatusIoErr);
    iov.push_back({s->bytes().data(), s->bytes().size()});
    slices.push_back(std::move(*s));
  }
  if (!disk_.read(iov, sector * kSectorSize).ok()) return fail(blk::kStatusIoErr);
  stats_.reads.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_read.fetch_add(len, std::memory_order_relaxed);
  return {blk::kStatusOk, static_cast<uint32_t>(len)};
}

Block::Outcome Block::write(const DescriptorChain& chain, uint64_t sector) {
  const uint64_t len = chain.readable_bytes() - sizeof(blk::RequestHeader);
  const uint64_t capacity = disk_.size() / kSectorSize;
  if (disk_.readonly() || len % kSectorSize != 0 || !inside(sector, len / kSectorSize, capacity))
    return fail(blk::kStatusIoErr);
  std::vector<iovec> iov;
  for (const Piece& p : pieces(chain, false, sizeof(blk::RequestHeader), len)) {
    auto s = act_.mem->slice(p.gpa, p.len);
    if (!s.ok()) return fail(blk::kStatusIoErr);
    // pwritev only reads through the iovec.
    iov.push_back({const_cast<uint8_t*>(s->data()), s->size()});
  }
  if (!disk_.write(iov, sector * kSectorSize).ok()) return fail(blk::kStatusIoErr);
  // A driver that did not take VIRTIO_BLK_F_FLUSH expects writes to be durable when done.
  if (!negotiated(blk::kFeatureFlush) && !disk_.flush().ok()) return fail(blk::kStatusIoErr);
  stats_.writes.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_written.fetch_add(len, std::memory_order_relaxed);
  return {blk::kStatusOk};
}

Block::Outcome Block::get_id(const DescriptorChain& chain, uint64_t len) {
  // The serial, NUL-padded to 20 bytes (no NUL when it is 20 long), as much as fits.
  uint8_t id[blk::kIdBytes] = {};
  std::memcpy(id, serial_.data(), std::min<size_t>(serial_.size(), sizeof(id)));
  const uint64_t n = std::min<uint64_t>(len, sizeof(id));
  uint64_t done = 0;
  for (const Piece& p : pieces(chain, true, 0, n)) {
    if (!act_.mem->write(p.gpa, std::span<const uint8_t>(id + done, p.len)).ok())
      return fail(blk::kStatusIoErr);
    done += p.len;
  }
  return {blk::kStatusOk, static_cast<uint32_t>(n)};
}

Block::Outcome Block::segments(const DescriptorChain& chain, bool zeroes) {
  ChainReader reader(*act_.mem, chain);
  if (!reader.skip(sizeof(blk::RequestHeader)).ok()) return fail(blk::kStatusIoErr);
  const uint64_t bytes = reader.remaining();
  if (bytes == 0 || bytes % sizeof(blk::Segment) != 0 ||
      bytes / sizeof(blk::Segment) > kMaxDiscardSegments)
    return fail(blk::kStatusIoErr);
  // Copy and check every segment before touching the disk.
  std::vector<blk::Segment> segs(bytes / sizeof(blk::Segment));
  const uint64_t capacity = disk_.size() / kSectorSize;
  for (auto& s : segs) {
    auto r = reader.read_obj<blk::Segment>();
    if (!r.ok()) return fail(blk::kStatusIoErr);
    s = *r;
    const uint32_t allowed = zeroes ? blk::kSegmentFlagUnmap : 0;
    if (s.flags & ~allowed) return fail(blk::kStatusUnsupported);
    if (s.num_sectors > kMaxDiscardSectors || !inside(s.sector, s.num_sectors, capacity))
      return fail(blk::kStatusIoErr);
  }
  for (const auto& s : segs) {
    const uint64_t at = s.sector * kSectorSize, len = uint64_t{s.num_sectors} * kSectorSize;
    auto r = zeroes ? disk_.write_zeroes(at, len, s.flags & blk::kSegmentFlagUnmap)
                    : disk_.discard(at, len);
    if (!r.ok()) return fail(blk::kStatusIoErr);
  }
  (zeroes ? stats_.write_zeroes : stats_.discards).fetch_add(1, std::memory_order_relaxed);
  return {blk::kStatusOk};
}

}  // namespace vireo::virtio
