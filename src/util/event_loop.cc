#include "util/event_loop.h"

#include <fmt/format.h>

namespace vireo {

Result<EventLoop> EventLoop::create() {
  VIREO_ASSIGN_OR_RETURN(auto epoll, Epoll::create());
  return EventLoop(std::move(epoll));
}

Result<void> EventLoop::add(int fd, uint32_t events, Handler handler) {
  if (by_fd_.contains(fd)) return Error(fmt::format("event loop: fd {} is registered already", fd));
  const uint64_t id = next_id_++;
  VIREO_TRY(epoll_.add(fd, events, id));
  entries_.emplace(id, Entry{fd, std::make_shared<Handler>(std::move(handler))});
  by_fd_.emplace(fd, id);
  return {};
}

Result<void> EventLoop::modify(int fd, uint32_t events) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return Error(fmt::format("event loop: fd {} is not registered", fd));
  return epoll_.modify(fd, events, it->second);
}

void EventLoop::remove(int fd) {
  auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return;
  (void)epoll_.remove(fd);
  entries_.erase(it->second);
  by_fd_.erase(it);
}

Result<int> EventLoop::run_once(int timeout_ms) {
  epoll_event events[16];
  VIREO_ASSIGN_OR_RETURN(int n, epoll_.wait(events, 16, timeout_ms));
  int handled = 0;
  for (int i = 0; i < n; ++i) {
    auto it = entries_.find(events[i].data.u64);
    if (it == entries_.end()) continue;  // removed by an earlier handler of this batch
    std::shared_ptr<Handler> handler = it->second.handler;
    (*handler)(events[i].events);
    ++handled;
  }
  return handled;
}

Result<void> EventLoop::run_until(const std::function<bool()>& done) {
  while (!done()) VIREO_TRY(run_once(-1));
  return {};
}

}  // namespace vireo
