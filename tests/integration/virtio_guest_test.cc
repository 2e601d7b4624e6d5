// Drives vireo's virtio-rng (--rng) from the virtio_rng test guest (tests/guest/), whose
// own virtio-mmio driver finds the device on the command line, negotiates, sets up a split
// virtqueue and polls it; in ring 0 and in ring 3.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "support/vm_test.h"

namespace vireo::test {
namespace {

constexpr int kGuestPass = 1;  // exit value 0 through the debug-exit port
constexpr std::string_view kNeedsReset = "vireo: virtio-rng: device needs reset: ";

ProcessResult boot_rng(const std::string& cmdline, bool rng = true) {
  std::vector<std::string> args = {vireo_bin(), "run", "--kernel", guest("virtio_rng"),
                                   "--cmdline", cmdline};
  if (rng) args.push_back("--rng");
  return run_process(args, "", std::chrono::seconds(60));
}

size_t count(const std::string& haystack, std::string_view needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// Every request of mode=read was answered with the right length and checked.
void expect_read_requests(const std::string& out) {
  for (int r = 0; r < 10; ++r) {
    std::smatch m;
    const std::regex line("virtio_rng: request " + std::to_string(r) +
                          ": header \\d+ parts \\d+ \\d+ \\d+ -> used (\\d+) ok");
    ASSERT_TRUE(std::regex_search(out, m, line)) << "request " << r << "\n" << out;
  }
  // The capped requests: 100000 bytes asked in one buffer and 80000 in two give 64 KiB.
  EXPECT_NE(out.find("request 7: header 0 parts 100000 0 0 -> used 65536 ok"), std::string::npos)
      << out;
  EXPECT_NE(out.find("request 9: header 0 parts 40000 40000 0 -> used 65536 ok"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("request 8: header 16 parts 100 200 300 -> used 600 ok"), std::string::npos)
      << out;
  EXPECT_NE(out.find("virtio_rng: read ok"), std::string::npos) << out;
}

class VirtioGuestRing : public ::testing::TestWithParam<int> {
 protected:
  std::string ring() const { return " ring=" + std::to_string(GetParam()); }
};

TEST_P(VirtioGuestRing, ReadsRandomBytes) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng("mode=read" + ring());
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_rng: device at 0x"), std::string::npos) << r.out;
  // VERSION_1 only: the guest asks for nothing else.
  EXPECT_NE(r.out.find("features 0x100000000, queue 0 of 256 entries, status 0xf"),
            std::string::npos)
      << r.out;
  expect_read_requests(r.out);
  EXPECT_NE(r.out.find("checked in ring " + std::to_string(GetParam())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_P(VirtioGuestRing, WholeQueueInFlight) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng("mode=inflight rounds=3" + ring());
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_rng: inflight ok: 3 rounds of 256 chains, one kick each"),
            std::string::npos)
      << r.out;
  // vireo serves a queue on kicks only: all 256 chains were pending at once.
  EXPECT_NE(r.out.find("virtio_rng: used before the kick: 0"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

INSTANTIATE_TEST_SUITE_P(Ring, VirtioGuestRing, ::testing::Values(0, 3),
                         [](const auto& info) { return "Ring" + std::to_string(info.param); });

// A hostile driver: the device flags DEVICE_NEEDS_RESET once, uses nothing, and works
// again after the driver resets it and sets it up anew.
class VirtioGuestHostile : public ::testing::TestWithParam<const char*> {};

TEST_P(VirtioGuestHostile, NeedsResetThenRecovers) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng(std::string("mode=oob bad=") + GetParam());
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_EQ(count(r.err, kNeedsReset), 1u) << r.err;
  const std::string why = GetParam() == std::string("loop") ? "(a loop?)" : "is not in guest RAM";
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex("device needs reset \\(status (0x[0-9a-f]+)\\)")))
      << r.out;
  EXPECT_TRUE(std::stoul(m[1].str(), nullptr, 16) & 64) << r.out;
  EXPECT_NE(r.out.find("virtio_rng: reset, status 0"), std::string::npos) << r.out;
  expect_read_requests(r.out);
  EXPECT_NE(r.out.find("virtio_rng: recovered after the reset"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Bad, VirtioGuestHostile, ::testing::Values("addr", "loop"),
                         [](const auto& info) { return std::string(info.param); });

// Without --rng there is no device on the command line, and the guest says so.
TEST(VirtioGuest, NoDeviceWithoutRng) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng("mode=read", false);
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: no virtio-rng on the command line"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace vireo::test
