#include "virtio/io_thread.h"

#include <pthread.h>

#include <array>
#include <cstdio>

namespace vireo::virtio {

namespace {
constexpr uint64_t kStopToken = ~uint64_t{0};
}

Result<std::unique_ptr<IoThread>> IoThread::start(std::string name, std::vector<Watch> watches) {
  auto t = std::make_unique<IoThread>(Key{});
  VIREO_ASSIGN_OR_RETURN(t->epoll_, Epoll::create());
  VIREO_ASSIGN_OR_RETURN(t->stop_, EventFd::create());
  VIREO_TRY(t->epoll_.add(t->stop_.fd(), EPOLLIN, kStopToken));
  for (size_t i = 0; i < watches.size(); ++i)
    VIREO_TRY(t->epoll_.add(watches[i].fd, EPOLLIN, i));
  t->watches_ = std::move(watches);
  t->name_ = std::move(name);
  t->thread_ = std::thread([p = t.get()] { p->run(); });
  return t;
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

void IoThread::run() {
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
  std::array<epoll_event, 16> events;
  for (;;) {
    auto n = epoll_.wait(events.data(), static_cast<int>(events.size()), -1);
    if (!n.ok()) {
      // Nothing a guest does makes epoll_wait fail; report it once and stop serving.
      std::fprintf(stderr, "vireo: %s: %s\n", name_.c_str(), n.error().message().c_str());
      return;
    }
    for (int i = 0; i < *n; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kStopToken) return;
      watches_[token].handler();
    }
  }
}

}  // namespace vireo::virtio
