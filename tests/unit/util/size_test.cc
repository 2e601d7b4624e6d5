#include "util/size.h"

#include <gtest/gtest.h>

namespace vireo {
namespace {

TEST(ParseSize, Suffixes) {
  EXPECT_EQ(*parse_size("512M"), 512ull << 20);
  EXPECT_EQ(*parse_size("2G"), 2ull << 30);
  EXPECT_EQ(*parse_size("2g"), 2ull << 30);
  EXPECT_EQ(*parse_size("64K"), 64ull << 10);
  EXPECT_EQ(*parse_size("1T"), 1ull << 40);
  EXPECT_EQ(*parse_size("3GiB"), 3ull << 30);
  EXPECT_EQ(*parse_size("3GB"), 3ull << 30);
  EXPECT_EQ(*parse_size("4096B"), 4096u);
}

TEST(ParseSize, BareNumberUsesDefaultUnit) {
  EXPECT_EQ(*parse_size("4096"), 4096u);
  EXPECT_EQ(*parse_size("256", 1ull << 20), 256ull << 20);
}

TEST(ParseSize, Errors) {
  EXPECT_FALSE(parse_size("").ok());
  EXPECT_FALSE(parse_size("M").ok());
  EXPECT_FALSE(parse_size("12Q").ok());
  EXPECT_FALSE(parse_size("-1G").ok());
  EXPECT_FALSE(parse_size("1.5G").ok());
  EXPECT_FALSE(parse_size("99999999999999999999").ok());
  EXPECT_FALSE(parse_size("99999999999T").ok());
  auto r = parse_size("12Q");
  EXPECT_NE(r.error().message().find("12Q"), std::string::npos);
}

TEST(FormatSize, PicksLargestExactUnit) {
  EXPECT_EQ(format_size(512ull << 20), "512M");
  EXPECT_EQ(format_size(3ull << 30), "3G");
  EXPECT_EQ(format_size(1536), "1536");
  EXPECT_EQ(format_size(1536ull << 20), "1536M");
}

}  // namespace
}  // namespace vireo
