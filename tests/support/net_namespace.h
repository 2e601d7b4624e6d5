// A network namespace with a tap in it, for the virtio-net tests: vireo runs inside it
// (exec()), so the tests need no free name on the host and leave nothing behind.
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "support/process.h"

namespace vireo::test {

// The namespace "vireo-net-<pid>-<n>" with tap `tap` (made with vnet_hdr, link up),
// removed at the end. With `address` (an IPv4 CIDR) the tap gets it; without, IPv6 is off
// on the tap too, so that the host sends nothing on it by itself.
class NetNamespace {
 public:
  explicit NetNamespace(std::string tap = "vtap0", const std::string& address = "")
      : name_(fmt::format("vireo-net-{}-{}", ::getpid(), counter()++)), tap_(std::move(tap)) {
    ok_ = sh("ip netns add " + name_) && in_ns("ip link set lo up") &&
          in_ns("ip tuntap add dev " + tap_ + " mode tap vnet_hdr") &&
          (address.empty()
               ? in_ns("sh -c 'echo 1 > /proc/sys/net/ipv6/conf/" + tap_ + "/disable_ipv6'")
               : in_ns("ip addr add " + address + " dev " + tap_)) &&
          in_ns("ip link set " + tap_ + " up");
  }
  ~NetNamespace() { sh("ip netns del " + name_); }
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& tap() const { return tap_; }
  // argv run inside the namespace.
  std::vector<std::string> exec(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", name_});
    return argv;
  }

  // An AF_PACKET socket of the namespace bound to the tap, for frames of `ethertype`
  // (network byte order on the wire): it receives what comes in on the tap (what the VM
  // sent) and sends frames out of it (to the VM). -1 on failure. A socket stays in the
  // namespace it was made in, so a thread that joins the namespace makes it.
  int packet_socket(uint16_t ethertype) const {
    int fd = -1;
    std::thread([&] {
      const int ns = ::open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) return;
      const bool in = ::setns(ns, CLONE_NEWNET) == 0;
      ::close(ns);
      if (!in) return;
      const unsigned index = ::if_nametoindex(tap_.c_str());
      const int s = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ethertype));
      if (s < 0 || index == 0) return;
      sockaddr_ll a{};
      a.sll_family = AF_PACKET;
      a.sll_protocol = htons(ethertype);
      a.sll_ifindex = static_cast<int>(index);
      if (::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return;
      }
      fd = s;
    }).join();
    return fd;
  }

 private:
  static std::atomic<int>& counter() {
    static std::atomic<int> n{0};
    return n;
  }
  static bool sh(const std::string& cmd) {
    auto r = run_process({"/bin/sh", "-c", cmd});
    if (r.exit_status != 0) std::fprintf(stderr, "%s: %s\n", cmd.c_str(), r.err.c_str());
    return r.exit_status == 0;
  }
  bool in_ns(const std::string& cmd) const { return sh("ip netns exec " + name_ + " " + cmd); }

  std::string name_, tap_;
  bool ok_ = false;
};

}  // namespace vireo::test
