// --balloon size=SIZE[,deflate-on-oom=on][,stats=SECONDS]: parsing and checks.
#include <gtest/gtest.h>

#include "vmm/config.h"

namespace vireo::vmm {
namespace {

TEST(BalloonConfig, AllKeys) {
  auto b = parse_balloon("size=64M,deflate-on-oom=on,stats=5");
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ(b->size, 64ull << 20);
  EXPECT_TRUE(b->deflate_on_oom);
  EXPECT_EQ(b->stats_seconds, 5u);
  auto d = parse_balloon("size=0");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size, 0u);
  EXPECT_FALSE(d->deflate_on_oom);
  EXPECT_EQ(d->stats_seconds, 0u);
}

TEST(BalloonConfig, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {"stats=1", "size=SIZE is required"},
      {"size=lots", "size=lots is not a number"},
      {"size=1000", "not a multiple of 4 KiB"},
      {"size=1M,deflate-on-oom=yes", "must be on or off"},
      {"size=1M,stats=-1", "must be seconds"},
      {"size=1M,stats=99999", "must be seconds"},
      {"size=1M,pages=3", "unknown key 'pages'"},
  };
  for (auto [spec, msg] : cases) {
    auto b = parse_balloon(spec);
    ASSERT_FALSE(b.ok()) << spec;
    EXPECT_NE(b.error().message().find(msg), std::string::npos) << spec << ": " << b.error().message();
    EXPECT_EQ(b.error().message().rfind("--balloon: ", 0), 0u) << b.error().message();
  }
}

TEST(BalloonConfig, MustBeSmallerThanMemory) {
  VmConfig cfg;
  cfg.kernel_path = "k";
  cfg.memory = 256ull << 20;
  cfg.balloon = *parse_balloon("size=256M");
  auto v = validate(cfg);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("must be less than --memory"), std::string::npos);
  cfg.balloon = *parse_balloon("size=128M");
  EXPECT_TRUE(validate(cfg).ok());
}

}  // namespace
}  // namespace vireo::vmm
