// A snapshot's guest memory file: sparse (zero pages are holes), and mapped back private
// and copy-on-write, where a discard gives zeros, not the file's bytes.
#include "memory/memory_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/scratch_dir.h"
#include "util/unique_fd.h"

namespace vireo::memory {
namespace {

const std::vector<GuestMemory::RangeSpec> kRanges = {{0, 8 << 20}, {1ull << 32, 4 << 20}};

std::vector<uint8_t> pattern(uint8_t seed, size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

TEST(MemoryFile, HoldsEveryRegionWithZeroPagesAsHolesAndMapsBack) {
  test::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto mem = GuestMemory::create(kRanges);
  ASSERT_TRUE(mem.ok());
  const auto a = pattern(1, 3 * 4096 + 100), b = pattern(9, 4096);
  ASSERT_TRUE(mem->write(0x101000, a).ok());                    // low region, 4 pages
  ASSERT_TRUE(mem->write((1ull << 32) + (3 << 20), b).ok());    // high region, 1 page
  const std::string path = dir.path() + "/mem";
  auto stats = write_memory_file(*mem, path);
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->size, 12u << 20);
  EXPECT_EQ(stats->data_bytes, 5u * 4096);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 12u << 20);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 1u << 20) << "zero pages take no room";
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  auto back = GuestMemory::map_file(kRanges, fd.get());
  ASSERT_TRUE(back.ok()) << back.error().message();
  std::vector<uint8_t> got(a.size());
  ASSERT_TRUE(back->read(0x101000, got).ok());
  EXPECT_EQ(got, a);
  got.resize(b.size());
  ASSERT_TRUE(back->read((1ull << 32) + (3 << 20), got).ok());
  EXPECT_EQ(got, b);
  EXPECT_EQ(back->read_obj<uint64_t>(0x500000).value(), 0u);

  // Copy-on-write: the guest's writes stay in memory, the file keeps the snapshot.
  const auto c = pattern(42, 4096);
  ASSERT_TRUE(back->write(0x101000, c).ok());
  std::vector<uint8_t> in_file(4096);
  ASSERT_EQ(::pread(fd.get(), in_file.data(), in_file.size(), 0x101000), 4096);
  EXPECT_EQ(std::vector<uint8_t>(in_file.begin(), in_file.end()),
            std::vector<uint8_t>(a.begin(), a.begin() + 4096));
  // A discard (a balloon, a reset) leaves zeros, not the file's bytes.
  ASSERT_TRUE(back->discard(0x100000, 0x10000).ok());
  EXPECT_EQ(back->read_obj<uint64_t>(0x101000).value(), 0u);
  EXPECT_EQ(back->read_obj<uint64_t>(0x102000).value(), 0u);
  ASSERT_TRUE(back->write(0x101000, c).ok());  // and the pages are writable again
  EXPECT_EQ(back->read_obj<uint8_t>(0x101000).value(), c[0]);
}

TEST(MemoryFile, AFileSmallerThanTheGuestsMemoryIsRefused) {
  test::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto mem = GuestMemory::create({{0, 1 << 20}});
  ASSERT_TRUE(mem.ok());
  const std::string path = dir.path() + "/mem";
  ASSERT_TRUE(write_memory_file(*mem, path).ok());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto back = GuestMemory::map_file(kRanges, fd.get());
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.error().message().find("the memory file holds 1048576 bytes"), std::string::npos)
      << back.error().message();
}

TEST(MemoryFile, RewritingAFileLeavesNothingOfTheOldOne) {
  test::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  auto mem = GuestMemory::create({{0, 1 << 20}});
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(mem->write(0x2000, pattern(3, 4096)).ok());
  const std::string path = dir.path() + "/mem";
  ASSERT_TRUE(write_memory_file(*mem, path).ok());
  ASSERT_TRUE(mem->discard(0, 1 << 20).ok());
  ASSERT_TRUE(write_memory_file(*mem, path).ok());
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto back = GuestMemory::map_file({{0, 1 << 20}}, fd.get());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->read_obj<uint64_t>(0x2000).value(), 0u);
}

}  // namespace
}  // namespace vireo::memory
