#include "vmm/serial_console.h"

#include <poll.h>

#include <cerrno>
#include <fmt/format.h>

namespace vireo::vmm {

namespace {
constexpr size_t kChunk = 4096;
}

SerialConsole::SerialConsole(EventLoop& loop, ConsoleStream in, ConsoleStream out)
    : loop_(loop), in_(std::move(in)), out_(std::move(out)) {
  // Not pollable (a regular file, or closed): no console input, as with `< /dev/null`.
  in_open_ = in_.poll_fd() >= 0 && loop_.add(in_.poll_fd(), EPOLLIN, [this](uint32_t) {
                                          const auto action = on_input();
                                          if (action != ConsoleEscape::Action::kNone && on_escape_)
                                            on_escape_(action);
                                        }).ok();
  in_watched_ = in_open_;
}

SerialConsole::~SerialConsole() {
  if (in_open_) loop_.remove(in_.poll_fd());
  if (out_registered_) loop_.remove(out_.poll_fd());
}

void SerialConsole::attach(devices::ConsolePort* port) {
  serial_ = port;
  if (serial_) feed_input();
}

void SerialConsole::watch_input(bool on) {
  if (!in_open_ || on == in_watched_) return;
  in_watched_ = on;
  (void)loop_.modify(in_.poll_fd(), on ? uint32_t{EPOLLIN} : 0u);
}

void SerialConsole::watch_output(bool on) {
  if (on == out_watched_ || out_.poll_fd() < 0) return;
  if (!out_registered_) {
    out_registered_ = loop_.add(out_.poll_fd(), on ? uint32_t{EPOLLOUT} : 0u,
                                [this](uint32_t) { pump_output(); })
                          .ok();
    out_watched_ = on && out_registered_;
    return;
  }
  out_watched_ = on;
  (void)loop_.modify(out_.poll_fd(), on ? uint32_t{EPOLLOUT} : 0u);
}

void SerialConsole::on_wake() {
  pump_output();
  feed_input();
}

// Moves UART output to stdout until the UART is empty or stdout is full.
void SerialConsole::pump_output() {
  for (;;) {
    if (out_done_ == out_buf_.size()) {
      if (!serial_) break;
      out_buf_.resize(kChunk);
      out_buf_.resize(serial_->take_output(out_buf_));
      out_done_ = 0;
      if (out_buf_.empty()) break;
    }
    if (out_closed_ || !out_.valid()) {
      out_done_ = out_buf_.size();  // nobody reads: discard
      continue;
    }
    ssize_t n = out_.write(std::span<const uint8_t>(out_buf_).subspan(out_done_));
    if (n > 0) {
      out_done_ += static_cast<size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      watch_output(true);
      return;
    } else {
      out_closed_ = true;  // EPIPE and the like: the VM runs on without console output
    }
  }
  watch_output(false);
}

void SerialConsole::feed_input() {
  if (!serial_) return;
  while (!pending_in_.empty()) {
    // With no room, still offer a byte: the device notes that input waits and wakes us
    // when room appears (asking input_room() alone would leave it unaware).
    const size_t room = std::max<size_t>(serial_->input_room(), 1);
    const size_t n = std::min(room, pending_in_.size());
    std::vector<uint8_t> chunk(pending_in_.begin(), pending_in_.begin() + static_cast<long>(n));
    const size_t took = serial_->enqueue_input(chunk);
    pending_in_.erase(pending_in_.begin(), pending_in_.begin() + static_cast<long>(took));
    if (took < n) break;
  }
  watch_input(pending_in_.empty());
}

ConsoleEscape::Action SerialConsole::on_input() {
  uint8_t buf[256];
  ssize_t r = in_.read(buf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return ConsoleEscape::Action::kNone;
  if (r <= 0) {  // end of input: the VM keeps running without it
    loop_.remove(in_.poll_fd());
    in_open_ = in_watched_ = false;
    return ConsoleEscape::Action::kNone;
  }
  std::vector<uint8_t> to_guest;
  auto action = escape_.feed(std::span<const uint8_t>(buf, static_cast<size_t>(r)), to_guest);
  pending_in_.insert(pending_in_.end(), to_guest.begin(), to_guest.end());
  feed_input();
  return action;
}

void SerialConsole::final_flush(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    pump_output();
    if (!out_watched_) return;  // everything written (or discarded)
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{out_.poll_fd(), POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
  }
}

}  // namespace vireo::vmm
