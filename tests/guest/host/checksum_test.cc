// The ring-3 guest's checksum (tests/guest/common/checksum.h), computed on the host.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "checksum.h"

namespace {

TEST(GuestChecksum, StreamingMatchesBuffer) {
  for (size_t words : {0u, 1u, 2u, 7u, 4096u}) {
    std::vector<uint64_t> buf(words);
    vireo_fill(buf.data(), buf.size());
    EXPECT_EQ(vireo_checksum(buf.data(), buf.size()), vireo_checksum_expected(words * 8))
        << words;
  }
}

TEST(GuestChecksum, SeesEveryBitAndTheLength) {
  std::vector<uint64_t> buf(1024);
  vireo_fill(buf.data(), buf.size());
  const uint64_t base = vireo_checksum(buf.data(), buf.size());
  for (size_t word : {size_t{0}, size_t{511}, size_t{1023}}) {
    for (int bit : {0, 31, 63}) {
      buf[word] ^= uint64_t{1} << bit;
      EXPECT_NE(vireo_checksum(buf.data(), buf.size()), base) << word << ":" << bit;
      buf[word] ^= uint64_t{1} << bit;
    }
  }
  EXPECT_NE(vireo_checksum(buf.data(), buf.size() - 1), base);
}

// Values printed by ring3.elf (`ring3: checksum=...`), pinned so that a change to the
// algorithm is a deliberate one (the guest and this header must change together).
TEST(GuestChecksum, KnownValues) {
  EXPECT_EQ(vireo_checksum_expected(0), 0xecba3df2c3383c52ull);
  EXPECT_EQ(vireo_checksum_expected(1ull << 20), 0x0400a05660976f3dull);   // mb=1
  EXPECT_EQ(vireo_checksum_expected(64ull << 20), 0x6cc417ef55486594ull);  // mb=64
}

}  // namespace
