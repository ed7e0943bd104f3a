#include "wire.hpp"

#include <algorithm>
#include <limits>

#include <http_parser.h>

#include "text.hpp"

namespace actormq::http {

namespace {

verb to_verb(unsigned method) {
  switch (method) {
    case HTTP_GET:
      return verb::get;
    case HTTP_HEAD:
      return verb::head;
    case HTTP_POST:
      return verb::post;
    case HTTP_PUT:
      return verb::put;
    case HTTP_DELETE:
      return verb::del;
    case HTTP_OPTIONS:
      return verb::options;
    default:
      return verb::other;
  }
}

std::string_view reason_phrase(uint16_t status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 409:
      return "Conflict";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

// Return values of http-parser callbacks.
constexpr int proceed = 0;
constexpr int abort_parse = 1;
constexpr int abort_headers = 3; // on_headers_complete: 1 and 2 mean "no body"

} // namespace

struct request_reader::impl {
  impl(size_t max_header, size_t max_body)
    : max_header_bytes(max_header), max_body_bytes(max_body) {
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = this;
    http_parser_settings_init(&settings);
    settings.on_message_begin = [](http_parser* p) {
      auto& self = *static_cast<impl*>(p->data);
      self.current = request{};
      self.url.clear();
      self.field.clear();
      self.value.clear();
      self.in_value = false;
      self.expect_continue = false;
      self.at = phase::head;
      return proceed;
    };
    settings.on_url = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      self.url.append(at, n);
      return proceed;
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      if (self.in_value)
        self.commit_header();
      self.field.append(at, n);
      return proceed;
    };
    settings.on_header_value = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      self.in_value = true;
      self.value.append(at, n);
      return proceed;
    };
    settings.on_headers_complete = [](http_parser* p) {
      auto& self = *static_cast<impl*>(p->data);
      if (self.in_value)
        self.commit_header();
      auto& req = self.current;
      req.method = to_verb(p->method);
      auto q = self.url.find('?');
      req.path = self.url.substr(0, q);
      if (q != std::string::npos)
        req.query = self.url.substr(q + 1);
      if (p->http_major != 1)
        return self.fail(problem::malformed_request, abort_headers);
      if (p->content_length != std::numeric_limits<uint64_t>::max()
          && p->content_length > self.max_body_bytes)
        return self.fail(problem::message_too_large, abort_headers);
      self.continue_pending = self.expect_continue;
      self.at = phase::body;
      return proceed;
    };
    settings.on_body = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      auto& body = self.current.body;
      if (body.size() + n > self.max_body_bytes)
        return self.fail(problem::message_too_large, abort_parse);
      body.append(at, n);
      return proceed;
    };
    settings.on_message_complete = [](http_parser* p) {
      auto& self = *static_cast<impl*>(p->data);
      self.current.keep_alive = http_should_keep_alive(p) != 0;
      self.continue_pending = false;
      self.at = phase::idle;
      self.header_bytes = 0;
      self.ready = true;
      // One request at a time: the caller serves it before reading on.
      http_parser_pause(p, 1);
      return proceed;
    };
  }

  void commit_header() {
    if (iequals(field, "content-type"))
      current.content_type = value;
    else if (iequals(field, "access-control-request-headers"))
      current.cors_request_headers = value;
    else if (iequals(field, "expect"))
      expect_continue = iequals(value, "100-continue");
    field.clear();
    value.clear();
    in_value = false;
  }

  int fail(problem x, int code) {
    error = x;
    return code;
  }

  /// Ends reading with a failed request `x`; returns `size`.
  size_t reject(problem x, size_t size) {
    current = request{};
    current.failed = true;
    current.keep_alive = false;
    current.error = x;
    ready = true;
    done = true;
    return size;
  }

  http_parser parser;
  http_parser_settings settings;
  size_t max_header_bytes;
  size_t max_body_bytes;
  size_t header_bytes = 0;
  request current;
  std::string url;
  std::string field;
  std::string value;
  bool in_value = false;
  bool expect_continue = false;
  bool continue_pending = false;
  problem error = problem::malformed_request;
  phase at = phase::idle;
  bool ready = false;
  bool done = false;
};

request_reader::request_reader(size_t max_header_bytes,
                               size_t max_body_bytes)
  : impl_(std::make_unique<impl>(max_header_bytes, max_body_bytes)) {
  // nop
}

request_reader::~request_reader() = default;

size_t request_reader::feed(const char* data, size_t size) {
  auto& d = *impl_;
  if (d.done)
    return size;
  if (d.ready || size == 0)
    return 0;
  // Every byte before a request's headers end counts against the header
  // limit, however the bytes are split: the parser sees at most one byte
  // past it, so the verdict never depends on where a read ended.
  auto in_head = d.at != phase::body;
  auto n = in_head ? std::min(size, d.max_header_bytes + 1 - d.header_bytes)
                   : size;
  auto used = http_parser_execute(&d.parser, &d.settings, data, n);
  auto err = HTTP_PARSER_ERRNO(&d.parser);
  if (err == HPE_PAUSED) {
    http_parser_pause(&d.parser, 0);
  } else if (err != HPE_OK) {
    return d.reject(err == HPE_HEADER_OVERFLOW ? problem::request_too_large
                                               : d.error,
                    size);
  }
  if (in_head && d.at != phase::body && !d.ready) {
    d.header_bytes += used;
    if (d.header_bytes > d.max_header_bytes)
      return d.reject(problem::request_too_large, size);
  }
  if (d.ready && d.parser.upgrade) {
    // No protocol upgrades: answer the request, then close.
    d.current.keep_alive = false;
    d.done = true;
    return size;
  }
  return used;
}

bool request_reader::ready() const {
  return impl_->ready;
}

request request_reader::take() {
  impl_->ready = false;
  return std::move(impl_->current);
}

request_reader::phase request_reader::at() const {
  return impl_->at;
}

bool request_reader::take_continue() {
  auto result = impl_->continue_pending;
  impl_->continue_pending = false;
  return result;
}

std::string render_response(const reply& r, bool keep_alive,
                            std::string_view extra_headers, bool head) {
  std::string out;
  out.reserve(192 + r.headers.size() + extra_headers.size() + r.body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  out += reason_phrase(r.status);
  out += "\r\n";
  if (!r.body.empty()) {
    out += "Content-Type: ";
    out += r.content_type;
    out += "\r\n";
  }
  out += "Access-Control-Allow-Origin: *\r\n";
  out += r.headers;
  out += extra_headers;
  if (r.status != 204) {
    out += "Content-Length: ";
    out += std::to_string(r.body.size());
    out += "\r\n";
  }
  out += keep_alive ? "Connection: keep-alive\r\n\r\n"
                    : "Connection: close\r\n\r\n";
  if (!head)
    out += r.body;
  return out;
}

std::string_view continue_response() {
  return "HTTP/1.1 100 Continue\r\n\r\n";
}

} // namespace actormq::http
