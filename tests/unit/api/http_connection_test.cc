// HttpConnection over a real socket pair: requests however they are cut, pipelined,
// refused (too big, malformed), and clients that misbehave.
#include "api/http_connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace vireo::api {
namespace {

class Pair {
 public:
  explicit Pair(HttpConnection::Handler h = nullptr) {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    client_.reset(fds[1]);
    if (!h)
      h = [this](const HttpRequest& r) {
        seen.push_back(r);
        return HttpResponse{200, "{\"path\":\"" + r.path + "\"}"};
      };
    conn = std::make_unique<HttpConnection>(UniqueFd(fds[0]), std::move(h));
  }
  void send(const std::string& s) { ASSERT_EQ(::write(client_.get(), s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  std::string receive() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(client_.get(), buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  void close_client_writes() { ::shutdown(client_.get(), SHUT_WR); }
  int client() const { return client_.get(); }

  std::vector<HttpRequest> seen;
  std::unique_ptr<HttpConnection> conn;

 private:
  UniqueFd client_;
};

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(HttpConnection, RequestCutIntoSingleBytesIsAnsweredOnce) {
  Pair p;
  const std::string req = "PATCH /vm?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 18\r\n\r\n{\"state\":\"Paused\"}";
  for (char ch : req) {
    p.send(std::string(1, ch));
    ASSERT_TRUE(p.conn->on_readable());
  }
  ASSERT_EQ(p.seen.size(), 1u);
  EXPECT_EQ(p.seen[0].method, "PATCH");
  EXPECT_EQ(p.seen[0].path, "/vm");  // the query string is not part of the path
  EXPECT_EQ(p.seen[0].body, "{\"state\":\"Paused\"}");
  const std::string out = p.receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Content-Length: 14\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\n{\"path\":\"/vm\"}"), std::string::npos) << out;
}

TEST(HttpConnection, PipelinedRequestsAreAnsweredInOrderUntilClose) {
  Pair p;
  p.send("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
  EXPECT_FALSE(p.conn->on_readable());  // answered, then closed as asked
  ASSERT_EQ(p.seen.size(), 2u);
  EXPECT_EQ(p.seen[0].path, "/a");
  EXPECT_EQ(p.seen[1].path, "/b");
  const std::string out = p.receive();
  EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 2u) << out;
  EXPECT_LT(out.find("/a"), out.find("/b"));
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
}

TEST(HttpConnection, NoContentHasNoBody) {
  Pair p([](const HttpRequest&) { return HttpResponse{204, ""}; });
  p.send("PATCH /vm HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.conn->on_readable());
  const std::string out = p.receive();
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nServer: vireo API\r\n\r\n");
}

TEST(HttpConnection, TooLargeBodyIsRefusedBeforeItIsRead) {
  Pair p;
  p.send("PUT /drives/x HTTP/1.1\r\nContent-Length: 51201\r\n\r\n{");
  EXPECT_FALSE(p.conn->on_readable());
  EXPECT_TRUE(p.seen.empty());
  const std::string out = p.receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("{\"fault_message\":\"Request payload with size 51201 is larger than the "
                     "limit of 51200 allowed by server.\"}"),
            std::string::npos)
      << out;
}

TEST(HttpConnection, TooLargeChunkedBodyIsRefused) {
  Pair p;
  std::string chunk(40000, 'x');
  p.send("PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  ASSERT_TRUE(p.conn->on_readable());
  for (int i = 0; i < 2; ++i) {
    p.send("9c40\r\n" + chunk + "\r\n");
    if (!p.conn->on_readable()) break;
  }
  EXPECT_TRUE(p.seen.empty());
  EXPECT_NE(p.receive().find("larger than the limit of 51200"), std::string::npos);
}

TEST(HttpConnection, HugeHeadersAreRefused) {
  Pair p;
  p.send("GET / HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n");
  EXPECT_FALSE(p.conn->on_readable());
  EXPECT_TRUE(p.seen.empty());
  EXPECT_NE(p.receive().find("Request headers are larger than the limit of 8192 bytes."),
            std::string::npos);
}

TEST(HttpConnection, GarbageGets400AndTheConnectionCloses) {
  Pair p;
  p.send("\x16\x03\x01 this is TLS, not HTTP\r\n\r\n");
  EXPECT_FALSE(p.conn->on_readable());
  EXPECT_TRUE(p.seen.empty());
  const std::string out = p.receive();
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Malformed HTTP request"), std::string::npos) << out;
}

TEST(HttpConnection, ClientThatHalfClosesStillGetsItsAnswer) {
  Pair p;
  p.send("GET /last HTTP/1.1\r\n\r\n");
  p.close_client_writes();
  EXPECT_FALSE(p.conn->on_readable());  // over, after answering
  EXPECT_NE(p.receive().find("/last"), std::string::npos);
}

TEST(HttpConnection, ClientThatNeverReadsIsDropped) {
  const std::string big(64 * 1024, 'y');
  Pair p([&](const HttpRequest&) { return HttpResponse{200, big}; });
  bool alive = true;
  for (int i = 0; i < 200 && alive; ++i) {
    const std::string req = "GET / HTTP/1.1\r\n\r\n";
    if (::write(p.client(), req.data(), req.size()) != static_cast<ssize_t>(req.size())) break;
    alive = p.conn->on_readable();
  }
  EXPECT_FALSE(alive) << "answers piled up without bound";
}

}  // namespace
}  // namespace vireo::api
