#include "net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace vireo::net {

Result<Tap> Tap::open(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return Error(fmt::format("tap name '{}' must be 1-{} characters", name, IFNAMSIZ - 1));
  Tap t;
  t.name_ = name;
  t.fd_.reset(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!t.fd_) return Error::from_errno("cannot open /dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(t.fd_.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    if (err == EBUSY)
      return Error(fmt::format("tap '{}' is in use by another process", name), err);
    if (err == EPERM)
      return Error(fmt::format("cannot open tap '{}': not permitted (creating a tap needs "
                               "CAP_NET_ADMIN; an existing one must belong to this user)", name),
                   err);
    return Error::from_errno(fmt::format("cannot open tap '{}' (TUNSETIFF)", name), err);
  }
  int hdr = static_cast<int>(kVnetHeaderSize);
  if (::ioctl(t.fd_.get(), TUNSETVNETHDRSZ, &hdr) != 0)
    return Error::from_errno(fmt::format("tap '{}': TUNSETVNETHDRSZ", name));
  VIREO_TRY(t.set_offloads(0));
  return t;
}

Tap Tap::from_socket(UniqueFd fd, std::string name) {
  Tap t;
  t.fd_ = std::move(fd);
  t.name_ = std::move(name);
  t.socket_ = true;
  return t;
}

Result<void> Tap::set_offloads(unsigned flags) const {
  if (socket_) return {};
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0)
    return Error::from_errno(fmt::format("tap '{}': TUNSETOFFLOAD {:#x}", name_, flags));
  return {};
}

Result<size_t> Tap::read(std::span<uint8_t> buf) const {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return size_t{0};
    return Error::from_errno(fmt::format("read from tap '{}'", name_));
  }
}

Result<void> Tap::write(std::span<const iovec> parts) const {
  for (;;) {
    const ssize_t n = ::writev(fd_.get(), parts.data(), static_cast<int>(parts.size()));
    if (n >= 0) return {};  // a tap takes a frame whole or not at all
    if (errno == EINTR) continue;
    return Error::from_errno(fmt::format("write to tap '{}'", name_));
  }
}

}  // namespace vireo::net
