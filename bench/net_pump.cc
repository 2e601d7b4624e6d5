// The host end of bench/net_guest_bench.sh: raw frames on a tap through AF_PACKET, the
// frames of the virtio_net test guest (tests/guest/common/net_frame.h).
//
//   vireo_net_pump count IFACE      counts the frames of type 0x88b5 that come in on
//                                   IFACE (what the VM sent) until SIGTERM/SIGINT, then
//                                   prints `frames=N bytes=N bad=N` (bad: not a frame the
//                                   guest makes, checked on every 64th)
//   vireo_net_pump send IFACE SIZE  sends frames of SIZE bytes out of IFACE (to the VM) as
//                                   fast as it can until SIGTERM/SIGINT, then prints
//                                   `sent=N`. When the tap's queue overflows (its
//                                   tx_dropped counter moves) it pauses 50 us instead of
//                                   spinning on frames the kernel drops.
// Both print `ready` once the socket is bound. Run them in the tap's network namespace.
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "guest/common/net_frame.h"

namespace {

volatile sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

constexpr int kBatch = 64;
constexpr uint8_t kHostMac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kBroadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int open_socket(const char* iface) {
  const unsigned index = if_nametoindex(iface);
  if (index == 0) {
    std::fprintf(stderr, "vireo_net_pump: no interface %s\n", iface);
    return -1;
  }
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(NET_ETHERTYPE));
  if (fd < 0) {
    std::perror("vireo_net_pump: socket(AF_PACKET)");
    return -1;
  }
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(NET_ETHERTYPE);
  a.sll_ifindex = static_cast<int>(index);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("vireo_net_pump: bind");
    return -1;
  }
  return fd;
}

int count(int fd) {
  int big = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  // Every 64th frame is read whole and checked; the others only as far as their length
  // (MSG_TRUNC gives it).
  std::vector<uint8_t> bufs(kBatch * 2048);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  uint64_t frames = 0, bytes = 0, bad = 0;
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {bufs.data() + i * 2048, 2048};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd, msgs, kBatch, MSG_WAITFORONE | MSG_TRUNC, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("vireo_net_pump: recvmmsg");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      const uint32_t len = msgs[i].msg_len;
      if (frames++ % 64 == 0) {
        const uint8_t* f = bufs.data() + i * 2048;
        uint32_t at;
        if (len > 2048 || net_frame_check(f, len, net_get32(f + 14), NET_DIR_TX, kBroadcast,
                                          f + 6, &at))
          bad++;
      }
      bytes += len;
    }
  }
  std::printf("frames=%llu bytes=%llu bad=%llu\n", static_cast<unsigned long long>(frames),
              static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(bad));
  return 0;
}

uint64_t tx_dropped(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::strtoull(buf, nullptr, 10) : 0;
}

int send_frames(int fd, const char* iface, uint32_t size) {
  if (size < NET_FRAME_MIN || size > NET_FRAME_MAX) {
    std::fprintf(stderr, "vireo_net_pump: SIZE must be %d-%d\n", NET_FRAME_MIN, NET_FRAME_MAX);
    return 2;
  }
  const std::string stat = std::string("/sys/class/net/") + iface + "/statistics/tx_dropped";
  const int drops = open(stat.c_str(), O_RDONLY | O_CLOEXEC);
  std::vector<uint8_t> frames(kBatch * size);
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  for (int i = 0; i < kBatch; ++i) {
    net_frame_fill(frames.data() + i * size, size, static_cast<uint32_t>(i), NET_DIR_RX,
                   kBroadcast, kHostMac);
    iov[i] = {frames.data() + i * size, size};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t sent = 0, dropped = drops >= 0 ? tx_dropped(drops) : 0;
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop) {
    const int n = sendmmsg(fd, msgs, kBatch, 0);
    if (n < 0) {
      if (errno != EINTR && errno != ENOBUFS && errno != ENETDOWN && errno != ENXIO) {
        std::perror("vireo_net_pump: sendmmsg");
        return 1;
      }
      usleep(50);
      continue;
    }
    sent += static_cast<uint64_t>(n);
    if (drops >= 0) {
      const uint64_t d = tx_dropped(drops);
      if (d != dropped) {
        dropped = d;
        usleep(50);
      }
    }
  }
  std::printf("sent=%llu\n", static_cast<unsigned long long>(sent));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool is_count = argc == 3 && std::strcmp(argv[1], "count") == 0;
  const bool is_send = argc == 4 && std::strcmp(argv[1], "send") == 0;
  if (!is_count && !is_send) {
    std::fprintf(stderr, "usage: vireo_net_pump count IFACE | send IFACE SIZE\n");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a blocked recvmmsg returns EINTR
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  const int fd = open_socket(argv[2]);
  if (fd < 0) return 1;
  return is_count ? count(fd) : send_frames(fd, argv[2], static_cast<uint32_t>(std::atoi(argv[3])));
}
