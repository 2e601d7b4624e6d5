#include "util/line_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>

namespace vireo {

Result<LineSink> LineSink::open(const std::string& path, const std::string& what) {
  if (path.empty()) return Error(fmt::format("the {} path is empty", what));
  struct stat st {};
  const bool fifo = ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
  if (!fifo && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Error(fmt::format("cannot open {} '{}': it is a directory", what, path));
  const int flags = fifo ? O_RDWR | O_NONBLOCK | O_CLOEXEC
                         : O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY;
  int fd = ::open(path.c_str(), flags, 0640);
  if (fd < 0) return Error::from_errno(fmt::format("cannot open {} '{}'", what, path));
  return LineSink(UniqueFd(fd), path, fifo);
}

bool LineSink::write(std::string_view line) {
  ssize_t n;
  do {
    n = ::write(fd_.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size())) {
    ++missed_;
    return false;
  }
  ++written_;
  return true;
}

}  // namespace vireo
