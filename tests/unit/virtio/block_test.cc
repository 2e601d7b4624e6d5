// virtio-blk behind the virtio-mmio transport, with its real I/O thread, over a small
// real guest memory and a real image file: reads, writes, flush, get-ID, discard and
// write-zeroes reach the file; read-only disks; every malformed request fails alone
// (IOERR or UNSUPP) and the device goes on; a broken queue needs a reset.
#include "virtio/block.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <map>

#include <cstring>
#include <fstream>
#include <numeric>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);
constexpr uint64_t kDiskBytes = 1 << 20;
constexpr uint64_t kAllFeatures = kVersion1 | feature::bit(blk::kFeatureFlush) |
                                  feature::bit(blk::kFeatureDiscard) |
                                  feature::bit(blk::kFeatureWriteZeroes) |
                                  feature::bit(feature::kIndirectDesc);

// A temporary image file filled with a known pattern (byte i is i*7+i/4096), not sparse.
class ImageFile {
 public:
  explicit ImageFile(uint64_t size = kDiskBytes) {
    char name[] = "/var/tmp/vireo-blk-test-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    std::vector<uint8_t> data(size);
    for (uint64_t i = 0; i < size; ++i) data[i] = pattern(i);
    EXPECT_EQ(::pwrite(fd, data.data(), data.size(), 0), static_cast<ssize_t>(size));
    ::fsync(fd);
    ::close(fd);
  }
  ~ImageFile() { ::unlink(path_.c_str()); }
  static uint8_t pattern(uint64_t i) { return static_cast<uint8_t>(i * 7 + i / 4096); }
  const std::string& path() const { return path_; }
  std::vector<uint8_t> read(uint64_t offset, size_t n) const {
    std::vector<uint8_t> v(n);
    const int fd = ::open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(::pread(fd, v.data(), n, static_cast<off_t>(offset)), static_cast<ssize_t>(n));
    ::close(fd);
    return v;
  }
  uint64_t allocated_bytes() const {
    struct stat st {};
    ::stat(path_.c_str(), &st);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

 private:
  std::string path_;
};

struct BlockFixture {
  explicit BlockFixture(Block::Engine engine, bool readonly = false,
                        std::string serial = "vireo-serial-1", RateLimit limit = {})
      : blk(std::make_shared<Block>(
            std::move(*block::DiskImage::open(image.path(), {.readonly = readonly})),
            std::move(serial), engine, limit)),
        t(*MmioTransport::create(blk, drv.mem())) {
    t->attach_irq(irq);
  }
  void bring_up(uint64_t features = kAllFeatures) {
    ASSERT_TRUE(regs.negotiate(features));
    regs.setup_queue(0, drv.size(), drv.desc_addr(), drv.avail_addr(), drv.used_addr());
    regs.driver_ok();
    ASSERT_TRUE(t->active());
  }
  void kick() { regs.write(mmio::kQueueNotify, 0); }
  bool used_reaches(uint16_t n) {
    return eventually([&] { return drv.used_idx() == n; });
  }
  uint64_t header(uint32_t type, uint64_t sector) {
    const uint64_t at = drv.alloc(16);
    EXPECT_TRUE(drv.mem().write_obj(at, blk::RequestHeader{type, 0, sector}).ok());
    return at;
  }
  uint64_t status_byte() {
    const uint64_t at = drv.alloc(1, 1);
    EXPECT_TRUE(drv.mem().write_obj<uint8_t>(at, 0xee).ok());
    return at;
  }
  uint8_t status_at(uint64_t at) { return *drv.mem().read_obj<uint8_t>(at); }
  std::vector<uint8_t> bytes(uint64_t addr, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_TRUE(drv.mem().read(addr, v).ok());
    return v;
  }
  // Runs one chain to completion: returns {status byte, used len}.
  std::pair<uint8_t, uint32_t> run(const std::vector<test::Buf>& bufs, uint64_t status_addr) {
    const uint16_t before = drv.used_idx();
    drv.add_chain(bufs);
    kick();
    EXPECT_TRUE(used_reaches(static_cast<uint16_t>(before + 1)));
    return {status_at(status_addr), drv.used_elem(before).second};
  }
  // A read of `len` bytes at `sector` into one buffer; returns {status, used len, buffer}.
  std::tuple<uint8_t, uint32_t, uint64_t> read(uint64_t sector, uint32_t len) {
    const uint64_t h = header(blk::kTypeIn, sector), buf = drv.alloc(len), st = status_byte();
    auto [s, n] = run({{h, 16, false}, {buf, len, true}, {st, 1, true}}, st);
    return {s, n, buf};
  }
  uint8_t discard(uint32_t type, std::vector<blk::Segment> segs) {
    const uint64_t h = header(type, 0), st = status_byte();
    const uint64_t s = drv.alloc(16 * segs.size());
    for (size_t i = 0; i < segs.size(); ++i) EXPECT_TRUE(drv.mem().write_obj(s + 16 * i, segs[i]).ok());
    return run({{h, 16, false}, {s, static_cast<uint32_t>(16 * segs.size()), false}, {st, 1, true}}, st)
        .first;
  }
  bool needs_reset() { return (regs.status() & status::kDeviceNeedsReset) != 0; }

  ImageFile image;
  test::TestDriver drv{16, 0x400000};
  std::shared_ptr<Block> blk;
  std::shared_ptr<MmioTransport> t;
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs{*t};
};

// Every test runs with each engine: the io_uring (where the kernel has one) and plain
// system calls.
class VirtioBlock : public ::testing::TestWithParam<Block::Engine> {};

std::vector<uint8_t> expected(uint64_t offset, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = ImageFile::pattern(offset + i);
  return v;
}

TEST_P(VirtioBlock, OffersWhatItShouldAndDescribesTheDisk) {
  BlockFixture f(GetParam());
  EXPECT_EQ(f.blk->device_type(), 2u);
  const uint64_t offered = f.blk->offered_features();
  EXPECT_EQ(offered & kAllFeatures, kAllFeatures);
  EXPECT_FALSE(offered & feature::bit(blk::kFeatureRo));
  EXPECT_EQ(f.regs.read(mmio::kDeviceId), 2u);
  // capacity (sectors), seg_max, blk_size, the discard limits, through the register page.
  EXPECT_EQ(f.regs.read(mmio::kConfig + 0), kDiskBytes / 512);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 4), 0u);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 12), Block::kSegMax);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 20), 512u);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 36), Block::kMaxDiscardSectors);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 40), Block::kMaxDiscardSegments);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 44), Block::kDiscardAlignSectors);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 56) & 0xff, 1u);  // write_zeroes_may_unmap
}

TEST_P(VirtioBlock, ReadsWhatTheImageHolds) {
  BlockFixture f(GetParam());
  f.bring_up();
  auto [s, n, buf] = f.read(3, 4096);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(n, 4097u);
  EXPECT_EQ(f.bytes(buf, 4096), expected(3 * 512, 4096));
  // The last sector of the disk, through several descriptors.
  const uint64_t h = f.header(blk::kTypeIn, kDiskBytes / 512 - 1), b = f.drv.alloc(512),
                 st = f.status_byte();
  auto [s2, n2] = f.run({{h, 16, false}, {b, 100, true}, {b + 100, 412, true}, {st, 1, true}}, st);
  EXPECT_EQ(s2, blk::kStatusOk);
  EXPECT_EQ(n2, 513u);
  EXPECT_EQ(f.bytes(b, 512), expected(kDiskBytes - 512, 512));
  EXPECT_EQ(f.blk->stats().reads.load(), 2u);
  EXPECT_EQ(f.blk->stats().bytes_read.load(), 4096u + 512u);
}

// The counters the metrics read are the device's own, under its drive id.
TEST_P(VirtioBlock, ReportsItsCountersUnderItsDriveId) {
  BlockFixture f(GetParam());
  f.bring_up();
  (void)f.read(3, 4096);
  metrics::Collector c;
  f.blk->report_metrics(c, "rootfs");
  std::map<std::string, uint64_t> got;
  for (const auto& m : c.samples()) {
    EXPECT_EQ(m.component, "block");
    EXPECT_EQ(m.label, "drive");
    EXPECT_EQ(m.instance, "rootfs");
    got[m.name] = m.value;
  }
  EXPECT_EQ(got["read_count"], 1u);
  EXPECT_EQ(got["read_bytes"], 4096u);
  EXPECT_EQ(got["write_count"], 0u);
  EXPECT_EQ(got["capacity_bytes"], kDiskBytes);
}

TEST_P(VirtioBlock, WritesReachTheImage) {
  BlockFixture f(GetParam());
  f.bring_up();
  const uint64_t h = f.header(blk::kTypeOut, 8), d = f.drv.alloc(1024), st = f.status_byte();
  std::vector<uint8_t> data(1024);
  std::iota(data.begin(), data.end(), 0);
  ASSERT_TRUE(f.drv.mem().write(d, data).ok());
  auto [s, n] = f.run({{h, 16, false}, {d, 600, false}, {d + 600, 424, false}, {st, 1, true}}, st);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(f.image.read(8 * 512, 1024), data);
  EXPECT_EQ(f.image.read(7 * 512, 512), expected(7 * 512, 512)) << "the sector before is untouched";
  EXPECT_EQ(f.image.read(10 * 512, 512), expected(10 * 512, 512)) << "the sector after is untouched";
}

TEST_P(VirtioBlock, HeaderDataAndStatusMayShareDescriptors) {
  // The device must not assume any framing (5.2.6.1): header and data in one readable
  // buffer, data and status in one writable buffer.
  BlockFixture f(GetParam());
  f.bring_up();
  const uint64_t w = f.drv.alloc(16 + 512);
  ASSERT_TRUE(f.drv.mem().write_obj(w, blk::RequestHeader{blk::kTypeOut, 0, 1}).ok());
  std::vector<uint8_t> data(512, 0x5a);
  ASSERT_TRUE(f.drv.mem().write(w + 16, data).ok());
  const uint64_t st = f.status_byte();
  EXPECT_EQ(f.run({{w, 16 + 512, false}, {st, 1, true}}, st).first, blk::kStatusOk);
  EXPECT_EQ(f.image.read(512, 512), data);

  const uint64_t h = f.header(blk::kTypeIn, 1), r = f.drv.alloc(513);
  auto [s, n] = f.run({{h, 16, false}, {r, 513, true}}, r + 512);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(n, 513u);
  EXPECT_EQ(f.bytes(r, 512), data);
}

TEST_P(VirtioBlock, FlushAndGetId) {
  BlockFixture f(GetParam(), false, "abcdefghijklmnopqrstuvwxyz");  // only 20 bytes fit
  f.bring_up();
  const uint64_t h = f.header(blk::kTypeFlush, 0), st = f.status_byte();
  EXPECT_EQ(f.run({{h, 16, false}, {st, 1, true}}, st), (std::pair<uint8_t, uint32_t>{0, 1}));
  EXPECT_EQ(f.blk->stats().flushes.load(), 1u);

  const uint64_t g = f.header(blk::kTypeGetId, 0), id = f.drv.alloc(20), st2 = f.status_byte();
  EXPECT_EQ(f.run({{g, 16, false}, {id, 20, true}, {st2, 1, true}}, st2),
            (std::pair<uint8_t, uint32_t>{0, 21}));
  const auto got = f.bytes(id, 20);
  EXPECT_EQ(std::string(got.begin(), got.end()), "abcdefghijklmnopqrst");
}

TEST_P(VirtioBlock, ShortSerialIsNulPadded) {
  BlockFixture f(GetParam(), false, "disk7");
  f.bring_up();
  const uint64_t g = f.header(blk::kTypeGetId, 0), id = f.drv.alloc(20), st = f.status_byte();
  ASSERT_TRUE(f.drv.mem().write(id, std::vector<uint8_t>(20, 0xff)).ok());
  EXPECT_EQ(f.run({{g, 16, false}, {id, 20, true}, {st, 1, true}}, st).first, blk::kStatusOk);
  std::vector<uint8_t> want(20, 0);
  std::memcpy(want.data(), "disk7", 5);
  EXPECT_EQ(f.bytes(id, 20), want);
}

TEST_P(VirtioBlock, DiscardPunchesHolesAndWriteZeroesZeroes) {
  BlockFixture f(GetParam());
  f.bring_up();
  const uint64_t before = f.image.allocated_bytes();
  // 256 KiB from 128 KiB: discarded, reads zeroes, the file takes less space.
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{256, 512, 0}}), blk::kStatusOk);
  EXPECT_EQ(f.image.read(128 << 10, 256 << 10), std::vector<uint8_t>(256 << 10, 0));
  EXPECT_LE(f.image.allocated_bytes() + (256 << 10), before);
  EXPECT_EQ(f.image.read((128 << 10) - 512, 512), expected((128 << 10) - 512, 512));
  // Write-zeroes, two segments, with and without unmap.
  EXPECT_EQ(f.discard(blk::kTypeWriteZeroes, {{1000, 3, 0}, {1500, 9, blk::kSegmentFlagUnmap}}),
            blk::kStatusOk);
  EXPECT_EQ(f.image.read(1000 * 512, 3 * 512), std::vector<uint8_t>(3 * 512, 0));
  EXPECT_EQ(f.image.read(1500 * 512, 9 * 512), std::vector<uint8_t>(9 * 512, 0));
  EXPECT_EQ(f.image.read(1003 * 512, 512), expected(1003 * 512, 512));
  EXPECT_EQ(f.blk->stats().discards.load(), 1u);
  EXPECT_EQ(f.blk->stats().write_zeroes.load(), 1u);
}

TEST_P(VirtioBlock, ReadOnlyDiskRefusesWritesAndKeepsTheImage) {
  BlockFixture f(GetParam(), true);
  EXPECT_TRUE(f.blk->offered_features() & feature::bit(blk::kFeatureRo));
  EXPECT_FALSE(f.blk->offered_features() & feature::bit(blk::kFeatureDiscard));
  f.bring_up(kVersion1 | feature::bit(blk::kFeatureFlush) | feature::bit(blk::kFeatureRo));
  const uint64_t h = f.header(blk::kTypeOut, 0), d = f.drv.alloc(512), st = f.status_byte();
  EXPECT_EQ(f.run({{h, 16, false}, {d, 512, false}, {st, 1, true}}, st).first, blk::kStatusIoErr);
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{0, 8, 0}}), blk::kStatusUnsupported);
  EXPECT_EQ(f.discard(blk::kTypeWriteZeroes, {{0, 8, 0}}), blk::kStatusUnsupported);
  EXPECT_EQ(f.image.read(0, kDiskBytes), expected(0, kDiskBytes));
  auto [s, n, buf] = f.read(0, 512);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(f.bytes(buf, 512), expected(0, 512));
}

TEST_P(VirtioBlock, MalformedRequestsFailAloneAndTheDeviceGoesOn) {
  BlockFixture f(GetParam());
  f.bring_up();
  const uint64_t last = kDiskBytes / 512;
  EXPECT_EQ(std::get<0>(f.read(last, 512)), blk::kStatusIoErr) << "past the end";
  EXPECT_EQ(std::get<0>(f.read(last - 1, 1024)), blk::kStatusIoErr) << "straddles the end";
  EXPECT_EQ(std::get<0>(f.read(~uint64_t{0} / 512 + 1, 512)), blk::kStatusIoErr) << "sector * 512 overflows";
  EXPECT_EQ(std::get<0>(f.read(~uint64_t{0}, 512)), blk::kStatusIoErr) << "huge sector";
  EXPECT_EQ(std::get<0>(f.read(0, 100)), blk::kStatusIoErr) << "not whole sectors";
  {
    const uint64_t h = f.header(blk::kTypeOut, 0), d = f.drv.alloc(700), st = f.status_byte();
    EXPECT_EQ(f.run({{h, 16, false}, {d, 700, false}, {st, 1, true}}, st).first, blk::kStatusIoErr)
        << "write of a partial sector";
  }
  {
    const uint64_t h = f.header(77, 0), st = f.status_byte();
    EXPECT_EQ(f.run({{h, 16, false}, {st, 1, true}}, st).first, blk::kStatusUnsupported)
        << "unknown type";
  }
  {
    const uint64_t h = f.header(blk::kTypeIn, 0), st = f.status_byte();
    EXPECT_EQ(f.run({{h, 10, false}, {st, 1, true}}, st).first, blk::kStatusIoErr) << "short header";
  }
  {
    const uint64_t h = f.header(blk::kTypeIn, 0);
    auto [s, n] = f.run({{h, 16, false}}, h);
    EXPECT_EQ(n, 0u) << "no writable byte: nowhere to put a status, given back untouched";
  }
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{0, 8, blk::kSegmentFlagUnmap}}), blk::kStatusUnsupported)
      << "discard with unmap";
  EXPECT_EQ(f.discard(blk::kTypeWriteZeroes, {{0, 8, 4}}), blk::kStatusUnsupported) << "unknown flag";
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{last - 4, 8, 0}}), blk::kStatusIoErr) << "segment past the end";
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{0, Block::kMaxDiscardSectors + 1, 0}}), blk::kStatusIoErr)
      << "segment over the limit";
  EXPECT_EQ(f.discard(blk::kTypeDiscard, std::vector<blk::Segment>(Block::kMaxDiscardSegments + 1, {0, 8, 0})),
            blk::kStatusIoErr)
      << "too many segments";
  EXPECT_EQ(f.image.read(0, kDiskBytes), expected(0, kDiskBytes)) << "no bad request touched the image";
  EXPECT_FALSE(f.needs_reset());
  // And good requests still work.
  auto [s, n, buf] = f.read(5, 512);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(f.bytes(buf, 512), expected(5 * 512, 512));
  EXPECT_GE(f.blk->stats().errors.load(), 14u);
}

TEST_P(VirtioBlock, DiscardAndWriteZeroesNeedTheirFeature) {
  BlockFixture f(GetParam());
  f.bring_up(kVersion1 | feature::bit(blk::kFeatureFlush));
  EXPECT_EQ(f.discard(blk::kTypeDiscard, {{0, 8, 0}}), blk::kStatusUnsupported);
  EXPECT_EQ(f.discard(blk::kTypeWriteZeroes, {{0, 8, 0}}), blk::kStatusUnsupported);
  EXPECT_EQ(f.image.read(0, 4096), expected(0, 4096));
}

TEST_P(VirtioBlock, ManyRequestsInFlight) {
  BlockFixture f(GetParam());
  f.bring_up(kAllFeatures | feature::bit(feature::kEventIdx));
  // Each round fills the queue with reads of different sectors (half through indirect
  // tables) and kicks once.
  uint16_t made = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<std::pair<uint64_t, uint64_t>> bufs;  // {sector, buffer}
    const uint16_t before = f.drv.avail_idx();
    for (int i = 0; i < 5; ++i, ++made) {
      const uint64_t sector = (round * 37 + i * 11) % (kDiskBytes / 512 - 8);
      const uint64_t h = f.header(blk::kTypeIn, sector), b = f.drv.alloc(4096),
                     st = f.status_byte();
      if (i % 2)
        f.drv.add_chain({{h, 16, false}, {b, 4096, true}, {st, 1, true}});
      else
        f.drv.add_indirect({{h, 16, false}, {b, 2048, true}, {b + 2048, 2048, true}, {st, 1, true}});
      bufs.push_back({sector, b});
    }
    ASSERT_TRUE(f.drv.would_kick(before, true)) << "round " << round << ": a real driver would not kick";
    f.kick();
    ASSERT_TRUE(f.used_reaches(made)) << "round " << round;
    for (auto [sector, b] : bufs) EXPECT_EQ(f.bytes(b, 4096), expected(sector * 512, 4096));
    f.drv.set_used_event(made - 1);
  }
}

TEST_P(VirtioBlock, BrokenQueueNeedsResetAndTheDriverCanRecover) {
  BlockFixture f(GetParam());
  f.bring_up();
  f.drv.add_chain({{0x3ff000, 0x2000, false}});  // past the end of guest RAM
  f.kick();
  ASSERT_TRUE(eventually([&] { return f.needs_reset(); }));
  f.regs.write(mmio::kStatus, 0);
  ASSERT_TRUE(f.regs.negotiate(kAllFeatures));
  std::vector<uint8_t> zeros(0x1000, 0);
  ASSERT_TRUE(f.drv.mem().write(f.drv.desc_addr(), zeros).ok());
  f.drv.set_avail_idx(0);
  f.regs.setup_queue(0, f.drv.size(), f.drv.desc_addr(), f.drv.avail_addr(), f.drv.used_addr());
  f.regs.driver_ok();
  auto [s, n, buf] = f.read(0, 512);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_FALSE(f.needs_reset());
}

TEST_P(VirtioBlock, PauseHoldsRequestsAndResumeServesThem) {
  BlockFixture f(GetParam());
  f.bring_up();
  f.t->pause();
  const uint64_t h = f.header(blk::kTypeIn, 0), b = f.drv.alloc(512), st = f.status_byte();
  f.drv.add_chain({{h, 16, false}, {b, 512, true}, {st, 1, true}});
  f.kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(f.drv.used_idx(), 0);
  f.t->resume();
  EXPECT_TRUE(f.used_reaches(1));
  EXPECT_EQ(f.status_at(st), blk::kStatusOk);
}

TEST_P(VirtioBlock, UsesTheEngineAskedFor) {
  BlockFixture f(GetParam());
  f.bring_up();
  // io_uring is there unless the kernel forbids it (kernel.io_uring_disabled).
  std::ifstream disabled("/proc/sys/kernel/io_uring_disabled");
  int off = 0;
  disabled >> off;
  EXPECT_EQ(f.blk->engine(), GetParam() == Block::Engine::kAuto && off == 0 ? "io_uring" : "sync");
}

TEST_P(VirtioBlock, AHeadMadeAvailableTwiceWhileInFlightNeedsReset) {
  BlockFixture f(GetParam());
  f.bring_up();
  const uint64_t h = f.header(blk::kTypeIn, 0), b = f.drv.alloc(512), st = f.status_byte();
  const uint16_t head = f.drv.add_chain({{h, 16, false}, {b, 512, true}, {st, 1, true}});
  f.drv.make_available(head);  // the same request twice in one batch
  f.kick();
  if (f.blk->engine() == "io_uring") {
    // The first is still in the kernel's hands when the second comes.
    EXPECT_TRUE(eventually([&] { return f.needs_reset(); }));
  } else {
    // Served one after the other: two good reads.
    EXPECT_TRUE(f.used_reaches(2));
    EXPECT_FALSE(f.needs_reset());
  }
}

TEST_P(VirtioBlock, ResetWithRequestsInFlight) {
  BlockFixture f(GetParam());
  std::vector<uint64_t> bufs, headers, statuses;
  for (int i = 0; i < 8; ++i) {
    headers.push_back(f.header(i % 2 ? blk::kTypeOut : blk::kTypeIn, 64 * i));
    bufs.push_back(f.drv.alloc(32768));
    statuses.push_back(f.status_byte());
  }
  for (int round = 0; round < 20; ++round) {
    f.bring_up();
    for (int i = 0; i < 8; ++i) {
      const uint64_t h = headers[i], b = bufs[i], st = statuses[i];
      if (i % 2)
        f.drv.add_chain({{h, 16, false}, {b, 32768, false}, {st, 1, true}});
      else
        f.drv.add_chain({{h, 16, false}, {b, 32768, true}, {st, 1, true}});
    }
    f.kick();
    f.regs.write(mmio::kStatus, 0);  // while some are in flight, maybe
    EXPECT_FALSE(f.t->active());
    f.drv.set_avail_idx(0);
    std::vector<uint8_t> zeros(split::used_bytes(16), 0);
    ASSERT_TRUE(f.drv.mem().write(f.drv.used_addr(), zeros).ok());
    std::vector<uint8_t> zd(split::desc_bytes(16), 0);
    ASSERT_TRUE(f.drv.mem().write(f.drv.desc_addr(), zd).ok());
  }
}

template <class F>
bool within(std::chrono::seconds limit, F cond) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

TEST_P(VirtioBlock, RateLimitedBandwidthAndOperations) {
  // 512 KiB/s: 8 reads of 64 KiB at once (the first second's worth), the next 8 after
  // about a second, none of them refused. (Indirect chains: 16 requests fit the queue.)
  {
    BlockFixture f(GetParam(), false, "x", {.bytes_per_second = 512 << 10});
    f.bring_up();
    const auto start = std::chrono::steady_clock::now();
    const uint64_t b = f.drv.alloc(64 << 10);
    for (int i = 0; i < 16; ++i) {
      const uint64_t h = f.header(blk::kTypeIn, 0), st = f.status_byte();
      f.drv.add_indirect({{h, 16, false}, {b, 64 << 10, true}, {st, 1, true}});
    }
    f.kick();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_LE(f.drv.used_idx(), 9) << "the bucket held 8 (less the header bytes), 0.1 s adds 0.8";
    EXPECT_GE(f.drv.used_idx(), 7);
    ASSERT_TRUE(within(std::chrono::seconds(6), [&] { return f.drv.used_idx() == 16; }));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GE(s, 0.8);
    EXPECT_LE(s, 5.0) << "(a generous bound: CI machines are busy)";
    EXPECT_GE(f.blk->stats().throttled.load(), 1u);
    EXPECT_EQ(f.blk->stats().errors.load(), 0u);
  }
  // 20 operations per second, a burst of 5: 25 at once, the rest at the rate.
  {
    BlockFixture f(GetParam(), false, "x", {.ops_per_second = 20, .ops_burst = 5});
    f.bring_up();
    const auto start = std::chrono::steady_clock::now();
    uint16_t made = 0;
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 15; ++i, ++made) {
        const uint64_t h = f.header(blk::kTypeFlush, 0), st = f.status_byte();
        f.drv.add_indirect({{h, 16, false}, {st, 1, true}});
      }
      f.kick();
      ASSERT_TRUE(within(std::chrono::seconds(6), [&] { return f.drv.used_idx() == made; }));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_GE(s, 0.2) << "30 operations: 25 at once, 5 more at 20/s";
    EXPECT_LE(s, 5.0);
  }
}

// PATCH /drives: the disk swapped under a live device (paused around the swap, as the
// VMM does): the capacity follows, the driver gets a configuration interrupt, and the
// next requests reach the new file.
TEST_P(VirtioBlock, ReplacedDiskGivesItsCapacityAndContent) {
  BlockFixture f(GetParam());
  f.bring_up();
  ImageFile other(3 * kDiskBytes);
  {
    const std::vector<uint8_t> mark(512, 0x5a);
    const int fd = ::open(other.path().c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, mark.data(), mark.size(), 0), 512);
    ::close(fd);
  }
  ASSERT_EQ(f.regs.read(mmio::kConfig), kDiskBytes / 512);
  ASSERT_EQ(f.regs.read(mmio::kInterruptStatus) & mmio::kInterruptConfigChange, 0u);
  const uint64_t irqs = f.irq->triggers.load();
  auto disk = block::DiskImage::open(other.path(), {});
  ASSERT_TRUE(disk.ok()) << disk.error().message();
  f.blk->pause();
  f.blk->replace_disk(std::move(*disk));
  f.blk->resume();
  EXPECT_EQ(f.regs.read(mmio::kConfig), 3 * kDiskBytes / 512);
  EXPECT_EQ(f.regs.read(mmio::kInterruptStatus) & mmio::kInterruptConfigChange,
            mmio::kInterruptConfigChange);
  EXPECT_GT(f.irq->triggers.load(), irqs) << "no configuration-change interrupt";
  auto [s0, n0, b0] = f.read(0, 512);
  EXPECT_EQ(s0, blk::kStatusOk);
  EXPECT_EQ(f.bytes(b0, 512), std::vector<uint8_t>(512, 0x5a));
  // A sector only the new, larger disk has.
  const uint64_t last = 3 * kDiskBytes / 512 - 1;
  auto [s1, n1, b1] = f.read(last, 512);
  EXPECT_EQ(s1, blk::kStatusOk);
  EXPECT_EQ(f.bytes(b1, 512), expected(last * 512, 512));
  // The old file is free again: another user can lock it.
  EXPECT_TRUE(block::DiskImage::open(f.image.path(), {}).ok());
}

// PATCH /drives with the same file after the host resized it.
TEST_P(VirtioBlock, RefreshedDiskSizeReachesTheDriver) {
  BlockFixture f(GetParam());
  f.bring_up();
  ASSERT_EQ(::truncate(f.image.path().c_str(), 2 * kDiskBytes), 0);
  const uint64_t irqs = f.irq->triggers.load();
  f.blk->pause();
  ASSERT_TRUE(f.blk->refresh_disk_size().ok());
  f.blk->resume();
  EXPECT_EQ(f.regs.read(mmio::kConfig), 2 * kDiskBytes / 512);
  EXPECT_GT(f.irq->triggers.load(), irqs);
  auto [s, n, b] = f.read(2 * kDiskBytes / 512 - 1, 512);
  EXPECT_EQ(s, blk::kStatusOk);
  EXPECT_EQ(f.bytes(b, 512), std::vector<uint8_t>(512, 0));
  // A size that is not whole sectors is refused and the capacity stays.
  ASSERT_EQ(::truncate(f.image.path().c_str(), 2 * kDiskBytes + 100), 0);
  f.blk->pause();
  EXPECT_FALSE(f.blk->refresh_disk_size().ok());
  f.blk->resume();
  EXPECT_EQ(f.regs.read(mmio::kConfig), 2 * kDiskBytes / 512);
}

// A new rate limit on a live device: requests held back by the old one go at once.
TEST_P(VirtioBlock, RateLimitChangedLive) {
  // 100 bytes a second: the first 64 KiB read leaves the bucket 10 minutes in debt.
  BlockFixture f(GetParam(), false, "x", {.bytes_per_second = 100});
  f.bring_up();
  const uint64_t b = f.drv.alloc(64 << 10);
  for (int i = 0; i < 3; ++i) {
    const uint64_t h = f.header(blk::kTypeIn, 0), st = f.status_byte();
    f.drv.add_chain({{h, 16, false}, {b, 64 << 10, true}, {st, 1, true}});
  }
  f.kick();
  ASSERT_TRUE(f.used_reaches(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(f.drv.used_idx(), 1) << "the others wait for tokens";
  f.blk->pause();
  ASSERT_TRUE(f.blk->set_rate_limit({.ops_per_second = 1000}).ok());
  f.blk->resume();
  EXPECT_TRUE(f.used_reaches(3)) << "still throttled by the old limit";
  EXPECT_EQ(f.blk->rate_limit(), (RateLimit{.ops_per_second = 1000}));
}

INSTANTIATE_TEST_SUITE_P(Engines, VirtioBlock,
                         ::testing::Values(Block::Engine::kAuto, Block::Engine::kSync),
                         [](const auto& info) {
                           return info.param == Block::Engine::kAuto ? "Auto" : "Sync";
                         });

}  // namespace
}  // namespace vireo::virtio
