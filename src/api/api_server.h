// ApiServer: the API's Unix socket (--api-sock) and its clients, all served from the
// VMM's event loop: the listening socket and every connection are fds in the loop, each
// with its handler; the request handler runs on the loop's thread, so it may touch the
// VM directly. At most kMaxConnections clients at once: one more is
// accepted and closed at once (a client opening connections without end costs nothing).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/http_connection.h"
#include "util/event_loop.h"
#include "util/result.h"
#include "util/unique_fd.h"

namespace vireo::api {

class ApiServer {
 public:
  static constexpr size_t kMaxConnections = 64;

  // Listens on `path`. A socket file nobody listens on (left by a process that died) is
  // replaced; one that another process serves is an error, as is a path that is not a
  // socket. The socket file goes when the server does.
  static Result<std::unique_ptr<ApiServer>> listen(const std::string& path,
                                                   HttpConnection::Handler handler);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Serves the socket from `loop` (which must outlive the server).
  Result<void> attach(EventLoop& loop);
  size_t connections() const;

  ApiServer(std::string path, UniqueFd fd, HttpConnection::Handler handler);

 private:
  void accept_all();
  void on_event(size_t slot, uint32_t events);
  void close_slot(size_t slot);
  void update_interest(size_t slot);

  std::string path_;
  UniqueFd listen_fd_;
  HttpConnection::Handler handler_;
  EventLoop* loop_ = nullptr;
  std::array<std::unique_ptr<HttpConnection>, kMaxConnections> slots_;
  std::array<bool, kMaxConnections> writing_{};  // EPOLLOUT wanted
};

}  // namespace vireo::api
