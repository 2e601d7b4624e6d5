#include "block/uring.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace vireo::block {

Result<std::unique_ptr<Uring>> Uring::create(unsigned entries) {
  auto u = std::make_unique<Uring>(Key());
  u->ring_ = std::make_unique<io_uring>();
  if (const int r = io_uring_queue_init(entries, u->ring_.get(), 0); r < 0)
    return Error::from_errno("io_uring_queue_init", -r);
  u->initialized_ = true;
  u->event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!u->event_) return Error::from_errno("eventfd for io_uring completions");
  if (const int r = io_uring_register_eventfd(u->ring_.get(), u->event_.get()); r < 0)
    return Error::from_errno("io_uring_register_eventfd", -r);
  return u;
}

Uring::Uring(Key) {}

Uring::~Uring() {
  if (initialized_) io_uring_queue_exit(ring_.get());
}

bool Uring::readv(int fd, const iovec* iov, unsigned count, uint64_t offset, uint64_t user_data) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) return false;
  io_uring_prep_readv(sqe, fd, iov, count, offset);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Uring::writev(int fd, const iovec* iov, unsigned count, uint64_t offset, uint64_t user_data) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) return false;
  io_uring_prep_writev(sqe, fd, iov, count, offset);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

bool Uring::fdatasync(int fd, uint64_t user_data) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring_.get());
  if (!sqe) return false;
  io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data64(sqe, user_data);
  return true;
}

Result<void> Uring::submit() {
  for (;;) {
    const int r = io_uring_submit(ring_.get());
    if (r >= 0) return {};
    if (r != -EINTR && r != -EAGAIN) return Error::from_errno("io_uring_submit", -r);
  }
}

Result<bool> Uring::next(Completion& out, bool wait) {
  io_uring_cqe* cqe = nullptr;
  for (;;) {
    const int r = wait ? io_uring_wait_cqe(ring_.get(), &cqe) : io_uring_peek_cqe(ring_.get(), &cqe);
    if (r == -EAGAIN && !wait) return false;
    if (r == -EINTR) continue;
    if (r < 0) return Error::from_errno("io_uring_wait_cqe", -r);
    break;
  }
  out = {io_uring_cqe_get_data64(cqe), cqe->res};
  io_uring_cqe_seen(ring_.get(), cqe);
  return true;
}

void Uring::drain_event() {
  uint64_t v;
  while (::read(event_.get(), &v, sizeof(v)) == sizeof(v)) {
  }
}

}  // namespace vireo::block
