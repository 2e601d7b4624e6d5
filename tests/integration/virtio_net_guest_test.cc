// Drives vireo's virtio-net (--net tap=NAME) from the virtio_net test guest
// (tests/guest/), whose own drivers (virtio-mmio or virtio-pci: every test runs on both of
// vireo's transports) send and receive raw Ethernet frames (tests/guest/common/
// net_frame.h). The test owns the tap, in a network namespace of its own, and an
// AF_PACKET socket on it: it checks every frame the guest sent, byte for byte, and
// injects the frames the guest checks.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "guest/common/net_frame.h"
#include "support/net_namespace.h"
#include "support/vm_test.h"

namespace vireo::test {
namespace {

constexpr int kGuestPass = 1;  // exit value 0 through the debug-exit port
constexpr const char* kMacText = "52:54:00:12:34:56";
constexpr uint8_t kGuestMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
constexpr uint8_t kHostMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};  // NET_HOST_MAC
constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The frames waiting on the socket (what the guest sent).
std::vector<std::vector<uint8_t>> drain(int fd) {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint8_t> buf(65536);
  for (;;) {
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) break;
    frames.emplace_back(buf.begin(), buf.begin() + n);
  }
  return frames;
}

// Frame `seq` of mode=check's receive side, `corrupt` flipping a payload byte.
bool inject(int fd, uint32_t seq, bool corrupt = false) {
  std::vector<uint8_t> f(net_check_size(seq));
  net_frame_fill(f.data(), static_cast<uint32_t>(f.size()), seq, NET_DIR_RX, kGuestMac, kHostMac);
  if (corrupt) f[NET_PAYLOAD_AT + 5] ^= 0x10;
  return ::send(fd, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size());
}

class VirtioNetGuest : public ::testing::TestWithParam<const char*> {
 protected:
  std::string transport() const { return GetParam(); }
  std::vector<std::string> vireo(const NetNamespace& ns, const std::string& cmdline) const {
    return ns.exec({vireo_bin(), "run", "--kernel", guest("virtio_net"), "--transport",
                    transport(), "--net", "tap=" + ns.tap() + ",mac=" + kMacText, "--cmdline",
                    cmdline});
  }
};

// mode=check: the guest's 16 frames arrive on the tap whole and in order; the 16 the test
// injects once the guest has buffers reach it whole (the guest checks them).
TEST_P(VirtioNetGuest, FramesBothWaysChecked) {
  VIREO_REQUIRE_KVM();
  NetNamespace ns("vntap0");
  ASSERT_TRUE(ns.ok()) << "could not make a network namespace with a tap (root needed)";
  Fd sock(ns.packet_socket(NET_ETHERTYPE));
  ASSERT_GE(sock.get(), 0);
  Process vm(vireo(ns, "mode=check"));
  ASSERT_TRUE(vm.wait_for_output("virtio_net: rx ready", std::chrono::seconds(30))) << vm.out();
  uint64_t injected = 0;
  for (uint32_t seq = 0; seq < NET_CHECK_FRAMES; ++seq) {
    ASSERT_TRUE(inject(sock.get(), seq)) << seq;
    injected += net_check_size(seq);
  }
  auto r = vm.wait(std::chrono::seconds(30));
  EXPECT_EQ(r.exit_status, kGuestPass) << r.out << r.err;
  // VERSION_1 and MAC only.
  EXPECT_NE(r.out.find("(virtio-" + transport() + "): features 0x100000020, queues of 256 and "
                       "256 entries, status 0xf"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(std::string("virtio_net: mac ") + kMacText), std::string::npos) << r.out;
  uint64_t sent = 0;
  for (uint32_t seq = 0; seq < NET_CHECK_FRAMES; ++seq) sent += net_check_size(seq);
  EXPECT_NE(r.out.find("virtio_net: tx ok: 16 frames, " + std::to_string(sent) + " bytes"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("virtio_net: rx ok: 16 frames, " + std::to_string(injected) +
                       " bytes checked"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;

  const auto frames = drain(sock.get());
  ASSERT_EQ(frames.size(), static_cast<size_t>(NET_CHECK_FRAMES));
  for (uint32_t seq = 0; seq < NET_CHECK_FRAMES; ++seq) {
    const auto& f = frames[seq];
    EXPECT_EQ(f.size(), net_check_size(seq)) << "frame " << seq;
    uint32_t at = 0;
    const char* bad = net_frame_check(f.data(), static_cast<uint32_t>(f.size()), seq, NET_DIR_TX,
                                      kBroadcast, kGuestMac, &at);
    EXPECT_EQ(bad, nullptr) << "frame " << seq << ": " << bad << " at byte " << at;
  }
}

// The guest notices a damaged frame: its receive check is not a formality.
TEST_P(VirtioNetGuest, DamagedFrameFailsTheGuest) {
  VIREO_REQUIRE_KVM();
  NetNamespace ns("vntap0");
  ASSERT_TRUE(ns.ok());
  Fd sock(ns.packet_socket(NET_ETHERTYPE));
  ASSERT_GE(sock.get(), 0);
  Process vm(vireo(ns, "mode=check"));
  ASSERT_TRUE(vm.wait_for_output("virtio_net: rx ready", std::chrono::seconds(30))) << vm.out();
  ASSERT_TRUE(inject(sock.get(), 0));
  ASSERT_TRUE(inject(sock.get(), 1, /*corrupt=*/true));
  auto r = vm.wait(std::chrono::seconds(30));
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: rx: frame 1: payload: "), std::string::npos) << r.out;
}

// The bench loops, short (bench/net_guest_bench.sh times them): the guest's frames all
// reach the tap, valid; the test's frames, sent as fast as it can, are counted.
TEST_P(VirtioNetGuest, BenchModesRun) {
  VIREO_REQUIRE_KVM();
  NetNamespace ns("vntap0");
  ASSERT_TRUE(ns.ok());
  Fd sock(ns.packet_socket(NET_ETHERTYPE));
  ASSERT_GE(sock.get(), 0);
  int big = 64 << 20;  // all the frames the guest sends wait here until the VM is done
  ASSERT_EQ(::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big), 0);

  auto tx = run_process(vireo(ns, "mode=bench dir=tx frames=3000 size=1514"), "",
                        std::chrono::seconds(60));
  EXPECT_EQ(tx.exit_status, kGuestPass) << tx.out << tx.err;
  EXPECT_NE(tx.out.find("virtio_net: bench-start"), std::string::npos) << tx.out;
  EXPECT_NE(tx.out.find("virtio_net: bench-end frames=3000 bytes=4542000 "), std::string::npos)
      << tx.out;
  const auto frames = drain(sock.get());
  EXPECT_EQ(frames.size(), 3000u);
  for (const auto& f : frames) {
    ASSERT_EQ(f.size(), 1514u);
    const uint32_t seq = net_get32(f.data() + 14);  // the slot the frame was sent from
    ASSERT_LT(seq, 256u);
    uint32_t at = 0;
    const char* bad = net_frame_check(f.data(), 1514, seq, NET_DIR_TX, kBroadcast, kGuestMac, &at);
    ASSERT_EQ(bad, nullptr) << bad << " at byte " << at;
  }

  // Receive: frames of 60 bytes until the guest has counted 3000 (the tap drops what does
  // not fit its queue).
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::vector<uint8_t> f(60);
    for (uint32_t seq = 0; !stop.load(std::memory_order_relaxed); ++seq) {
      net_frame_fill(f.data(), 60, seq, NET_DIR_RX, kBroadcast, kHostMac);
      if (::send(sock.get(), f.data(), f.size(), 0) < 0) std::this_thread::yield();
    }
  });
  auto rx = run_process(vireo(ns, "mode=bench dir=rx frames=3000 size=60"), "",
                        std::chrono::seconds(60));
  stop = true;
  writer.join();
  EXPECT_EQ(rx.exit_status, kGuestPass) << rx.out << rx.err;
  EXPECT_NE(rx.out.find("virtio_net: bench-end frames=3000 bytes=180000 "), std::string::npos)
      << rx.out;
}

TEST_P(VirtioNetGuest, NoDeviceWithoutNetOption) {
  VIREO_REQUIRE_KVM();
  auto r = run_process({vireo_bin(), "run", "--kernel", guest("virtio_net"), "--transport",
                        transport(), "--cmdline", "mode=check"});
  EXPECT_EQ(r.exit_status, 3) << r.out << r.err;
  EXPECT_NE(r.out.find("FAIL: no virtio-net on the command line or on PCI bus 0"),
            std::string::npos)
      << r.out;
}

INSTANTIATE_TEST_SUITE_P(Transport, VirtioNetGuest, ::testing::Values("mmio", "pci"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace vireo::test
