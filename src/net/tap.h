// Tap: a Linux tap interface for one virtio-net device. Frames carry the 12-byte
// virtio-net header in front (IFF_VNET_HDR with the virtio 1.0 header size), so the
// guest's checksum and segmentation offload requests pass to the host stack unchanged;
// the descriptor is non-blocking, for an I/O thread's epoll loop.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::net {

class Tap {
 public:
  static constexpr size_t kVnetHeaderSize = 12;  // struct virtio_net_hdr_v1

  // Attaches to the tap interface `name`, creating it if there is none (that needs
  // CAP_NET_ADMIN; a tap created by someone else must be owned by this user or group).
  static Result<Tap> open(const std::string& name);

  // A datagram socket standing in for a tap (tests): frames in, frames out, no offloads.
  static Tap from_socket(UniqueFd fd, std::string name);

  int fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

  // TUNSETOFFLOAD: which offloads the host may hand us in received frames (TUN_F_CSUM,
  // TUN_F_TSO4, TUN_F_TSO6): what the guest's driver accepted.
  Result<void> set_offloads(unsigned flags) const;

  // One frame (header included) into `buf`: its length, or 0 when none is waiting.
  Result<size_t> read(std::span<uint8_t> buf) const;
  // One frame (header included), gathered from `parts`.
  Result<void> write(std::span<const iovec> parts) const;

 private:
  Tap() = default;
  UniqueFd fd_;
  std::string name_;
  bool socket_ = false;  // from_socket(): no tap ioctls
};

}  // namespace vireo::net
