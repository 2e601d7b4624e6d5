// virtio-net behind the virtio-mmio transport, with its real I/O thread, over a small
// real guest memory; a datagram socket pair stands in for the tap (one frame per
// datagram, header included, as a tap with IFF_VNET_HDR delivers them).
#include "virtio/net.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <numeric>

#include "fake_virtio_device.h"
#include "test_driver.h"
#include "virtio/mmio_transport.h"

namespace vireo::virtio {
namespace {

using test::eventually;

constexpr uint64_t kVersion1 = feature::bit(feature::kVersion1);
constexpr uint64_t kMergeable = kVersion1 | feature::bit(netf::kMrgRxbuf);
constexpr size_t kHdr = net::Tap::kVnetHeaderSize;

static std::pair<UniqueFd, UniqueFd> socket_pair() {
  int sv[2] = {-1, -1};
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
  return {UniqueFd(sv[0]), UniqueFd(sv[1])};
}

struct NetFixture {
  explicit NetFixture(RateLimit rx_limit = {}, RateLimit tx_limit = {})
      : limit(rx_limit), tx_limit(tx_limit) {
    t->attach_irq(irq);
  }
  void bring_up(uint64_t features) {
    ASSERT_TRUE(regs.negotiate(features));
    regs.setup_queue(Net::kRxQueue, rx.size(), rx.desc_addr(), rx.avail_addr(), rx.used_addr());
    regs.setup_queue(Net::kTxQueue, tx.size(), tx.desc_addr(), tx.avail_addr(), tx.used_addr());
    regs.driver_ok();
    ASSERT_TRUE(t->active());
  }
  // A transmit chain of readable buffers {addr, len}.
  void transmit(const std::vector<std::pair<uint64_t, uint32_t>>& bufs) {
    std::vector<test::Buf> chain;
    for (auto [addr, len] : bufs) chain.push_back({addr, len, false});
    tx.add_chain(chain);
    regs.write(mmio::kQueueNotify, Net::kTxQueue);
  }
  uint16_t tx_used_idx() { return tx.used_idx(); }
  std::vector<uint8_t> host_receive() {
    std::vector<uint8_t> buf(70000);
    ssize_t n = -1;
    eventually([&] { return (n = ::recv(host.get(), buf.data(), buf.size(), 0)) >= 0; });
    buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return buf;
  }
  void host_send(const std::vector<uint8_t>& frame) {
    ASSERT_EQ(::send(host.get(), frame.data(), frame.size(), 0), static_cast<ssize_t>(frame.size()));
  }
  uint16_t post_rx(uint32_t len) {
    const uint64_t b = rx.alloc(len);
    const uint16_t h = rx.add_chain({{b, len, true}});
    rx_bufs[h] = b;
    return h;
  }
  void rx_kick() { regs.write(mmio::kQueueNotify, Net::kRxQueue); }
  std::vector<uint8_t> bytes(uint64_t addr, size_t n) {
    std::vector<uint8_t> v(n);
    EXPECT_TRUE(rx.mem().read(addr, v).ok());
    return v;
  }

  test::TestDriver rx{16, 0x400000};
  std::pair<UniqueFd, UniqueFd> fds = socket_pair();
  UniqueFd& host = fds.second;
  RateLimit limit, tx_limit;
  std::shared_ptr<Net> dev = std::make_shared<Net>(
      net::Tap::from_socket(std::move(fds.first), "test"), MacAddress{0x52, 0x54, 0, 0x12, 0x34, 0x56},
      limit, tx_limit);
  std::shared_ptr<MmioTransport> t = *MmioTransport::create(dev, rx.mem());
  std::shared_ptr<test::CountingIrq> irq = std::make_shared<test::CountingIrq>();
  test::MmioDriver regs{*t};
  test::ExtraQueue tx{rx};
  std::map<uint16_t, uint64_t> rx_bufs;
};

std::vector<uint8_t> frame(size_t payload, uint8_t seed) {
  std::vector<uint8_t> f(kHdr + payload);
  for (size_t i = 0; i < payload; ++i) f[kHdr + i] = static_cast<uint8_t>(seed + i * 13);
  f[0] = 1;  // VIRTIO_NET_HDR_F_NEEDS_CSUM: passed through untouched
  return f;
}

TEST(VirtioNet, ConfigHasTheMacAndLinkUp) {
  NetFixture f;
  EXPECT_EQ(f.regs.read(mmio::kDeviceId), 1u);
  EXPECT_EQ(f.regs.read(mmio::kConfig), 0x12005452u);
  EXPECT_EQ(f.regs.read(mmio::kConfig + 4), 0x00015634u);  // mac[4..5], status = LINK_UP
  EXPECT_TRUE(f.dev->offered_features() & feature::bit(netf::kMrgRxbuf));
}

TEST(VirtioNet, TransmitsFramesAsTheDriverLaidThemOut) {
  NetFixture f;
  f.bring_up(kMergeable);
  const auto fr = frame(1500, 3);
  const uint64_t a = f.rx.alloc(fr.size());
  ASSERT_TRUE(f.rx.mem().write(a, fr).ok());
  f.transmit({{a, kHdr}, {a + kHdr, 700}, {a + kHdr + 700, 800}});  // header apart, data in two
  EXPECT_EQ(f.host_receive(), fr);
  EXPECT_TRUE(eventually([&] { return f.tx_used_idx() == 1; }));
  EXPECT_EQ(f.dev->stats().tx_frames.load(), 1u);
  EXPECT_EQ(f.dev->stats().tx_bytes.load(), 1500u);
}

TEST(VirtioNet, ReceivesIntoOneBufferAndSetsNumBuffers) {
  NetFixture f;
  f.bring_up(kMergeable);
  const uint16_t h = f.post_rx(2048);
  f.rx_kick();
  const auto fr = frame(1000, 9);
  f.host_send(fr);
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 1; }));
  EXPECT_EQ(f.rx.used_elem(0), (std::pair<uint32_t, uint32_t>{h, fr.size()}));
  auto got = f.bytes(f.rx_bufs[h], fr.size());
  uint16_t num_buffers;
  std::memcpy(&num_buffers, got.data() + netf::kNumBuffersOffset, 2);
  EXPECT_EQ(num_buffers, 1);
  EXPECT_TRUE(std::equal(fr.begin() + kHdr, fr.end(), got.begin() + kHdr));
  EXPECT_EQ(got[0], 1);
}

TEST(VirtioNet, MergeableFrameSpansBuffers) {
  NetFixture f;
  f.bring_up(kMergeable);
  const uint16_t h1 = f.post_rx(1526), h2 = f.post_rx(1526), h3 = f.post_rx(1526);
  f.rx_kick();
  const auto fr = frame(3500, 1);  // 3512 bytes: three buffers
  f.host_send(fr);
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 3; }));
  EXPECT_EQ(f.rx.used_elem(0), (std::pair<uint32_t, uint32_t>{h1, 1526}));
  EXPECT_EQ(f.rx.used_elem(1), (std::pair<uint32_t, uint32_t>{h2, 1526}));
  EXPECT_EQ(f.rx.used_elem(2), (std::pair<uint32_t, uint32_t>{h3, 3512 - 2 * 1526}));
  std::vector<uint8_t> got;
  for (uint16_t h : {h1, h2, h3}) {
    auto b = f.bytes(f.rx_bufs[h], 1526);
    got.insert(got.end(), b.begin(), b.end());
  }
  got.resize(fr.size());
  uint16_t num_buffers;
  std::memcpy(&num_buffers, got.data() + netf::kNumBuffersOffset, 2);
  EXPECT_EQ(num_buffers, 3);
  EXPECT_TRUE(std::equal(fr.begin() + kHdr, fr.end(), got.begin() + kHdr));
}

TEST(VirtioNet, FrameWaitsForBuffersThenArrives) {
  NetFixture f;
  f.bring_up(kMergeable);
  const auto fr = frame(3000, 5);
  f.host_send(fr);
  const uint16_t h1 = f.post_rx(1526);  // not enough for the frame: it must wait
  f.rx_kick();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(f.rx.used_idx(), 0);
  const uint16_t h2 = f.post_rx(1526);
  f.rx_kick();
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 2; }));
  EXPECT_EQ(f.rx.used_elem(0).first, h1);
  EXPECT_EQ(f.rx.used_elem(1).first, h2);
  EXPECT_EQ(f.dev->stats().rx_frames.load(), 1u);
}

// Receive kicks are wanted only while the device has no buffer (VIRTQ_USED_F_NO_NOTIFY in
// the used ring's flags otherwise): a driver refilling its ring costs no exit.
TEST(VirtioNet, ReceiveKicksAreAskedForOnlyWhenBuffersRunOut) {
  NetFixture f;
  f.bring_up(kMergeable);
  auto used_flags = [&] { return *f.rx.mem().read_obj<uint16_t>(f.rx.used_addr()); };
  EXPECT_EQ(used_flags(), 0) << "kicks wanted before the first buffer";
  for (int i = 0; i < 2; ++i) f.post_rx(2048);
  f.rx_kick();
  f.host_send(frame(100, 1));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 1; }));
  EXPECT_EQ(used_flags(), 1) << "a buffer left: no kicks needed";
  f.host_send(frame(100, 2));
  f.host_send(frame(100, 3));  // no buffer for this one: kicks wanted again
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 2 && used_flags() == 0; }));
  f.post_rx(2048);
  f.rx_kick();
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 3; }));
  EXPECT_EQ(used_flags(), 1);
  // A buffer posted without a kick while kicks are off is found when the next frame comes.
  f.post_rx(2048);
  f.host_send(frame(100, 4));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 4; }));
  EXPECT_EQ(f.dev->stats().rx_frames.load(), 4u);
}

TEST(VirtioNet, TooSmallBufferWithoutMergeableDropsTheFrame) {
  NetFixture f;
  f.bring_up(kVersion1);
  const uint16_t h = f.post_rx(100);
  f.rx_kick();
  f.host_send(frame(1000, 2));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 1; }));
  EXPECT_EQ(f.rx.used_elem(0), (std::pair<uint32_t, uint32_t>{h, 0}));
  EXPECT_EQ(f.dev->stats().rx_dropped.load(), 1u);
  // The next frame that fits gets through.
  const uint16_t h2 = f.post_rx(2000);
  f.rx_kick();
  f.host_send(frame(500, 4));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 2; }));
  EXPECT_EQ(f.rx.used_elem(1), (std::pair<uint32_t, uint32_t>{h2, kHdr + 500}));
}

TEST(VirtioNet, MalformedTransmitIsDroppedAndTheDeviceGoesOn) {
  NetFixture f;
  f.bring_up(kMergeable);
  const uint64_t a = f.rx.alloc(64);
  f.transmit({{a, 8}});  // shorter than the header
  ASSERT_TRUE(eventually([&] { return f.tx_used_idx() == 1; }));
  EXPECT_EQ(f.dev->stats().tx_dropped.load(), 1u);
  const auto fr = frame(60, 7);
  const uint64_t b = f.rx.alloc(fr.size());
  ASSERT_TRUE(f.rx.mem().write(b, fr).ok());
  f.transmit({{b, static_cast<uint32_t>(fr.size())}});
  EXPECT_EQ(f.host_receive(), fr);
  EXPECT_EQ(f.regs.status() & status::kDeviceNeedsReset, 0u);
}

TEST(VirtioNet, ReceiveRateLimitHoldsFramesBackUntilTokensReturn) {
  // Two frames a second (the bucket holds one second's worth): of five frames sent at
  // once, two arrive now and the rest as tokens come back; none is lost.
  NetFixture f(RateLimit{.ops_per_second = 2});
  f.bring_up(kMergeable);
  for (int i = 0; i < 8; ++i) f.post_rx(2048);
  f.rx_kick();
  for (uint8_t i = 0; i < 5; ++i) f.host_send(frame(100, i));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(f.rx.used_idx(), 2) << "the third frame waits for its token";
  EXPECT_GT(f.dev->stats().throttled.load(), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  ASSERT_TRUE(eventually([&] { return f.rx.used_idx() == 5; }));
  EXPECT_EQ(f.dev->stats().rx_frames.load(), 5u);
  for (uint16_t n = 0; n < 5; ++n) {
    auto got = f.bytes(f.rx_bufs[f.rx.used_elem(n).first] + kHdr, 100);
    EXPECT_EQ(got[0], static_cast<uint8_t>(n)) << "frames arrive in order";
  }
}

// Each direction has its own limit: a slow transmit limit leaves receiving alone, and a
// limit changed on the live device (paused around it, as the VMM does) lets what waited go.
TEST(VirtioNet, EachDirectionHasItsLimitAndBothChangeLive) {
  // 100 bytes a second: a 1000-byte frame leaves the bucket 9 s in debt.
  NetFixture f(RateLimit{.bytes_per_second = 100}, RateLimit{.bytes_per_second = 100});
  f.bring_up(kMergeable);
  const auto fr = frame(1000, 9);
  const uint64_t a = f.rx.alloc(fr.size());
  ASSERT_TRUE(f.rx.mem().write(a, fr).ok());
  for (int i = 0; i < 3; ++i) f.transmit({{a, static_cast<uint32_t>(fr.size())}});
  for (int i = 0; i < 4; ++i) f.post_rx(2048);
  f.rx_kick();
  for (uint8_t i = 0; i < 3; ++i) f.host_send(frame(1000, i));
  ASSERT_TRUE(eventually([&] { return f.tx_used_idx() == 1 && f.rx.used_idx() == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(f.tx_used_idx(), 1) << "transmit frames wait for tokens";
  EXPECT_EQ(f.rx.used_idx(), 1) << "received frames wait for tokens";

  // Receive unlimited, transmit as it was.
  f.dev->pause();
  ASSERT_TRUE(f.dev->set_rate_limits(RateLimit{}, std::nullopt).ok());
  f.dev->resume();
  EXPECT_TRUE(eventually([&] { return f.rx.used_idx() == 3; })) << "the new receive limit";
  EXPECT_EQ(f.tx_used_idx(), 1) << "the transmit limit stayed";
  EXPECT_EQ(f.dev->rx_limit(), RateLimit{});
  EXPECT_EQ(f.dev->tx_limit(), (RateLimit{.bytes_per_second = 100}));

  f.dev->pause();
  ASSERT_TRUE(f.dev->set_rate_limits(std::nullopt, RateLimit{.ops_per_second = 1000}).ok());
  f.dev->resume();
  EXPECT_TRUE(eventually([&] { return f.tx_used_idx() == 3; })) << "the new transmit limit";
  EXPECT_EQ(f.dev->stats().tx_frames.load(), 3u);
  EXPECT_EQ(f.dev->stats().rx_frames.load(), 3u);
}

// A transmit limit alone does not hold back what the guest receives.
TEST(VirtioNet, TransmitLimitLeavesReceiveAlone) {
  NetFixture f(RateLimit{}, RateLimit{.ops_per_second = 1});
  f.bring_up(kMergeable);
  for (int i = 0; i < 5; ++i) f.post_rx(2048);
  f.rx_kick();
  for (uint8_t i = 0; i < 5; ++i) f.host_send(frame(100, i));
  EXPECT_TRUE(eventually([&] { return f.rx.used_idx() == 5; }));
  EXPECT_EQ(f.dev->stats().throttled.load(), 0u);
}

// CPU time of this process (all its threads) in seconds.
double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A device that cannot deliver (it needs a reset) must stop watching the tap: frames
// waiting there would otherwise wake its I/O thread over and over (the tap is
// level-triggered), a host core spinning until the driver resets the device.
TEST(VirtioNet, BrokenDeviceDoesNotSpinOnAReadableTap) {
  NetFixture f;
  f.bring_up(kVersion1);
  f.rx.add_chain({{uint64_t{1} << 40, 2048, true}});  // outside guest memory
  f.rx_kick();
  f.host_send(frame(100, 1));
  ASSERT_TRUE(eventually([&] { return (f.regs.status() & status::kDeviceNeedsReset) != 0; }));
  f.host_send(frame(100, 2));  // stays in the tap
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(cpu_seconds() - before, 0.1) << "the I/O thread spins on the readable tap";
}

// The same while the receive queue is not live (a driver that only transmits).
TEST(VirtioNet, NoReceiveQueueDoesNotSpinOnAReadableTap) {
  NetFixture f;
  ASSERT_TRUE(f.regs.negotiate(kVersion1));
  f.regs.setup_queue(Net::kTxQueue, f.tx.size(), f.tx.desc_addr(), f.tx.avail_addr(),
                     f.tx.used_addr());
  f.regs.driver_ok();
  ASSERT_TRUE(f.t->active());
  f.host_send(frame(100, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_LT(cpu_seconds() - before, 0.1) << "the I/O thread spins on the readable tap";
  // Transmitting still works.
  const auto fr = frame(60, 7);
  const uint64_t b = f.rx.alloc(fr.size());
  ASSERT_TRUE(f.rx.mem().write(b, fr).ok());
  f.transmit({{b, static_cast<uint32_t>(fr.size())}});
  EXPECT_EQ(f.host_receive(), fr);
}

TEST(VirtioNet, Macs) {
  EXPECT_EQ(format_mac(*parse_mac("52:54:00:AB:cd:0f")), "52:54:00:ab:cd:0f");
  EXPECT_FALSE(parse_mac("52:54:00:ab:cd").ok());
  EXPECT_FALSE(parse_mac("52-54-00-ab-cd-0f").ok());
  EXPECT_FALSE(parse_mac("01:00:5e:00:00:01").ok()) << "multicast";
  const auto m = derived_mac("net0", "tap0");
  EXPECT_EQ(m, derived_mac("net0", "tap0")) << "stable";
  EXPECT_NE(m, derived_mac("net1", "tap0"));
  EXPECT_EQ(m[0] & 3, 2) << "locally administered unicast";
}

}  // namespace
}  // namespace vireo::virtio
