// ApiServer on a real Unix socket and epoll, its loop run by the test: clients come and
// go, too many at once are turned away without harm to the others, and the socket file
// is handled as a daemon's should be.
#include "api/api_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "util/unix_socket.h"

namespace vireo::api {
namespace {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/vireo-api-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/api.sock";
    auto e = EventLoop::create();
    ASSERT_TRUE(e.ok());
    loop_.emplace(std::move(*e));
  }
  void TearDown() override {
    server_.reset();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  void start() {
    auto s = ApiServer::listen(path_, [this](const HttpRequest& r) {
      ++handled_;
      return HttpResponse{200, "\"" + r.path + "\""};
    });
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    ASSERT_TRUE(server_->attach(*loop_).ok());
  }
  // Runs the event loop until nothing happens for 50 ms.
  void pump() {
    for (;;) {
      auto n = loop_->run_once(50);
      ASSERT_TRUE(n.ok());
      if (*n == 0) return;
    }
  }
  UniqueFd connect() {
    auto fd = unix_connect(path_);
    EXPECT_TRUE(fd.ok());
    return fd.ok() ? std::move(*fd) : UniqueFd();
  }
  static std::string read_some(int fd) {
    char buf[4096];
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  std::string dir_, path_;
  std::optional<EventLoop> loop_;
  std::unique_ptr<ApiServer> server_;
  int handled_ = 0;
};

TEST_F(ServerTest, ServesClientsThatComeAndGo) {
  start();
  for (int i = 0; i < 3; ++i) {
    UniqueFd c = connect();
    const std::string req = "GET /x" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
    ASSERT_EQ(::write(c.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
    pump();
    EXPECT_NE(read_some(c.get()).find("\"/x" + std::to_string(i) + "\""), std::string::npos);
  }
  pump();
  EXPECT_EQ(server_->connections(), 0u);  // the clients closed: so did the server
  EXPECT_EQ(handled_, 3);
}

TEST_F(ServerTest, TooManyClientsAreTurnedAwayAndTheOthersStillServed) {
  start();
  std::vector<UniqueFd> clients;
  for (size_t i = 0; i < ApiServer::kMaxConnections + 8; ++i) {
    clients.push_back(connect());
    if (i % 8 == 7) pump();  // accepted as they come (the listen backlog is finite)
  }
  pump();
  EXPECT_EQ(server_->connections(), ApiServer::kMaxConnections);
  // The first ones are served; the last ones were closed (EOF, or a reset).
  const std::string req = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(::write(clients.front().get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
  pump();
  EXPECT_NE(read_some(clients.front().get()).find("200 OK"), std::string::npos);
  char ch;
  EXPECT_LE(::read(clients.back().get(), &ch, 1), 0);
  clients.clear();
  pump();
  EXPECT_EQ(server_->connections(), 0u);
}

TEST_F(ServerTest, SocketFileIsReplacedWhenStaleRefusedWhenServedRemovedAtTheEnd) {
  // A stale socket file (bound, nobody listening) is replaced.
  {
    auto a = unix_address(path_);
    ASSERT_TRUE(a.ok());
    UniqueFd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_EQ(::bind(stale.get(), reinterpret_cast<const sockaddr*>(&*a), sizeof(*a)), 0);
  }
  start();
  // A second server on the same path is refused: the first one serves it.
  auto second = ApiServer::listen(path_, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message(), "--api-sock: " + path_ + " is in use by another program");
  server_.reset();
  struct stat st {};
  EXPECT_NE(::lstat(path_.c_str(), &st), 0) << "the socket file outlived the server";
  // Not a socket: refused, and left alone.
  { std::ofstream(path_) << "data"; }
  auto file = ApiServer::listen(path_, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message().find("exists and is not a socket"), std::string::npos);
  EXPECT_EQ(::lstat(path_.c_str(), &st), 0);
}

}  // namespace
}  // namespace vireo::api
