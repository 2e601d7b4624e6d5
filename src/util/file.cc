#include "util/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "util/unique_fd.h"

namespace vireo {

Result<std::vector<uint8_t>> read_file(const std::string& path, const std::string& what) {
  const std::string subject = fmt::format("cannot read {} '{}'", what, path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno(subject);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::from_errno(subject);
  if (S_ISDIR(st.st_mode)) return Error::from_errno(subject, EISDIR);
  if (!S_ISREG(st.st_mode)) return Error(subject + ": not a regular file");

  // Read into the buffer directly; the size from fstat is a hint (the file may change).
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  for (;;) {
    if (done == data.size()) data.resize(data.size() + (64u << 10));
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(subject);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

Result<void> write_file(const std::string& path, std::string_view text) {
  const std::string subject = fmt::format("cannot write '{}'", path);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Error::from_errno(subject);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno(subject);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace vireo
