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

Block::Block(block::DiskImage disk, std::string serial, Engine engine, RateLimit limit)
    : disk_(std::move(disk)), serial_(std::move(serial)), engine_choice_(engine), limit_(limit) {}

Block::~Block() { deactivate(); }

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
  broken_ = used_ = false;
  if (engine_choice_ == Engine::kAuto) {
    auto u = block::Uring::create(kQueueSize);
    if (u.ok()) uring_ = std::move(*u);  // else: one system call at a time
  }
  in_flight_.clear();
  in_flight_.resize(kQueueSize);
  auto throttle = Throttle::create(limit_);
  if (!throttle.ok()) {
    deactivate();
    return throttle.error().context("virtio-blk rate limiter");
  }
  throttle_ = std::move(*throttle);
  resume();
  if (!thread_) {
    deactivate();
    return Error("virtio-blk: cannot start its I/O thread");
  }
  return {};
}

void Block::deactivate() {
  thread_.reset();
  drain(false);
  uring_.reset();
  in_flight_.clear();
  throttle_ = {};
  act_ = {};
}

void Block::pause() {
  thread_.reset();
  drain(true);
}

void Block::resume() {
  if (!act_.interrupts || thread_) return;
  std::vector<IoThread::Watch> watches = {{act_.kicks[0].fd(), [this] { on_kick(); }}};
  if (uring_) watches.push_back({uring_->event_fd(), [this] { on_completions(); }});
  if (throttle_.limited()) watches.push_back({throttle_.fd(), [this] { on_timer(); }});
  auto t = IoThread::start("virtio-blk", std::move(watches));
  if (t.ok()) thread_ = std::move(*t);
}

void Block::replace_disk(block::DiskImage disk) {
  disk_ = std::move(disk);
  if (act_.interrupts) act_.interrupts->config_changed();
}

Result<void> Block::refresh_disk_size() {
  VIREO_TRY(disk_.refresh_size());
  if (act_.interrupts) act_.interrupts->config_changed();
  return {};
}

Result<void> Block::set_rate_limit(RateLimit limit) {
  if (act_.interrupts) {
    auto throttle = Throttle::create(limit);
    if (!throttle.ok()) return throttle.error().context("virtio-blk rate limiter");
    throttle_ = std::move(*throttle);
    act_.kicks[0].signal();  // a queue that waited for the old throttle goes on
  }
  limit_ = limit;
  return {};
}

void Block::on_kick() {
  act_.kicks[0].drain();
  process_queue();
}

void Block::on_timer() {
  throttle_.on_timer();
  process_queue();
}

void Block::broken(std::string why) {
  if (broken_) return;
  broken_ = true;
  act_.interrupts->needs_reset(std::move(why));
}

void Block::process_queue() {
  Queue& q = act_.queues[0];
  if (broken_ || throttle_.waiting() || !q.state().ready) return;  // the timer calls again
  for (;;) {
    auto chain = q.pop(*act_.mem);
    if (!chain.ok()) {
      broken(chain.error().message());
      break;
    }
    if (!*chain) break;
    // Every request is an operation; its buffers are its bytes.
    auto go = throttle_.admit((*chain)->readable_bytes() + (*chain)->writable_bytes());
    if (!go.ok() || !*go) {
      q.undo_pop();
      stats_.throttled.fetch_add(1, std::memory_order_relaxed);
      if (!go.ok()) broken(go.error().message());
      break;
    }
    serve(**chain);
    if (broken_) break;
  }
  if (unsubmitted_) {
    unsubmitted_ = false;
    if (auto r = uring_->submit(); !r.ok()) broken(r.error().message());
  }
  notify_if_used();
}

void Block::on_completions() {
  uring_->drain_event();
  block::Uring::Completion c;
  for (;;) {
    auto got = uring_->next(c, false);
    if (!got.ok() || !*got) break;
    finish(c.user_data, c.result);
  }
  notify_if_used();
}

void Block::notify_if_used() {
  if (!used_ || broken_) return;
  used_ = false;
  notify_used(act_, 0);
}

void Block::drain(bool deliver) {
  if (!uring_) return;
  while (in_flight_count_ > 0) {
    block::Uring::Completion c;
    auto got = uring_->next(c, true);
    if (!got.ok()) break;  // the kernel gives no more: nothing can still write the buffers
    if (deliver) {
      finish(c.user_data, c.result);
    } else if (c.user_data < in_flight_.size() && in_flight_[c.user_data]) {
      in_flight_[c.user_data].reset();
      --in_flight_count_;
    }
  }
  if (deliver) notify_if_used();
}

Block::Outcome Block::fail(uint8_t status) {
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
  return {status};
}

void Block::complete(uint16_t head, std::optional<uint64_t> status_addr, Outcome o) {
  uint32_t len = 0;
  if (status_addr && act_.mem->write_obj<uint8_t>(*status_addr, o.status).ok())
    len = o.written + 1;
  if (!act_.queues[0].add_used(*act_.mem, head, len).ok()) {
    broken("used ring is not writable");
    return;
  }
  used_ = true;
}

void Block::serve(const DescriptorChain& chain) {
  const auto status_addr = status_address(chain);
  if (!status_addr) {  // nowhere to say how it went: give the chain back untouched
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    complete(chain.head, std::nullopt, {blk::kStatusIoErr});
    return;
  }
  if (chain.head < in_flight_.size() && in_flight_[chain.head]) {
    broken(fmt::format("descriptor {} made available again while its request is in flight",
                       chain.head));
    return;
  }
  ChainReader reader(*act_.mem, chain);
  auto header = reader.read_obj<blk::RequestHeader>();
  const Served o = header.ok()
                       ? dispatch(chain, *header, chain.writable_bytes() - 1, *status_addr)
                       : Served(fail(blk::kStatusIoErr));
  if (o) complete(chain.head, status_addr, *o);
}

Block::Served Block::dispatch(const DescriptorChain& chain, const blk::RequestHeader& h,
                              uint64_t data_writable, uint64_t status_addr) {
  switch (h.type) {
    case blk::kTypeIn:
      return read(chain, h.sector, data_writable, status_addr);
    case blk::kTypeOut:
      return write(chain, h.sector, status_addr);
    case blk::kTypeFlush:
      return flush(chain.head, status_addr);
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

bool Block::start(uint16_t head, InFlight& req) {
  if (!uring_ || head >= in_flight_.size()) return false;
  auto& slot = in_flight_[head];
  slot = std::move(req);  // the iovec array stays where it is: the kernel reads it later
  const auto n = static_cast<unsigned>(slot->iov.size());
  bool queued = false;
  switch (slot->type) {
    case blk::kTypeIn:
      queued = uring_->readv(disk_.fd_for(slot->iov, slot->offset), slot->iov.data(), n,
                             slot->offset, head);
      break;
    case blk::kTypeOut:
      queued = uring_->writev(disk_.fd_for(slot->iov, slot->offset), slot->iov.data(), n,
                              slot->offset, head);
      break;
    default:
      queued = uring_->fdatasync(disk_.fd(), head);
      break;
  }
  if (!queued) {  // cannot happen (an entry per queue slot); then it is done synchronously
    req = std::move(*slot);
    slot.reset();
    return false;
  }
  ++in_flight_count_;
  unsubmitted_ = true;
  return true;
}

void Block::finish(uint64_t head, int32_t result) {
  if (head >= in_flight_.size() || !in_flight_[head]) return;
  InFlight req = std::move(*in_flight_[head]);
  in_flight_[head].reset();
  --in_flight_count_;
  if (broken_) return;  // the driver must reset; nothing more goes to its rings
  Outcome o{blk::kStatusOk};
  if (result < 0) {
    o = fail(blk::kStatusIoErr);
  } else if (req.type == blk::kTypeFlush) {
    stats_.flushes.fetch_add(1, std::memory_order_relaxed);
  } else {
    // A short transfer (rare on files and block devices) is finished the plain way.
    const bool whole = static_cast<uint64_t>(result) == req.len;
    const bool ok = whole || (req.type == blk::kTypeIn ? disk_.read(req.iov, req.offset)
                                                        : disk_.write(req.iov, req.offset))
                                 .ok();
    if (!ok) {
      o = fail(blk::kStatusIoErr);
    } else if (req.type == blk::kTypeIn) {
      stats_.reads.fetch_add(1, std::memory_order_relaxed);
      stats_.bytes_read.fetch_add(req.len, std::memory_order_relaxed);
      o = {blk::kStatusOk, static_cast<uint32_t>(req.len)};
    } else {
      o = done_write(req.len);
    }
  }
  req.slices.clear();  // the read's pages are dirty before the driver sees the request done
  complete(static_cast<uint16_t>(head), req.status_addr, o);
}

Block::Outcome Block::done_write(uint64_t len) {
  // A driver that did not take VIRTIO_BLK_F_FLUSH expects writes to be durable when done.
  if (!negotiated(blk::kFeatureFlush) && !disk_.flush().ok()) return fail(blk::kStatusIoErr);
  stats_.writes.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_written.fetch_add(len, std::memory_order_relaxed);
  return {blk::kStatusOk};
}

Block::Served Block::read(const DescriptorChain& chain, uint64_t sector, uint64_t len,
                          uint64_t status_addr) {
  const uint64_t capacity = disk_.size() / kSectorSize;
  if (len % kSectorSize != 0 || !inside(sector, len / kSectorSize, capacity))
    return fail(blk::kStatusIoErr);
  // The disk reads straight into the guest's buffers; each slice marks its pages dirty
  // when it goes, after the read.
  InFlight req{blk::kTypeIn, status_addr, sector * kSectorSize, len, {}, {}};
  for (const Piece& p : pieces(chain, true, 0, len)) {
    auto s = act_.mem->writable_slice(p.gpa, p.len);
    if (!s.ok()) return fail(blk::kStatusIoErr);
    req.iov.push_back({s->bytes().data(), s->bytes().size()});
    req.slices.push_back(std::move(*s));
  }
  if (start(chain.head, req)) return std::nullopt;
  if (!disk_.read(req.iov, req.offset).ok()) return fail(blk::kStatusIoErr);
  stats_.reads.fetch_add(1, std::memory_order_relaxed);
  stats_.bytes_read.fetch_add(len, std::memory_order_relaxed);
  return Outcome{blk::kStatusOk, static_cast<uint32_t>(len)};
}

Block::Served Block::write(const DescriptorChain& chain, uint64_t sector, uint64_t status_addr) {
  const uint64_t len = chain.readable_bytes() - sizeof(blk::RequestHeader);
  const uint64_t capacity = disk_.size() / kSectorSize;
  if (disk_.readonly() || len % kSectorSize != 0 || !inside(sector, len / kSectorSize, capacity))
    return fail(blk::kStatusIoErr);
  InFlight req{blk::kTypeOut, status_addr, sector * kSectorSize, len, {}, {}};
  for (const Piece& p : pieces(chain, false, sizeof(blk::RequestHeader), len)) {
    auto s = act_.mem->slice(p.gpa, p.len);
    if (!s.ok()) return fail(blk::kStatusIoErr);
    // pwritev only reads through the iovec.
    req.iov.push_back({const_cast<uint8_t*>(s->data()), s->size()});
  }
  if (start(chain.head, req)) return std::nullopt;
  if (!disk_.write(req.iov, req.offset).ok()) return fail(blk::kStatusIoErr);
  return done_write(len);
}

Block::Served Block::flush(uint16_t head, uint64_t status_addr) {
  InFlight req{blk::kTypeFlush, status_addr, 0, 0, {}, {}};
  if (!disk_.readonly() && start(head, req)) return std::nullopt;
  stats_.flushes.fetch_add(1, std::memory_order_relaxed);
  return disk_.flush().ok() ? Outcome{blk::kStatusOk} : fail(blk::kStatusIoErr);
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

void Block::report_metrics(metrics::Collector& out, const std::string& id) const {
  out.scope("block", "drive", id);
  out.counter("read_count", stats_.reads.load());
  out.counter("write_count", stats_.writes.load());
  out.counter("flush_count", stats_.flushes.load());
  out.counter("discard_count", stats_.discards.load());
  out.counter("write_zeroes_count", stats_.write_zeroes.load());
  out.counter("read_bytes", stats_.bytes_read.load());
  out.counter("write_bytes", stats_.bytes_written.load());
  out.counter("errors", stats_.errors.load());
  out.counter("rate_limiter_throttled", stats_.throttled.load());
  out.gauge("capacity_bytes", disk_.size());
}

}  // namespace vireo::virtio
