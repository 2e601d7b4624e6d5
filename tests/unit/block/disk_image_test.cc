// DiskImage on real files: locking against a second user, errors that name the file,
// positional I/O with short-transfer handling, O_DIRECT with its cached fallback for
// unaligned requests, discard and write-zeroes.
#include "block/disk_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

namespace vireo::block {
namespace {

class TempImage {
 public:
  explicit TempImage(uint64_t size) {
    char name[] = "/var/tmp/vireo-disk-test-XXXXXX";
    const int fd = ::mkstemp(name);
    EXPECT_GE(fd, 0);
    path_ = name;
    std::vector<uint8_t> data(size, 0xab);
    EXPECT_EQ(::pwrite(fd, data.data(), size, 0), static_cast<ssize_t>(size));
    ::close(fd);
  }
  ~TempImage() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(DiskImage, OpensAndKnowsItsSize) {
  TempImage img(64 << 10);
  auto d = DiskImage::open(img.path(), {});
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->size(), 64u << 10);
  EXPECT_FALSE(d->readonly());
  EXPECT_FALSE(d->is_block_device());
}

TEST(DiskImage, ErrorsNameTheFileAndTheCause) {
  auto missing = DiskImage::open("/nonexistent/disk.img", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("'/nonexistent/disk.img'"), std::string::npos);
  EXPECT_NE(missing.error().message().find("No such file"), std::string::npos);
  auto dir = DiskImage::open("/var/tmp", {});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("directory"), std::string::npos) << dir.error().message();
  auto chr = DiskImage::open("/dev/null", {});
  ASSERT_FALSE(chr.ok());
  EXPECT_NE(chr.error().message().find("neither a regular file nor a block device"), std::string::npos);
  // A FIFO (with no writer) is refused at once, not waited on: PATCH /drives opens the
  // new file on the VMM's main thread.
  const std::string fifo = "/tmp/vireo-disk-fifo-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = DiskImage::open(fifo, {.readonly = true});
  ::unlink(fifo.c_str());
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message().find("neither a regular file nor a block device"), std::string::npos)
      << f.error().message();
  TempImage odd(1000);
  auto o = DiskImage::open(odd.path(), {});
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message().find("512-byte sectors"), std::string::npos);
}

TEST(DiskImage, AWriterExcludesEveryoneElseReadersShare) {
  TempImage img(4096);
  {
    auto w = DiskImage::open(img.path(), {});
    ASSERT_TRUE(w.ok());
    auto w2 = DiskImage::open(img.path(), {});
    ASSERT_FALSE(w2.ok());
    EXPECT_NE(w2.error().message().find("in use by another process"), std::string::npos);
    EXPECT_FALSE(DiskImage::open(img.path(), {.readonly = true}).ok());
  }
  // The writer is gone: two readers share, and keep a writer out.
  auto r1 = DiskImage::open(img.path(), {.readonly = true});
  auto r2 = DiskImage::open(img.path(), {.readonly = true});
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(DiskImage::open(img.path(), {}).ok());
}

TEST(DiskImage, ReadsAndWritesScatteredBuffers) {
  TempImage img(16 << 10);
  auto d = *DiskImage::open(img.path(), {});
  std::vector<uint8_t> a(100, 1), b(412, 2);
  iovec out[] = {{a.data(), a.size()}, {b.data(), b.size()}};
  ASSERT_TRUE(d.write(out, 1024).ok());
  std::vector<uint8_t> back(512);
  iovec in[] = {{back.data(), back.size()}};
  ASSERT_TRUE(d.read(in, 1024).ok());
  EXPECT_EQ(std::vector<uint8_t>(back.begin(), back.begin() + 100), a);
  EXPECT_EQ(std::vector<uint8_t>(back.begin() + 100, back.end()), b);
  // Nothing past the end.
  EXPECT_FALSE(d.read(in, (16 << 10) - 511).ok());
  EXPECT_FALSE(d.write(in, ~uint64_t{0} - 10).ok());
  ASSERT_TRUE(d.flush().ok());
}

TEST(DiskImage, ReadOnlyRefusesEveryChange) {
  TempImage img(8192);
  auto d = *DiskImage::open(img.path(), {.readonly = true});
  std::vector<uint8_t> buf(512, 9);
  iovec v[] = {{buf.data(), buf.size()}};
  EXPECT_FALSE(d.write(v, 0).ok());
  EXPECT_FALSE(d.discard(0, 4096).ok());
  EXPECT_FALSE(d.write_zeroes(0, 4096, false).ok());
  ASSERT_TRUE(d.read(v, 0).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(512, 0xab));
}

TEST(DiskImage, DirectIoAlignedAndUnaligned) {
  TempImage img(64 << 10);
  auto d = DiskImage::open(img.path(), {.direct = true});
  ASSERT_TRUE(d.ok()) << d.error().message();
  // Aligned: goes through O_DIRECT.
  auto aligned = std::unique_ptr<uint8_t, decltype(&std::free)>(
      static_cast<uint8_t*>(std::aligned_alloc(4096, 8192)), &std::free);
  std::fill(aligned.get(), aligned.get() + 8192, 0x11);
  iovec a[] = {{aligned.get(), 8192}};
  ASSERT_TRUE(d->write(a, 4096).ok());
  // Unaligned buffer, offset and length: the cached descriptor.
  std::vector<uint8_t> odd(512 + 1);
  iovec u[] = {{odd.data() + 1, 512}};
  ASSERT_TRUE(d->read(u, 4096 + 512).ok());
  EXPECT_EQ(std::vector<uint8_t>(odd.begin() + 1, odd.end()), std::vector<uint8_t>(512, 0x11));
  std::fill(odd.begin(), odd.end(), 0x22);
  ASSERT_TRUE(d->write(u, 512).ok());
  ASSERT_TRUE(d->read(a, 0).ok());
  EXPECT_EQ(aligned.get()[511], 0xab);
  EXPECT_EQ(aligned.get()[512], 0x22);
  EXPECT_EQ(aligned.get()[4096], 0x11);
}

TEST(DiskImage, DiscardAndWriteZeroes) {
  TempImage img(256 << 10);
  auto d = *DiskImage::open(img.path(), {});
  struct stat before {};
  ::stat(img.path().c_str(), &before);
  ASSERT_TRUE(d.discard(64 << 10, 128 << 10).ok());
  struct stat after {};
  ::stat(img.path().c_str(), &after);
  EXPECT_LE((after.st_blocks + 256) * 512, static_cast<uint64_t>(before.st_blocks) * 512)
      << "128 KiB given back";
  EXPECT_EQ(after.st_size, before.st_size);
  std::vector<uint8_t> buf(512, 1);
  iovec v[] = {{buf.data(), buf.size()}};
  ASSERT_TRUE(d.read(v, 64 << 10).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(512, 0));
  ASSERT_TRUE(d.write_zeroes(512, 1024, false).ok());
  ASSERT_TRUE(d.read(v, 1024).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(512, 0));
  ASSERT_TRUE(d.read(v, 1536).ok());
  EXPECT_EQ(buf, std::vector<uint8_t>(512, 0xab));
  EXPECT_FALSE(d.discard(200 << 10, 100 << 10).ok()) << "past the end";
}

}  // namespace
}  // namespace vireo::block
