// Block: virtio-blk (virtio 1.2, 5.2), a disk backed by a DiskImage (a raw image file or
// a host block device). One request queue; requests are served in order on the device's
// I/O thread: read, write, flush (a real fdatasync), get-ID (the serial), discard and
// write-zeroes (holes punched in the image).
//
// Every request is checked before any I/O: the header must be readable and the status
// byte writable, data lengths whole sectors, sector ranges and discard segments inside
// the disk and under the limits the configuration space announces. A request that fails
// a check gets VIRTIO_BLK_S_IOERR (or _UNSUPP) and the device goes on; only a broken
// queue (a descriptor loop, a buffer outside guest RAM) makes it need a reset.
//
// A live device can get another backing disk and another rate limit (Firecracker's PATCH
// /drives): the VMM pauses it (requests in flight completed), swaps, and resumes it; a new
// capacity reaches the driver with a configuration-change interrupt, as on Firecracker.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "block/disk_image.h"
#include "block/uring.h"
#include "virtio/device.h"
#include "virtio/io_thread.h"
#include "virtio/rate_limiter.h"
#include "virtio/spec.h"

namespace vireo::virtio {

// 5.2.3 Feature bits, 5.2.6 request types and status values.
namespace blk {
inline constexpr unsigned kFeatureSegMax = 2;
inline constexpr unsigned kFeatureRo = 5;
inline constexpr unsigned kFeatureBlkSize = 6;
inline constexpr unsigned kFeatureFlush = 9;
inline constexpr unsigned kFeatureDiscard = 13;
inline constexpr unsigned kFeatureWriteZeroes = 14;

inline constexpr uint32_t kTypeIn = 0;
inline constexpr uint32_t kTypeOut = 1;
inline constexpr uint32_t kTypeFlush = 4;
inline constexpr uint32_t kTypeGetId = 8;
inline constexpr uint32_t kTypeDiscard = 11;
inline constexpr uint32_t kTypeWriteZeroes = 13;

inline constexpr uint8_t kStatusOk = 0;
inline constexpr uint8_t kStatusIoErr = 1;
inline constexpr uint8_t kStatusUnsupported = 2;

inline constexpr uint32_t kSegmentFlagUnmap = 1;  // write-zeroes may free the space
inline constexpr uint64_t kSectorSize = 512;
inline constexpr uint32_t kIdBytes = 20;          // VIRTIO_BLK_ID_BYTES

struct RequestHeader {  // struct virtio_blk_req, the part before the data
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
struct Segment {  // struct virtio_blk_discard_write_zeroes
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(RequestHeader) == 16 && sizeof(Segment) == 16);

// struct virtio_blk_config up to write_zeroes_may_unmap, little-endian like the host
// (packed: the 64-bit capacity would otherwise pad it to 64 bytes).
struct __attribute__((packed)) Config {
  uint64_t capacity;  // in 512-byte sectors
  uint32_t size_max;
  uint32_t seg_max;
  uint16_t cylinders;
  uint8_t heads;
  uint8_t sectors;
  uint32_t blk_size;
  uint8_t physical_block_exp;
  uint8_t alignment_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint8_t writeback;
  uint8_t unused0;
  uint16_t num_queues;
  uint32_t max_discard_sectors;
  uint32_t max_discard_seg;
  uint32_t discard_sector_alignment;
  uint32_t max_write_zeroes_sectors;
  uint32_t max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;
  uint8_t unused1[3];
};
static_assert(sizeof(Config) == 60);
}  // namespace blk

class Block : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint32_t kSegMax = kQueueSize - 2;  // data segments (header, status aside)
  static constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
  static constexpr uint32_t kMaxDiscardSegments = 32;
  static constexpr uint32_t kDiscardAlignSectors = 8;  // 4 KiB: what a hole can be punched in

  // How reads, writes and flushes reach the image. kAuto: through an io_uring (many in
  // flight, completions in any order) where the kernel allows one, else like kSync: one
  // system call at a time on the I/O thread.
  enum class Engine { kAuto, kSync };

  // `serial` is what get-ID returns (at most 20 bytes are used).
  // `limit`: bandwidth and operations per second (RateLimit{}: unlimited).
  Block(block::DiskImage disk, std::string serial, Engine engine = Engine::kAuto,
        RateLimit limit = {});
  ~Block() override;

  std::string_view name() const override { return "virtio-blk"; }
  uint32_t device_type() const override;
  uint64_t offered_features() const override;
  std::vector<uint16_t> queue_max_sizes() const override { return {kQueueSize}; }
  uint32_t config_size() const override { return sizeof(blk::Config); }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;

  Result<void> activate(const Activation& activation) override;
  // Waits for the requests in flight; their results are dropped (the driver reset).
  void deactivate() override;
  // Waits for the requests in flight and returns them to the driver: once paused, the
  // queue state alone describes the device.
  void pause() override;
  void resume() override;

  const block::DiskImage& disk() const { return disk_; }
  // Serves the guest from `disk` from now on: the capacity becomes its size and an
  // activated device raises a configuration-change interrupt (a Linux driver then reads
  // the new capacity). `disk` must be read-only exactly when the old one was (the
  // features the driver took depend on it). Call while paused or not activated.
  void replace_disk(block::DiskImage disk);
  // The same file again, at its size now (the host grew or shrank it): as replace_disk.
  Result<void> refresh_disk_size();
  RateLimit rate_limit() const { return limit_; }
  // A new limit, with fresh buckets. Call while paused or not activated; the queue is
  // looked at again when the device resumes.
  Result<void> set_rate_limit(RateLimit limit);
  blk::Config config() const;
  // "io_uring" or "sync": what serves requests since activation.
  std::string_view engine() const { return uring_ ? "io_uring" : "sync"; }

  // Serves the queue now (what the I/O thread does on a kick); for tests.
  void process_queue();

  struct Stats {
    std::atomic<uint64_t> reads{0}, writes{0}, flushes{0}, discards{0}, write_zeroes{0};
    std::atomic<uint64_t> bytes_read{0}, bytes_written{0};
    std::atomic<uint64_t> errors{0};       // requests answered IOERR or UNSUPP
    std::atomic<uint64_t> throttled{0};    // times the rate limiter made the queue wait
  };
  const Stats& stats() const { return stats_; }
  void report_metrics(metrics::Collector& out, const std::string& id) const override;

 private:
  // How a request ended: its status, and how many bytes it wrote into the chain's data.
  struct Outcome {
    uint8_t status;
    uint32_t written = 0;
  };
  // A read, write or flush in the io_uring, by chain head.
  struct InFlight {
    uint32_t type = 0;
    uint64_t status_addr = 0;
    uint64_t offset = 0;
    uint64_t len = 0;  // data bytes
    std::vector<iovec> iov;
    std::vector<memory::WritableSlice> slices;  // what a read writes (dirty when released)
  };
  // What serve() came to: done, or handed to the io_uring (finish() completes it).
  using Served = std::optional<Outcome>;

  void on_kick();
  void on_completions();
  void on_timer();
  // Serves one chain: completes it at once, or starts it in the io_uring.
  void serve(const DescriptorChain& chain);
  Served dispatch(const DescriptorChain& chain, const blk::RequestHeader& h,
                  uint64_t data_writable, uint64_t status_addr);
  Served read(const DescriptorChain& chain, uint64_t sector, uint64_t len, uint64_t status_addr);
  Served write(const DescriptorChain& chain, uint64_t sector, uint64_t status_addr);
  Served flush(uint16_t head, uint64_t status_addr);
  Outcome get_id(const DescriptorChain& chain, uint64_t len);
  Outcome segments(const DescriptorChain& chain, bool zeroes);
  // Puts a request in the io_uring (taking it); false if it cannot, leaving `req` to be
  // done synchronously.
  bool start(uint16_t head, InFlight& req);
  void finish(uint64_t head, int32_t result);
  // Writes the status byte (if there is one) and returns the chain to the driver.
  void complete(uint16_t head, std::optional<uint64_t> status_addr, Outcome o);
  void notify_if_used();
  // Waits for every request in the io_uring; `deliver` completes them, else drops them.
  void drain(bool deliver);
  void broken(std::string why);
  bool negotiated(unsigned bit) const { return act_.features & feature::bit(bit); }
  Outcome fail(uint8_t status);
  Outcome done_write(uint64_t len);

  block::DiskImage disk_;
  std::string serial_;
  Engine engine_choice_;
  Activation act_{};
  bool broken_ = false;  // the driver broke the queue protocol: wait for its reset
  bool used_ = false;    // chains returned since the last interrupt decision
  std::unique_ptr<block::Uring> uring_;
  std::vector<std::optional<InFlight>> in_flight_;  // by head
  unsigned in_flight_count_ = 0;
  bool unsubmitted_ = false;
  RateLimit limit_;
  Throttle throttle_;
  std::unique_ptr<IoThread> thread_;
  Stats stats_;
};

}  // namespace vireo::virtio
