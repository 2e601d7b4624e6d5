// Drives vireo's virtio-blk (--disk) from the virtio_blk test guest (tests/guest/), whose
// own drivers (virtio-mmio or virtio-pci: every test runs on both of vireo's transports)
// read and write sectors, splits chains, flushes, discards,
// writes zeroes and sends requests that must fail alone. The test makes the images (the
// pattern of tests/guest/common/blk_pattern.h), and afterwards checks every byte of them
// on the host: written sectors hold the guest's data, discarded and zeroed ones zeroes,
// the rest (the targets of the failed requests too) and read-only images are unchanged.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "guest/common/blk_pattern.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

constexpr int kGuestPass = 1;  // exit value 0 through the debug-exit port
constexpr uint64_t kImageBytes = 8 << 20;
constexpr uint64_t kSector = 512;
// Steps of mode=check (tests/guest/virtio_blk_user.c) on a writable and a read-only disk.
constexpr int kWritableSteps = 17;
constexpr int kReadOnlySteps = 11;

uint8_t seed_of(const std::string& serial) {
  return blk_serial_seed(serial.c_str(), static_cast<unsigned>(serial.size()));
}

// An image in /tmp holding the guest's pattern for `serial`; removed at the end.
class Image {
 public:
  // In `dir` (/tmp by default; a tmpfs in the KVM sandbox).
  Image(const std::string& serial, uint64_t bytes = kImageBytes, const std::string& dir = "/tmp")
      : seed_(seed_of(serial)) {
    std::string name = dir + "/vireo-blk-guest-XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) return;
    path_ = name;
    std::vector<uint8_t> data(bytes);
    for (uint64_t i = 0; i < bytes; ++i) data[i] = blk_pattern(i, seed_);
    const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    ::close(fd);
    if (!ok) path_.clear();
  }
  ~Image() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  const std::string& path() const { return path_; }
  uint8_t seed() const { return seed_; }
  std::vector<uint8_t> bytes() const {
    std::ifstream f(path_, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
  }

 private:
  std::string path_;
  uint8_t seed_;
};

// What an image should hold at `offset` after the guest's mode=check (`check`) and
// mode=inflight (`inflight`) on a writable disk; see tests/guest/virtio_blk.h.
uint8_t expected(uint64_t offset, uint8_t seed, bool check, bool inflight) {
  const uint64_t s = offset / kSector;
  auto in = [s](uint64_t from, uint64_t n) { return s >= from && s < from + n; };
  if (check) {
    if (in(1024, 128)) return blk_written(offset, seed, 0);
    if (in(1200, 4)) return blk_written(offset, seed, 1);
    if (in(2048, 256) || in(3072, 64) || in(3200, 64)) return 0;
  }
  if (inflight && in(4096, 128 * 8)) return blk_written(offset, seed, ((s - 4096) / 8) % 2 ? 3 : 2);
  return blk_pattern(offset, seed);
}

// Every byte of the image as expected(); reports the first difference. With
// `discard_any`, the discarded sectors may also still hold their old data: a discard is
// a hint, and a file system that cannot punch holes keeps the data (the guest was told
// so with discard=any; write-zeroes must still read as zeroes).
void expect_image(const Image& img, bool check, bool inflight, bool discard_any = false) {
  const auto data = img.bytes();
  ASSERT_EQ(data.size(), kImageBytes) << img.path();
  for (uint64_t i = 0; i < data.size(); ++i) {
    const uint8_t want = expected(i, img.seed(), check, inflight);
    const uint64_t s = i / kSector;
    if (discard_any && check && s >= 2048 && s < 2048 + 256 && data[i] == blk_pattern(i, img.seed()))
      continue;
    ASSERT_EQ(data[i], want) << "byte " << i << " (sector " << s << ") of " << img.path();
  }
}

std::string disk_arg(const Image& img, const std::string& serial, const std::string& extra = "") {
  return "path=" + img.path() + ",serial=" + serial + extra;
}

ProcessResult boot_blk(const std::string& transport, const std::string& cmdline,
                       const std::vector<std::string>& disks) {
  std::vector<std::string> args = {vireo_bin(), "run",       "--kernel", guest("virtio_blk"),
                                   "--cmdline",  cmdline,     "--transport", transport};
  for (const auto& d : disks) {
    args.push_back("--disk");
    args.push_back(d);
  }
  return run_process(args, "", std::chrono::seconds(120));
}

int count_matches(const std::string& out, const std::regex& re) {
  return static_cast<int>(std::distance(std::sregex_iterator(out.begin(), out.end(), re),
                                        std::sregex_iterator()));
}

// The check lines of one disk: one "ok" per step and the summary.
void expect_checked(const std::string& out, const std::string& serial, bool ro) {
  const std::regex step("virtio_blk: " + serial + ": [^\\n]*: ok\\r?\\n");
  EXPECT_EQ(count_matches(out, step), ro ? kReadOnlySteps : kWritableSteps) << out;
  const std::string summary = "virtio_blk: " + serial + ": check ok (" +
                              std::to_string(ro ? kReadOnlySteps : kWritableSteps) + " steps, " +
                              (ro ? "read-only" : "writable") + ")";
  EXPECT_NE(out.find(summary), std::string::npos) << out;
}

// Parameters: the transport, the ring the requests run in.
class VirtioBlkGuestRing : public ::testing::TestWithParam<std::tuple<const char*, int>> {
 protected:
  std::string transport() const { return std::get<0>(GetParam()); }
  std::string ring() const { return " ring=" + std::to_string(std::get<1>(GetParam())); }
};

TEST_P(VirtioBlkGuestRing, ChecksAWritableDisk) {
  VIREO_REQUIRE_KVM();
  Image img("blk-main");
  ASSERT_FALSE(img.path().empty());
  auto r = boot_blk(transport(), "mode=check" + ring(), {disk_arg(img, "blk-main")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_blk: disk 0: capacity 16384 sectors (8192 KiB), seg_max 254, "
                       "blk_size 512, ro 0"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("virtio_blk: disk 0: serial 'blk-main'"), std::string::npos) << r.out;
  // SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES and VERSION_1: no RO.
  EXPECT_NE(r.out.find("(virtio-" + transport() + "): features 0x100006244, queue of 256 entries, "
                       "status 0xf"),
            std::string::npos)
      << r.out;
  expect_checked(r.out, "blk-main", false);
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  expect_image(img, true, false);
}

INSTANTIATE_TEST_SUITE_P(Ring, VirtioBlkGuestRing,
                         ::testing::Combine(::testing::Values("mmio", "pci"),
                                            ::testing::Values(0, 3)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "Ring" +
                                  std::to_string(std::get<1>(info.param));
                         });

// The other cases, on each transport.
class VirtioBlkGuest : public ::testing::TestWithParam<const char*> {
 protected:
  std::string transport() const { return GetParam(); }
};

TEST_P(VirtioBlkGuest, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  VIREO_REQUIRE_KVM();
  Image img("blk-ro");
  ASSERT_FALSE(img.path().empty());
  auto r = boot_blk(transport(), "mode=check ring=3 ro=1",
                    {disk_arg(img, "blk-ro", ",readonly=on")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  // RO offered and taken; no DISCARD or WRITE_ZEROES.
  EXPECT_NE(r.out.find("features 0x100000264,"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blk_size 512, ro 1"), std::string::npos) << r.out;
  expect_checked(r.out, "blk-ro", true);
  expect_image(img, false, false);
}

// The guest must notice a writable disk where it was told to expect a read-only one (and
// the other way round): the RO feature bit is checked, not assumed.
TEST_P(VirtioBlkGuest, ReadOnlyMismatchFails) {
  VIREO_REQUIRE_KVM();
  Image img("blk-rw");
  ASSERT_FALSE(img.path().empty());
  auto r = boot_blk(transport(), "mode=check ring=3 ro=1", {disk_arg(img, "blk-rw")});
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: blk-rw: read-only is 0, want 1"), std::string::npos) << r.out;
  expect_image(img, false, false);
}

// Two disks, found by their serials; the second read-only. Each holds its own pattern, so
// a request served from the other disk would be caught.
TEST_P(VirtioBlkGuest, TwoDisksOneReadOnly) {
  VIREO_REQUIRE_KVM();
  Image a("alpha"), b("beta-2");
  ASSERT_FALSE(a.path().empty());
  ASSERT_FALSE(b.path().empty());
  ASSERT_NE(a.seed(), b.seed());
  auto r = boot_blk(transport(), "mode=check ring=3 disks=2 ro=beta-2",
                    {disk_arg(a, "alpha"), disk_arg(b, "beta-2", ",readonly=on")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_blk: disk 0: serial 'alpha'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("virtio_blk: disk 1: serial 'beta-2'"), std::string::npos) << r.out;
  expect_checked(r.out, "alpha", false);
  expect_checked(r.out, "beta-2", true);
  expect_image(a, true, false);
  expect_image(b, false, false);
}

// O_DIRECT: the guest's buffers are not 4 KiB aligned for most requests, so vireo takes
// its cached path for them and the direct one for the others; the result is the same.
// The image is in /var/tmp, which in the KVM sandbox is a 9p share: it takes O_DIRECT
// but cannot punch holes, so discarded sectors may keep their data there (discard=any).
TEST_P(VirtioBlkGuest, DirectIo) {
  VIREO_REQUIRE_KVM();
  // /var/tmp: a disk file system here, and in the KVM sandbox a 9p share of it, both of
  // which take O_DIRECT (the sandbox's /tmp is a tmpfs, which on Linux 6.1 does not).
  Image img("blk-direct", kImageBytes, "/var/tmp");
  ASSERT_FALSE(img.path().empty());
  auto r = boot_blk(transport(), "mode=check ring=3 discard=any",
                    {disk_arg(img, "blk-direct", ",direct=on")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  expect_checked(r.out, "blk-direct", false);
  expect_image(img, true, false, /*discard_any=*/true);
}

TEST_P(VirtioBlkGuest, WholeQueueInFlight) {
  VIREO_REQUIRE_KVM();
  Image img("blk-inflight");
  ASSERT_FALSE(img.path().empty());
  auto r = boot_blk(transport(), "mode=inflight ring=3", {disk_arg(img, "blk-inflight")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("inflight ok: 3 rounds of 128 requests, one kick each"), std::string::npos)
      << r.out;
  // vireo serves a queue on kicks only: all 128 requests were pending at once.
  EXPECT_NE(r.out.find("virtio_blk: blk-inflight: used before the kick: 0"), std::string::npos)
      << r.out;
  expect_image(img, false, true);
}

// The bench loops, short: they run and count their requests (bench/blk_bench.sh times them).
TEST_P(VirtioBlkGuest, BenchModesRun) {
  VIREO_REQUIRE_KVM();
  Image img("blk-bench");
  ASSERT_FALSE(img.path().empty());
  const struct {
    std::string args;
    std::string end;
  } runs[] = {
      {"op=read bs=1048576 total=16777216", "bench-end requests=16 bytes=16777216 "},
      {"op=write bs=1048576 qd=4 total=16777216", "bench-end requests=16 bytes=16777216 "},
      {"op=randread bs=4096 qd=32 total=4194304", "bench-end requests=1024 bytes=4194304 "},
  };
  for (const auto& run : runs) {
    auto r =
        boot_blk(transport(), "mode=bench ring=3 " + run.args, {disk_arg(img, "blk-bench")});
    EXPECT_EQ(r.exit_status, kGuestPass) << run.args << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("virtio_blk: bench-start"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(run.end), std::string::npos) << r.out;
  }
}

TEST_P(VirtioBlkGuest, NoDiskWithoutDiskOption) {
  VIREO_REQUIRE_KVM();
  auto r = boot_blk(transport(), "mode=check", {});
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: no virtio-blk on the command line or on PCI bus 0"),
            std::string::npos)
      << r.out;
}

INSTANTIATE_TEST_SUITE_P(Transport, VirtioBlkGuest, ::testing::Values("mmio", "pci"),
                         [](const auto& info) { return std::string(info.param); });

// virtio-pci with two disks: the guest moves both BARs (from above 4 GiB) to distinct
// places in the 32-bit window, and each disk answers at its own.
TEST(VirtioBlkGuestPci, GuestMovesBothBars) {
  VIREO_REQUIRE_KVM();
  Image a("pci-a"), b("pci-b");
  ASSERT_FALSE(a.path().empty());
  ASSERT_FALSE(b.path().empty());
  auto r = boot_blk("pci", "mode=check ring=3 disks=2",
                    {disk_arg(a, "pci-a"), disk_arg(b, "pci-b")});
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  const std::regex moved("virtio: pci 00:[0-9a-f]{2}\\.0 device 0x1042 \\(type 2\\): BAR 0 "
                         "\\(0x8000 bytes\\) moved from (0x[0-9a-f]+) to (0x[0-9a-f]+)");
  std::vector<uint64_t> after;
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), moved);
       it != std::sregex_iterator(); ++it) {
    EXPECT_GE(std::stoull((*it)[1].str(), nullptr, 16), 1ull << 32) << r.out;
    after.push_back(std::stoull((*it)[2].str(), nullptr, 16));
  }
  ASSERT_EQ(after.size(), 2u) << r.out;
  for (uint64_t at : after) {
    EXPECT_GE(at, 0xc0000000ull);
    EXPECT_LT(at, 0xd0000000ull);
  }
  EXPECT_NE(after[0], after[1]);
  expect_checked(r.out, "pci-a", false);
  expect_checked(r.out, "pci-b", false);
  expect_image(a, true, false);
  expect_image(b, true, false);
}

}  // namespace
}  // namespace vireo::test
