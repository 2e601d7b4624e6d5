// HttpConnection: one client of the API socket, served from the VMM's event loop (no
// thread of its own). Requests are parsed by http-parser (libhttp-parser-dev, the parser
// of Node.js before llhttp); this class only moves bytes: it reads what the socket has,
// hands each complete request to the handler in order and queues the answers, writing
// them as the socket takes them.
//
// A client cannot hurt the VMM: a body over kMaxBody bytes, headers over kMaxHeaderBytes
// or bytes that are not HTTP/1.x get one 400 answer and the connection is closed; a
// client that stops reading gets no more than kMaxPendingOutput bytes queued before it is
// dropped; nothing blocks (the socket is non-blocking).
#pragma once

#include <http_parser.h>

#include <cstdint>
#include <functional>
#include <string>

#include "util/unique_fd.h"

namespace vireo::api {

struct HttpRequest {
  std::string method;  // "GET", "PUT", "PATCH", ...
  std::string path;    // without the query string
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string body;  // JSON, or empty (204)
  std::string content_type = "application/json";
};

class HttpConnection {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  static constexpr size_t kMaxBody = 51200;  // Firecracker's default payload limit
  static constexpr size_t kMaxHeaderBytes = 8192;
  static constexpr size_t kMaxPendingOutput = 1 << 20;

  // Takes a connected, non-blocking stream socket.
  HttpConnection(UniqueFd fd, Handler handler);
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  int fd() const { return fd_.get(); }
  // Reads what the socket has and answers every complete request (writing as much as
  // the socket takes). False when the connection is over: closed by the client, broken,
  // or closed by us after a bad request once the answer is out.
  bool on_readable();
  // Writes pending output; false when the connection is over.
  bool on_writable();
  // Whether output waits for the socket (watch it for EPOLLOUT).
  bool wants_write() const { return out_pos_ < out_.size(); }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, size_t len);
  static int on_header_field(http_parser* p, const char* at, size_t len);
  static int on_header_value(http_parser* p, const char* at, size_t len);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, size_t len);
  static int on_message_complete(http_parser* p);

  // Adds to the request's URL and header bytes; 1 (stop parsing) past kMaxHeaderBytes.
  int count_header_bytes(size_t len);
  // Queues `r` as the answer to the current request.
  void respond(const HttpResponse& r, bool close);
  // Answers 400 with `why`, then closes.
  void reject(const std::string& why);
  bool flush();

  UniqueFd fd_;
  Handler handler_;
  http_parser parser_;
  http_parser_settings settings_;
  HttpRequest request_;
  size_t header_bytes_ = 0;
  std::string rejection_;  // why the request in progress is refused
  std::string out_;
  size_t out_pos_ = 0;
  bool closing_ = false;  // close once out_ is written
};

// The JSON body of an error: {"fault_message": "..."} (Firecracker's shape).
std::string fault_body(const std::string& message);
const char* status_text(int status);

}  // namespace vireo::api
