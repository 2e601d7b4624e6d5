// Drives vireo's virtio-rng (--rng) from the virtio_rng test guest (tests/guest/), whose
// own drivers find the device (virtio-mmio: on the command line; virtio-pci: on PCI bus 0,
// moving its BAR into the 32-bit window), negotiate, set up a split virtqueue and poll
// it; in ring 0 and in ring 3, on both of vireo's transports (--transport mmio|pci).
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "support/vm_test.h"

namespace vireo::test {
namespace {

constexpr int kGuestPass = 1;  // exit value 0 through the debug-exit port
constexpr std::string_view kNeedsReset = "vireo: virtio-rng: device needs reset: ";

ProcessResult boot_rng(const std::string& transport, const std::string& cmdline,
                       bool rng = true) {
  std::vector<std::string> args = {vireo_bin(), "run",       "--kernel", guest("virtio_rng"),
                                   "--cmdline",  cmdline,     "--transport", transport};
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

// Parameters: the transport, the ring the queue loops run in.
class VirtioGuestRing : public ::testing::TestWithParam<std::tuple<const char*, int>> {
 protected:
  std::string transport() const { return std::get<0>(GetParam()); }
  int ring_number() const { return std::get<1>(GetParam()); }
  std::string ring() const { return " ring=" + std::to_string(ring_number()); }
};

TEST_P(VirtioGuestRing, ReadsRandomBytes) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng(transport(), "mode=read" + ring());
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_rng: device at 0x"), std::string::npos) << r.out;
  // VERSION_1 only: the guest asks for nothing else.
  EXPECT_NE(r.out.find("features 0x100000000, queue 0 of 256 entries, status 0xf"),
            std::string::npos)
      << r.out;
  expect_read_requests(r.out);
  EXPECT_NE(r.out.find("virtio-" + transport() + " "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checked in ring " + std::to_string(ring_number())), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_P(VirtioGuestRing, WholeQueueInFlight) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng(transport(), "mode=inflight rounds=3" + ring());
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_NE(r.out.find("virtio_rng: inflight ok: 3 rounds of 256 chains, one kick each"),
            std::string::npos)
      << r.out;
  // vireo serves a queue on kicks only: all 256 chains were pending at once.
  EXPECT_NE(r.out.find("virtio_rng: used before the kick: 0"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

INSTANTIATE_TEST_SUITE_P(Ring, VirtioGuestRing,
                         ::testing::Combine(::testing::Values("mmio", "pci"),
                                            ::testing::Values(0, 3)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "Ring" +
                                  std::to_string(std::get<1>(info.param));
                         });

// A hostile driver: the device flags DEVICE_NEEDS_RESET once, uses nothing, and works
// again after the driver resets it and sets it up anew.
// Parameters: the transport, bad=.
class VirtioGuestHostile : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(VirtioGuestHostile, NeedsResetThenRecovers) {
  VIREO_REQUIRE_KVM();
  const std::string bad = std::get<1>(GetParam());
  auto r = boot_rng(std::get<0>(GetParam()), "mode=oob bad=" + bad);
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  EXPECT_EQ(count(r.err, kNeedsReset), 1u) << r.err;
  const std::string why = bad == "loop" ? "(a loop?)" : "is not in guest RAM";
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

INSTANTIATE_TEST_SUITE_P(Bad, VirtioGuestHostile,
                         ::testing::Combine(::testing::Values("mmio", "pci"),
                                            ::testing::Values("addr", "loop")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  std::get<1>(info.param);
                         });

class VirtioGuest : public ::testing::TestWithParam<const char*> {};

// Without --rng there is no device, on the command line or on PCI bus 0, and the guest
// says so.
TEST_P(VirtioGuest, NoDeviceWithoutRng) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng(GetParam(), "mode=read", false);
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: no virtio-rng on the command line or on PCI bus 0"),
            std::string::npos)
      << r.out;
}

// `transport=` on the guest command line: the other transport finds nothing.
TEST_P(VirtioGuest, GuestLooksOnlyWhereTold) {
  VIREO_REQUIRE_KVM();
  const std::string other = GetParam() == std::string("pci") ? "mmio" : "pci";
  auto r = boot_rng(GetParam(), "mode=read ring=3 transport=" + other);
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: no virtio-rng"), std::string::npos) << r.out;
  r = boot_rng(GetParam(), "mode=read ring=3 transport=" + std::string(GetParam()));
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Transport, VirtioGuest, ::testing::Values("mmio", "pci"),
                         [](const auto& info) { return std::string(info.param); });

// virtio-pci: vireo puts BAR 0 above 4 GiB, beyond the guest's identity map; the guest
// moves it into the 32-bit window (decoding off, new address, decoding and bus mastering
// on), as an OS re-assigning resources does. vireo must route the BAR and the queue's
// notification address (its ioeventfd) from the new place: the requests complete.
TEST(VirtioGuestPci, GuestMovesBarZeroAndKicksStillWork) {
  VIREO_REQUIRE_KVM();
  auto r = boot_rng("pci", "mode=inflight rounds=2 ring=3");
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m,
      std::regex("virtio: pci 00:([0-9a-f]{2})\\.0 device 0x1044 \\(type 4\\): BAR 0 "
                 "\\(0x8000 bytes\\) moved from (0x[0-9a-f]+) to (0x[0-9a-f]+)")))
      << r.out;
  const uint64_t before = std::stoull(m[2].str(), nullptr, 16);
  const uint64_t after = std::stoull(m[3].str(), nullptr, 16);
  EXPECT_GE(before, 1ull << 32) << r.out;  // where vireo placed it: the 64-bit window
  EXPECT_GE(after, 0xc0000000ull) << r.out;
  EXPECT_LT(after, 0xd0000000ull) << r.out;
  EXPECT_EQ(after % 0x8000, 0u) << r.out;
  EXPECT_NE(r.out.find("virtio_rng: device at " + m[3].str() + " size 0x8000, virtio-pci"),
            std::string::npos)
      << r.out;
  // Every chain came back after one kick per round, at the moved notification address.
  EXPECT_NE(r.out.find("virtio_rng: inflight ok: 2 rounds of 256 chains, one kick each"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace vireo::test
