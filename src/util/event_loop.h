// EventLoop: the VMM's one event loop, run by the main thread. Everything it waits for
// is an fd with its handler: the console's streams, the signalfd, the API socket and its
// connections, timers (timerfd: the metrics period), a VM's stop eventfd. Handlers run
// on the loop's thread one at a time, so they may touch the VM and each other's state
// without locks; other threads reach the loop through an eventfd.
//
// A handler may add and remove fds, itself included; an event already fetched for an fd
// removed in the meantime is dropped, and an fd number reused by a new registration
// never gets the old one's events (each registration has its own id).
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "util/epoll.h"
#include "util/result.h"

namespace vireo {

class EventLoop {
 public:
  using Handler = std::function<void(uint32_t events)>;

  static Result<EventLoop> create();

  // Watches `fd` for `events` (EPOLLIN, EPOLLOUT, or 0 for none yet). The fd must not be
  // registered already.
  Result<void> add(int fd, uint32_t events, Handler handler);
  // Changes what `fd` is watched for.
  Result<void> modify(int fd, uint32_t events);
  // Stops watching `fd` (nothing if it is not registered). Call before closing it.
  void remove(int fd);
  bool watches(int fd) const { return by_fd_.contains(fd); }

  // Waits for events and runs their handlers until `done()` holds (checked before each
  // wait). An error only if epoll_wait fails.
  Result<void> run_until(const std::function<bool()>& done);
  // One wait of at most `timeout_ms` (-1: no limit) and its handlers; returns how many
  // events were handled.
  Result<int> run_once(int timeout_ms);

 private:
  explicit EventLoop(Epoll epoll) : epoll_(std::move(epoll)) {}
  struct Entry {
    int fd;
    std::shared_ptr<Handler> handler;  // shared: a handler may remove its own entry
  };
  Epoll epoll_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;  // by registration id (epoll's data)
  std::unordered_map<int, uint64_t> by_fd_;
};

}  // namespace vireo
