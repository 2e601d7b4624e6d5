#include "util/epoll.h"

#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>

namespace vireo {

Result<Epoll> Epoll::create() {
  Epoll e;
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) return Error::from_errno("epoll_create1");
  e.fd_.reset(fd);
  return e;
}

Result<void> Epoll::add(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0)
    return Error::from_errno("epoll_ctl(ADD)");
  return {};
}

Result<void> Epoll::modify(int fd, uint32_t events, uint64_t token) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_MOD, fd, &ev) != 0)
    return Error::from_errno("epoll_ctl(MOD)");
  return {};
}

Result<void> Epoll::remove(int fd) {
  if (::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0)
    return Error::from_errno("epoll_ctl(DEL)");
  return {};
}

Result<int> Epoll::wait(epoll_event* events, int max, int timeout_ms) {
  int n = ::epoll_wait(fd_.get(), events, max, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return 0;
    return Error::from_errno("epoll_wait");
  }
  return n;
}

Result<EventFd> EventFd::create() {
  EventFd e;
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return Error::from_errno("eventfd");
  e.fd_.reset(fd);
  return e;
}

bool EventFd::signal() const {
  uint64_t one = 1;
  return ::write(fd_.get(), &one, sizeof(one)) == static_cast<ssize_t>(sizeof(one));
}

uint64_t EventFd::drain() const {
  uint64_t v = 0;
  ssize_t r = ::read(fd_.get(), &v, sizeof(v));
  return r == sizeof(v) ? v : 0;
}

Result<UniqueFd> block_signals_to_fd(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  int err = ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  if (err != 0) return Error::from_errno("pthread_sigmask", err);
  int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd < 0) return Error::from_errno("signalfd");
  return UniqueFd(fd);
}

Result<TimerFd> TimerFd::create() {
  TimerFd t;
  t.fd_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!t.fd_) return Error::from_errno("timerfd_create");
  return t;
}

Result<void> TimerFd::arm(uint64_t ns) const {
  if (ns == 0) ns = 1;  // 0 would disarm
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns / 1000000000);
  spec.it_value.tv_nsec = static_cast<long>(ns % 1000000000);
  if (::timerfd_settime(fd_.get(), 0, &spec, nullptr) != 0) return Error::from_errno("timerfd_settime");
  return {};
}

uint64_t TimerFd::drain() const {
  uint64_t n = 0;
  if (::read(fd_.get(), &n, sizeof(n)) != sizeof(n)) return 0;
  return n;
}

}  // namespace vireo
