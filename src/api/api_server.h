// ApiServer: the API's Unix socket (--api-sock) and its clients, all served from the
// VMM's event loop: the listening socket and every connection are fds in the loop's
// epoll, under tokens from `first_token` up; the handler runs on the loop's thread, so it
// may touch the VM directly. At most kMaxConnections clients at once: one more is
// accepted and closed at once (a client opening connections without end costs nothing).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/http_connection.h"
#include "util/epoll.h"
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

  // Registers the listening socket in `epoll`; tokens first_token .. first_token +
  // kMaxConnections are this server's.
  Result<void> attach(Epoll& epoll, uint64_t first_token);
  bool owns(uint64_t token) const {
    return epoll_ && token >= first_token_ && token <= first_token_ + kMaxConnections;
  }
  // One epoll event for one of this server's tokens.
  void on_event(uint64_t token, uint32_t events);
  size_t connections() const;

  ApiServer(std::string path, UniqueFd fd, HttpConnection::Handler handler);

 private:
  void accept_all();
  void close_slot(size_t slot);
  void update_interest(size_t slot);

  std::string path_;
  UniqueFd listen_fd_;
  HttpConnection::Handler handler_;
  Epoll* epoll_ = nullptr;
  uint64_t first_token_ = 0;
  std::array<std::unique_ptr<HttpConnection>, kMaxConnections> slots_;
  std::array<bool, kMaxConnections> writing_{};  // EPOLLOUT wanted
};

}  // namespace vireo::api
