// Token buckets on an explicit clock: the first second's worth at once, then the rate;
// one-time bursts spent first; requests larger than the bucket go into debt; both
// buckets of a limiter are taken together or not at all.
#include "virtio/rate_limiter.h"

#include <gtest/gtest.h>

namespace vireo::virtio {
namespace {

constexpr uint64_t kMs = 1000000;

TEST(TokenBucket, UnlimitedAlwaysGives) {
  TokenBucket b;
  EXPECT_TRUE(b.unlimited());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.consume(1 << 30, 0));
  EXPECT_EQ(b.wait_ns(1 << 30, 0), 0u);
}

TEST(TokenBucket, FullAtStartThenTheRate) {
  TokenBucket b(100, 0, 0);  // 100 per second
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(b.consume(1, 0)) << i;
  EXPECT_FALSE(b.consume(1, 0));
  EXPECT_EQ(b.wait_ns(1, 0), 10 * kMs);
  EXPECT_FALSE(b.consume(1, 9 * kMs));
  EXPECT_TRUE(b.consume(1, 10 * kMs));
  // A second later the bucket is full again, never fuller.
  EXPECT_NEAR(b.available(2000 * kMs), 100.0, 1e-6);
}

TEST(TokenBucket, OneTimeBurstFirst) {
  TokenBucket b(10, 50, 0);
  EXPECT_TRUE(b.consume(60, 0));  // burst 50 + 10 of the bucket
  EXPECT_FALSE(b.consume(1, 0));
  // The burst does not come back.
  EXPECT_NEAR(b.available(10000 * kMs), 10.0, 1e-6);
}

TEST(TokenBucket, LargerThanTheBucketWaitsForFullThenOwes) {
  TokenBucket b(1000, 0, 0);
  EXPECT_TRUE(b.consume(500, 0));
  EXPECT_FALSE(b.consume(4000, 0));
  EXPECT_EQ(b.wait_ns(4000, 0), 500 * kMs);  // until full
  EXPECT_TRUE(b.consume(4000, 500 * kMs));  // 3000 in debt
  EXPECT_EQ(b.wait_ns(1, 500 * kMs), 3001 * kMs);
}

TEST(RateLimiter, BothBucketsOrNeither) {
  RateLimiter l({.bytes_per_second = 1000, .ops_per_second = 2}, 0);
  EXPECT_TRUE(l.limited());
  EXPECT_TRUE(l.consume(100, 0));
  EXPECT_TRUE(l.consume(100, 0));
  EXPECT_FALSE(l.consume(100, 0)) << "out of operations";
  EXPECT_EQ(l.wait_ns(100, 0), 500 * kMs);
  // The refused request took no bytes: 800 are still there.
  RateLimiter bytes_only({.bytes_per_second = 1000}, 0);
  EXPECT_TRUE(bytes_only.consume(800, 0));
  EXPECT_FALSE(bytes_only.consume(300, 0));
  EXPECT_TRUE(bytes_only.consume(200, 0));
  EXPECT_FALSE(RateLimiter().limited());
}

}  // namespace
}  // namespace vireo::virtio
