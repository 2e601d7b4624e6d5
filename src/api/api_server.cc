#include "api/api_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "util/unix_socket.h"

namespace vireo::api {

Result<std::unique_ptr<ApiServer>> ApiServer::listen(const std::string& path,
                                                     HttpConnection::Handler handler) {
  auto fd = unix_listen(path, 64);
  if (!fd.ok()) return fd.error().context("--api-sock");
  return std::make_unique<ApiServer>(path, std::move(*fd), std::move(handler));
}

ApiServer::ApiServer(std::string path, UniqueFd fd, HttpConnection::Handler handler)
    : path_(std::move(path)), listen_fd_(std::move(fd)), handler_(std::move(handler)) {}

ApiServer::~ApiServer() {
  for (size_t i = 0; i < slots_.size(); ++i) close_slot(i);
  if (loop_) loop_->remove(listen_fd_.get());
  ::unlink(path_.c_str());
}

Result<void> ApiServer::attach(EventLoop& loop) {
  VIREO_TRY(loop.add(listen_fd_.get(), EPOLLIN, [this](uint32_t) { accept_all(); }));
  loop_ = &loop;
  return {};
}

size_t ApiServer::connections() const {
  size_t n = 0;
  for (const auto& s : slots_) n += s != nullptr;
  return n;
}

void ApiServer::on_event(size_t slot, uint32_t events) {
  HttpConnection* c = slots_[slot].get();
  if (!c) return;
  bool keep = true;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) keep = c->on_readable();
  if (keep && (events & EPOLLOUT)) keep = c->on_writable();
  if (!keep) {
    close_slot(slot);
    return;
  }
  update_interest(slot);
}

void ApiServer::accept_all() {
  for (;;) {
    UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;  // EAGAIN: all taken (or an error the next event retries)
    size_t slot = 0;
    while (slot < slots_.size() && slots_[slot]) ++slot;
    if (slot == slots_.size()) continue;  // full: this one is closed at once
    if (!loop_->add(fd.get(), EPOLLIN, [this, slot](uint32_t events) { on_event(slot, events); }).ok())
      continue;
    slots_[slot] = std::make_unique<HttpConnection>(std::move(fd), handler_);
    writing_[slot] = false;
  }
}

void ApiServer::update_interest(size_t slot) {
  const bool want = slots_[slot]->wants_write();
  if (want == writing_[slot]) return;
  writing_[slot] = want;
  (void)loop_->modify(slots_[slot]->fd(), EPOLLIN | (want ? EPOLLOUT : 0u));
}

void ApiServer::close_slot(size_t slot) {
  if (!slots_[slot]) return;
  if (loop_) loop_->remove(slots_[slot]->fd());
  slots_[slot].reset();
}

}  // namespace vireo::api
