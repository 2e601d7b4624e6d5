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

namespace {

// Writes what it can of `data`; the number of bytes written (0 when the pipe is full or
// on an error).
size_t write_some(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

}  // namespace

bool LineSink::write(std::string_view line) {
  if (fifo_) {
    // A line the pipe took only part of is finished before any other goes in, so a
    // reader never gets half a line followed by another; until then new lines are
    // dropped (counted).
    if (!rest_.empty()) {
      rest_.erase(0, write_some(fd_.get(), rest_));
      if (!rest_.empty()) {
        ++missed_;
        return false;
      }
    }
    const size_t n = write_some(fd_.get(), line);
    if (n == 0) {
      ++missed_;
      return false;
    }
    if (n < line.size()) rest_.assign(line.substr(n));
    ++written_;
    return true;
  }
  if (write_some(fd_.get(), line) != line.size()) {
    ++missed_;
    return false;
  }
  ++written_;
  return true;
}

LineSink::~LineSink() {
  if (!rest_.empty() && fd_) (void)write_some(fd_.get(), rest_);  // last chance, never blocking
}

}  // namespace vireo
