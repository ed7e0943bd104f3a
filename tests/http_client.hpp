#pragma once

// A small blocking HTTP/1.1 client over a real socket, for tests: it sends
// raw bytes and reads responses as a client would see them (tls_client.hpp
// does the same over TLS).

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace test {

/// Three requests in one piece, for pipelining: an enqueue of "a", a
/// GET /healthz, an enqueue of "b".
constexpr std::string_view three_pipelined
  = "POST /enqueue HTTP/1.1\r\nHost: x\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 15\r\n\r\n{\"message\":\"a\"}"
    "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    "POST /enqueue HTTP/1.1\r\nHost: x\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 15\r\n\r\n{\"message\":\"b\"}";

/// A response as read from the wire.
struct http_response {
  int status = 0;
  /// The reason phrase of the status line.
  std::string reason;
  /// Header names in lower case.
  std::map<std::string, std::string> headers;
  std::string body;

  std::string header(const std::string& name) const {
    auto i = headers.find(name);
    return i == headers.end() ? std::string{} : i->second;
  }
};

/// A TCP socket connected to 127.0.0.1:port. A `window` other than 0
/// bounds its receive buffer, set before the connect so that TCP's window
/// honours it.
inline int connect_loopback(uint16_t port, int window = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (window != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &window, sizeof(window));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("connect failed");
  }
  return fd;
}

class http_client {
public:
  /// Connects to 127.0.0.1:port; reads time out after 5 s.
  explicit http_client(uint16_t port) : fd_(connect_loopback(port)) {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  virtual ~http_client() {
    ::close(fd_);
  }

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = send_some(bytes.data(), bytes.size());
      if (n <= 0)
        throw std::runtime_error("send failed");
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  /// Sends one request with a Content-Length body.
  void send(std::string_view method, std::string_view path,
            std::string_view body = {}, std::string_view headers = {}) {
    std::string req{method};
    req += ' ';
    req += path;
    req += " HTTP/1.1\r\nHost: localhost\r\n";
    req += headers;
    if (!body.empty() || method == "POST")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    send_raw(req);
  }

  /// Sends a request and reads its response.
  http_response request(std::string_view method, std::string_view path,
                        std::string_view body = {},
                        std::string_view headers = {}) {
    send(method, path, body, headers);
    return read_response();
  }

  /// POSTs JSON to /enqueue.
  http_response enqueue_json(std::string_view body) {
    return request("POST", "/enqueue", body,
                   "Content-Type: application/json\r\n");
  }

  /// Reads one response (headers, then a Content-Length body). `head`: the
  /// request was HEAD, so no body follows.
  http_response read_response(bool head = false) {
    auto end = buf_.find("\r\n\r\n");
    while (end == std::string::npos) {
      fill();
      end = buf_.find("\r\n\r\n");
    }
    http_response r;
    std::string_view head_text{buf_.data(), end};
    auto line_end = head_text.find("\r\n");
    auto status_line = head_text.substr(0, line_end);
    r.status = std::stoi(std::string{status_line.substr(9, 3)});
    r.reason = std::string{
      status_line.substr(std::min<size_t>(13, status_line.size()))};
    auto rest = line_end == std::string_view::npos
                  ? std::string_view{}
                  : head_text.substr(line_end + 2);
    while (!rest.empty()) {
      auto eol = rest.find("\r\n");
      auto line = rest.substr(0, eol);
      auto colon = line.find(':');
      std::string name{line.substr(0, colon)};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ')
        value.remove_prefix(1);
      r.headers[name] = std::string{value};
      rest = eol == std::string_view::npos ? std::string_view{}
                                           : rest.substr(eol + 2);
    }
    buf_.erase(0, end + 4);
    size_t length = 0;
    if (!head && !r.header("content-length").empty())
      length = std::stoul(r.header("content-length"));
    while (buf_.size() < length)
      fill();
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  /// Makes a send that finds the socket full for `ms` fail.
  void send_timeout(int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  /// Whether the server sent something, or closed, within `ms`.
  bool readable(int ms) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) > 0;
  }

  /// The socket, for a test that reads or sends on it from another thread.
  int fd() const {
    return fd_;
  }

  /// True if the server closed the connection (reads EOF within 5 s).
  bool closed_by_server() {
    char c;
    return buf_.empty() && receive_some(&c, 1) == 0;
  }

protected:
  /// Sends some of `data`; returns how much, or <= 0 on an error.
  virtual long send_some(const char* data, size_t size) {
    return ::send(fd_, data, size, MSG_NOSIGNAL);
  }

  /// Reads into `buf`: bytes, 0 at the end, < 0 after 5 s or an error.
  virtual long receive_some(char* buf, size_t size) {
    return ::recv(fd_, buf, size, 0);
  }

  int fd_ = -1;

private:
  void fill() {
    char tmp[65536];
    auto n = receive_some(tmp, sizeof(tmp));
    if (n <= 0)
      throw std::runtime_error(n == 0 ? "connection closed"
                                      : "receive timed out");
    buf_.append(tmp, static_cast<size_t>(n));
  }

  std::string buf_;
};

} // namespace test
