#include "api/http_connection.h"

#include "api/json_checks.h"

#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <climits>
#include <exception>

namespace vireo::api {

std::string fault_body(const std::string& message) {
  return dump_json(nlohmann::json{{"fault_message", message}});
}

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Unknown";
  }
}

namespace {
HttpConnection* self(http_parser* p) { return static_cast<HttpConnection*>(p->data); }
}  // namespace

HttpConnection::HttpConnection(UniqueFd fd, Handler handler)
    : fd_(std::move(fd)), handler_(std::move(handler)) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &HttpConnection::on_message_begin;
  settings_.on_url = &HttpConnection::on_url;
  settings_.on_header_field = &HttpConnection::on_header_field;
  settings_.on_header_value = &HttpConnection::on_header_value;
  settings_.on_headers_complete = &HttpConnection::on_headers_complete;
  settings_.on_body = &HttpConnection::on_body;
  settings_.on_message_complete = &HttpConnection::on_message_complete;
}

int HttpConnection::on_message_begin(http_parser* p) {
  HttpConnection* c = self(p);
  if (c->closing_) return 1;  // after "Connection: close" nothing more is read
  c->request_ = {};
  c->header_bytes_ = 0;
  return 0;
}

int HttpConnection::count_header_bytes(size_t len) {
  header_bytes_ += len;
  if (header_bytes_ <= kMaxHeaderBytes) return 0;
  rejection_ = fmt::format("Request headers are larger than the limit of {} bytes.", kMaxHeaderBytes);
  return 1;
}

int HttpConnection::on_url(http_parser* p, const char* at, size_t len) {
  HttpConnection* c = self(p);
  if (c->count_header_bytes(len)) return 1;
  c->request_.path.append(at, len);
  return 0;
}

// Header names and values only count against the limit: the parser itself takes the
// length, and nothing else in them matters to the API.
int HttpConnection::on_header_field(http_parser* p, const char*, size_t len) {
  return self(p)->count_header_bytes(len);
}

int HttpConnection::on_header_value(http_parser* p, const char*, size_t len) {
  return self(p)->count_header_bytes(len);
}

int HttpConnection::on_headers_complete(http_parser* p) {
  HttpConnection* c = self(p);
  if (p->content_length != ULLONG_MAX && p->content_length > kMaxBody) {
    c->rejection_ = fmt::format(
        "Request payload with size {} is larger than the limit of {} allowed by server.",
        p->content_length, kMaxBody);
    return -1;  // an error: here 1 would mean "no body" and 2 "skip the body"
  }
  c->request_.method = http_method_str(static_cast<http_method>(p->method));
  return 0;
}

int HttpConnection::on_body(http_parser* p, const char* at, size_t len) {
  HttpConnection* c = self(p);
  if (c->request_.body.size() + len > kMaxBody) {  // chunked bodies announce no length
    c->rejection_ = fmt::format(
        "Request payload with size {} is larger than the limit of {} allowed by server.",
        c->request_.body.size() + len, kMaxBody);
    return 1;
  }
  c->request_.body.append(at, len);
  return 0;
}

int HttpConnection::on_message_complete(http_parser* p) {
  HttpConnection* c = self(p);
  HttpRequest& r = c->request_;
  if (auto q = r.path.find('?'); q != std::string::npos) r.path.resize(q);
  HttpResponse answer;
  try {
    answer = c->handler_(r);
  } catch (const std::exception& e) {  // a bug, not the client's fault: it must not end vireo
    answer = {500, fault_body(std::string("Internal error: ") + e.what())};
  }
  c->respond(answer, !http_should_keep_alive(p));
  return 0;
}

void HttpConnection::respond(const HttpResponse& r, bool close) {
  out_ += fmt::format("HTTP/1.1 {} {}\r\nServer: vireo API\r\n", r.status, status_text(r.status));
  if (r.status != 204)
    out_ += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", r.content_type, r.body.size());
  if (close) out_ += "Connection: close\r\n";
  out_ += "\r\n";
  if (r.status != 204) out_ += r.body;
  if (close) closing_ = true;
}

void HttpConnection::reject(const std::string& why) {
  respond({400, fault_body(why)}, true);
}

bool HttpConnection::on_readable() {
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    if (n == 0) {  // the client is done sending; what it asked for still gets answered
      closing_ = true;
      break;
    }
    if (closing_) continue;  // past a close: discard
    const size_t used = http_parser_execute(&parser_, &settings_, buf, static_cast<size_t>(n));
    if (closing_) continue;
    if (!rejection_.empty()) {
      reject(rejection_);
    } else if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK || used != static_cast<size_t>(n)) {
      reject(fmt::format("Malformed HTTP request: {}.",
                         http_errno_description(HTTP_PARSER_ERRNO(&parser_))));
    }
  }
  return flush();
}

bool HttpConnection::on_writable() { return flush(); }

bool HttpConnection::flush() {
  while (out_pos_ < out_.size()) {
    const ssize_t n = ::send(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return out_.size() - out_pos_ <= kMaxPendingOutput;  // a client that never reads is dropped
      return false;
    }
    out_pos_ += static_cast<size_t>(n);
  }
  out_.clear();
  out_pos_ = 0;
  return !closing_;
}

}  // namespace vireo::api
