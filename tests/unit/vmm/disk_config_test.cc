// --disk values: every key, defaults, and one clear error per mistake.
#include <gtest/gtest.h>

#include "vmm/config.h"

namespace vireo::vmm {
namespace {

TEST(DiskConfig, AllKeys) {
  auto d = parse_disk("path=/x.img,readonly=on,id=root,serial=S1,direct=on,bw=10M/s,bw_burst=1M,"
                      "ops=500,ops_burst=100",
                      3);
  ASSERT_TRUE(d.ok()) << d.error().message();
  EXPECT_EQ(d->path, "/x.img");
  EXPECT_TRUE(d->readonly);
  EXPECT_TRUE(d->direct);
  EXPECT_EQ(d->id, "root");
  EXPECT_EQ(d->serial, "S1");
  EXPECT_EQ(d->limit, (virtio::RateLimit{10 << 20, 1 << 20, 500, 100}));
}

TEST(DiskConfig, Defaults) {
  auto d = parse_disk("path=a b.img", 2);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->path, "a b.img");
  EXPECT_FALSE(d->readonly);
  EXPECT_FALSE(d->direct);
  EXPECT_EQ(d->id, "disk2");
  EXPECT_EQ(d->serial, "disk2");
  EXPECT_FALSE(d->limit.limited());
}

TEST(DiskConfig, Errors) {
  const std::pair<const char*, const char*> cases[] = {
      {"readonly=on", "path=FILE is required"},
      {"path=", "path= is empty"},
      {"path=x,file=y", "unknown key 'file'"},
      {"path=x,readonly", "'readonly' is not key=value"},
      {"path=x,readonly=yes", "readonly=yes must be on or off"},
      {"path=x,id=a/b", "id=a/b must be"},
      {"path=x,serial=123456789012345678901", "longer than 20 bytes"},
      {"path=x,bw=fast", "bw=fast is not a rate"},
      {"path=x,ops_burst=5", "a burst needs its rate"},
  };
  for (auto [spec, msg] : cases) {
    auto d = parse_disk(spec, 0);
    ASSERT_FALSE(d.ok()) << spec;
    EXPECT_NE(d.error().message().find(msg), std::string::npos) << spec << ": " << d.error().message();
    EXPECT_EQ(d.error().message().rfind("--disk: ", 0), 0u) << d.error().message();
  }
}

TEST(DiskConfig, IdsMustDiffer) {
  VmConfig cfg;
  cfg.kernel_path = "k";
  cfg.disks = {*parse_disk("path=a,id=x", 0), *parse_disk("path=b,id=x", 1)};
  auto v = validate(cfg);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message().find("id=x is used twice"), std::string::npos);
}

}  // namespace
}  // namespace vireo::vmm
