#include "util/state_codec.h"

#include <gtest/gtest.h>

namespace vireo {
namespace {

TEST(StateCodec, RoundTripsLittleEndian) {
  StateWriter w;
  w.u8(0x12);
  w.boolean(true);
  w.u16(0x3456);
  w.u32(0x789abcde);
  w.u64(0x0102030405060708);
  w.i64(-2);
  w.string("hi");
  auto bytes = w.take();
  ASSERT_EQ(bytes.size(), 1 + 1 + 2 + 4 + 8 + 8 + 4 + 2u);
  EXPECT_EQ(bytes[2], 0x56) << "little-endian";
  EXPECT_EQ(bytes[3], 0x34);
  StateReader r(bytes, "test state");
  EXPECT_EQ(*r.u8(), 0x12);
  EXPECT_TRUE(*r.boolean());
  EXPECT_EQ(*r.u16(), 0x3456);
  EXPECT_EQ(*r.u32(), 0x789abcdeu);
  EXPECT_EQ(*r.u64(), 0x0102030405060708u);
  EXPECT_EQ(*r.i64(), -2);
  EXPECT_EQ(*r.string(10), "hi");
  EXPECT_TRUE(r.finish().ok());
}

TEST(StateCodec, RefusesHostileInput) {
  std::vector<uint8_t> two = {1, 2};
  StateReader r(two, "test state");
  auto v = r.u32();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("test state is truncated"), std::string::npos);

  std::vector<uint8_t> notbool = {2};
  EXPECT_FALSE(StateReader(notbool, "s").boolean().ok());

  // A length prefix over the limit, and one past the end of the data.
  std::vector<uint8_t> huge = {0xff, 0xff, 0xff, 0xff, 1};
  EXPECT_FALSE(StateReader(huge, "s").bytes(1u << 30).ok());
  EXPECT_FALSE(StateReader(huge, "s").bytes(16).ok());

  std::vector<uint8_t> trailing = {7, 8};
  StateReader t(trailing, "s");
  ASSERT_TRUE(t.u8().ok());
  EXPECT_FALSE(t.finish().ok());
}

}  // namespace
}  // namespace vireo
