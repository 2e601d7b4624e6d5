#include "util/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstring>

namespace vireo {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(a.sun_path))
    return Error(fmt::format("'{}': a Unix socket path must be 1-{} bytes", path, sizeof(a.sun_path) - 1));
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

Result<UniqueFd> unix_socket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket(AF_UNIX)");
  return fd;
}

Result<UniqueFd> unix_connect(const std::string& path) {
  VIREO_ASSIGN_OR_RETURN(auto addr, unix_address(path));
  VIREO_ASSIGN_OR_RETURN(auto fd, unix_socket());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return Error::from_errno("connect " + path);
  return fd;
}

Result<UniqueFd> unix_listen(const std::string& path, int backlog) {
  VIREO_ASSIGN_OR_RETURN(auto addr, unix_address(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error(fmt::format("{} exists and is not a socket", path));
    if (unix_connect(path).ok()) return Error(fmt::format("{} is in use by another program", path));
    if (::unlink(path.c_str()) != 0) return Error::from_errno("removing the stale socket " + path);
  }
  VIREO_ASSIGN_OR_RETURN(auto fd, unix_socket());
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0)
    return Error::from_errno("cannot listen on " + path);
  if (::listen(fd.get(), backlog) != 0) {
    auto e = Error::from_errno("listen on " + path);
    ::unlink(path.c_str());
    return e;
  }
  return fd;
}

}  // namespace vireo
