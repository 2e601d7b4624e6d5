#include "virtio/io_thread.h"

#include "log/log.h"

#include <pthread.h>

#include <array>
#include <cstdio>

namespace vireo::virtio {

namespace {
constexpr uint64_t kStopToken = ~uint64_t{0};
}

Result<std::unique_ptr<IoThread>> IoThread::start(std::string name, std::vector<Watch> watches,
                                                  std::vector<DynamicWatch> dynamic) {
  VIREO_ASSIGN_OR_RETURN(auto t, create(std::move(name), std::move(watches), std::move(dynamic)));
  t->launch();
  return t;
}

Result<std::unique_ptr<IoThread>> IoThread::create(std::string name, std::vector<Watch> watches,
                                                   std::vector<DynamicWatch> dynamic) {
  auto t = std::make_unique<IoThread>(Key{});
  VIREO_ASSIGN_OR_RETURN(t->epoll_, Epoll::create());
  VIREO_ASSIGN_OR_RETURN(t->stop_, EventFd::create());
  VIREO_TRY(t->epoll_.add(t->stop_.fd(), EPOLLIN, kStopToken));
  for (size_t i = 0; i < watches.size(); ++i)
    VIREO_TRY(t->epoll_.add(watches[i].fd, EPOLLIN, i));
  t->watches_ = std::move(watches);
  for (auto& d : dynamic) VIREO_TRY(t->add_watch(d.fd, d.events, std::move(d.handler)));
  t->name_ = std::move(name);
  return t;
}

void IoThread::launch() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

IoThread::~IoThread() { stop(); }

void IoThread::stop() {
  if (!thread_.joinable()) return;
  stop_.signal();
  thread_.join();
}

Result<void> IoThread::set_watching(int fd, bool on) {
  for (size_t i = 0; i < watches_.size(); ++i)
    if (watches_[i].fd == fd) return epoll_.modify(fd, on ? EPOLLIN : 0, i);
  return Error("IoThread::set_watching: fd is not watched");
}

Result<void> IoThread::add_watch(int fd, uint32_t events, EventHandler handler) {
  std::lock_guard lock(mutex_);
  if (dynamic_.count(fd)) return Error("IoThread::add_watch: fd is already watched");
  const uint64_t token = next_token_++;
  if (events) VIREO_TRY(epoll_.add(fd, events, token));
  dynamic_.emplace(fd, Dynamic{token, events, std::move(handler)});
  tokens_.emplace(token, fd);
  return {};
}

Result<void> IoThread::set_events(int fd, uint32_t events) {
  std::lock_guard lock(mutex_);
  auto it = dynamic_.find(fd);
  if (it == dynamic_.end()) return Error("IoThread::set_events: fd is not watched");
  Dynamic& d = it->second;
  if (d.events == events) return {};
  if (events == 0) {
    VIREO_TRY(epoll_.remove(fd));
  } else if (d.events == 0) {
    VIREO_TRY(epoll_.add(fd, events, d.token));
  } else {
    VIREO_TRY(epoll_.modify(fd, events, d.token));
  }
  d.events = events;
  return {};
}

void IoThread::remove_watch(int fd) {
  std::lock_guard lock(mutex_);
  auto it = dynamic_.find(fd);
  if (it == dynamic_.end()) return;
  if (it->second.events) (void)epoll_.remove(fd);
  tokens_.erase(it->second.token);  // events already fetched for it find no handler
  dynamic_.erase(it);
}

void IoThread::dispatch(uint64_t token, uint32_t events) {
  if (token < watches_.size()) {
    watches_[token].handler();
    return;
  }
  EventHandler handler;
  {
    std::lock_guard lock(mutex_);
    auto t = tokens_.find(token);
    if (t == tokens_.end()) return;  // removed by an earlier handler of this batch
    handler = dynamic_.at(t->second).handler;  // a copy: the handler may remove itself
  }
  handler(events);
}

void IoThread::run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  std::array<epoll_event, 16> events;
  for (;;) {
    auto n = epoll_.wait(events.data(), static_cast<int>(events.size()), -1);
    if (!n.ok()) {
      // Nothing a guest does makes epoll_wait fail; report it once and stop serving.
      LOG_ERROR("{}: {}", name_, n.error().message());
      return;
    }
    for (int i = 0; i < *n; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kStopToken) return;
      dispatch(token, events[i].events);
    }
  }
}

}  // namespace vireo::virtio
