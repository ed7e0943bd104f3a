#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "json_api.hpp"

/// HTTP/1.1 on the wire: requests read from a byte stream (with Debian's
/// http-parser, the parser Node.js used for a decade) and responses written
/// out. No sockets, no actors: testable and fuzzable on bytes.
namespace actormq::http {

/// The request methods the API distinguishes.
enum class verb : uint8_t { get, head, post, put, del, options, other };

/// One request as read from a connection.
struct request {
  /// The method.
  verb method = verb::other;
  /// The path of the target, without its query.
  std::string path;
  /// The query of the target, without the '?'.
  std::string query;
  /// The Content-Type header, empty if absent.
  std::string content_type;
  /// The Access-Control-Request-Headers header (CORS preflight).
  std::string cors_request_headers;
  /// The Authorization header; empty if absent or sent more than once.
  std::string authorization;
  /// The Host header (empty if absent).
  std::string host;
  /// The X-Amz-Target header of an SQS request in AWS JSON (empty if
  /// absent).
  std::string amz_target;
  /// Every header, one `name:value\n` line each with the name in lower
  /// case, in the order sent: what an AWS signature signs. Kept only for
  /// targets an SQS request may have (`/`, a queue URL's path).
  std::string headers;
  /// The body, de-chunked.
  std::string body;
  /// Whether the connection may serve another request afterwards.
  bool keep_alive = true;
  /// Set when the request could not be read: the connection answers with
  /// this and closes.
  bool failed = false;
  /// What was wrong when `failed`.
  problem error = problem::malformed_request;
};

/// Reads requests from the bytes of one connection, one request at a time:
/// the reader stops at the end of each request, so a connection parses
/// nothing ahead of the request it serves.
class request_reader {
public:
  /// Where the reader stands within a request.
  enum class phase : uint8_t {
    /// No byte of a request yet.
    idle,
    /// The request line and headers are arriving.
    head,
    /// The headers are in; the body is arriving.
    body,
  };

  /// Refuses headers over `max_header_bytes` (431) and bodies over
  /// `max_body_bytes` (413).
  request_reader(size_t max_header_bytes, size_t max_body_bytes);
  ~request_reader();

  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  /// Consumes `data`, at most up to the end of the next request, and
  /// returns how many bytes it took (feed the rest again); at the end of a
  /// request ready() holds until take(). While a request waits in take()
  /// it consumes nothing. After a request with `failed` set it consumes
  /// everything and reads nothing more.
  size_t feed(const char* data, size_t size);

  /// Whether a complete (or failed) request waits for take().
  bool ready() const;

  /// Returns the request that ready() announced.
  request take();

  /// Where the reader stands within the next request.
  phase at() const;

  /// The request whose headers are in while its body arrives (at() is
  /// phase::body): its method, target and headers, not its body.
  const request& pending() const;

  /// True once the headers of a request that sent `Expect: 100-continue`
  /// have been read and its body has not; reset by take_continue().
  bool take_continue();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Renders a complete response with the headers every reply carries (JSON
/// content type, CORS, length, connection). `extra_headers` are complete
/// lines, each ending in CRLF. A HEAD response has no body.
std::string render_response(const reply& r, bool keep_alive,
                            std::string_view extra_headers = {},
                            bool head = false);

/// The interim response to `Expect: 100-continue`.
std::string_view continue_response();

} // namespace actormq::http
