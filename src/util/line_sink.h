// LineSink: where the log and the metrics go, one line per write: a regular file
// (appended to, created if missing) or a FIFO. A FIFO is opened read-write and
// non-blocking, as Firecracker does, so that opening does not wait for a reader and a
// reader that stops does not stop the VMM: a line the pipe has no room for is dropped
// and counted; a line longer than what the pipe has room for goes in part now and the rest
// before any other line (never interleaved).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo {

class LineSink {
 public:
  // `what` names the sink in errors ("log", "metrics").
  static Result<LineSink> open(const std::string& path, const std::string& what);

  // Writes `line` (which ends in '\n') in one write(2); false if it was dropped.
  bool write(std::string_view line);
  ~LineSink();
  LineSink(LineSink&&) = default;
  LineSink& operator=(LineSink&&) = default;
  const std::string& path() const { return path_; }
  bool is_fifo() const { return fifo_; }
  uint64_t written() const { return written_; }
  uint64_t missed() const { return missed_; }

 private:
  LineSink(UniqueFd fd, std::string path, bool fifo)
      : fd_(std::move(fd)), path_(std::move(path)), fifo_(fifo) {}
  UniqueFd fd_;
  std::string path_;
  bool fifo_ = false;
  uint64_t written_ = 0;
  uint64_t missed_ = 0;
  std::string rest_;  // FIFO: the end of a line the pipe took only part of
};

}  // namespace vireo
