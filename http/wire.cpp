#include "wire.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <vector>

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
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
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

/// RFC 9110 tchar: what a method or a header name is made of.
bool is_tchar(unsigned char c) {
  return std::isalnum(c) || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c));
}

bool all_tchars(std::string_view x) {
  return !x.empty()
         && std::all_of(x.begin(), x.end(), [](char c) {
              return is_tchar(static_cast<unsigned char>(c));
            });
}

/// A request target is visible ASCII only (RFC 9112 §3.2).
bool visible_ascii(std::string_view x) {
  return std::all_of(x.begin(), x.end(),
                     [](char c) { return c > 0x20 && c < 0x7f; });
}

/// A field value holds no control character but HTAB (RFC 9110 §5.5).
bool valid_field_value(std::string_view x) {
  return std::none_of(x.begin(), x.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

bool all_digits(std::string_view x) {
  return std::all_of(x.begin(), x.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

/// RFC 9110 §7.2 / RFC 3986: uri-host [":" port], or empty.
bool valid_host(std::string_view x) {
  if (!x.empty() && x.front() == '[') {
    auto end = x.find(']');
    if (end == std::string_view::npos || end == 1)
      return false;
    auto inside = x.substr(1, end - 1);
    auto rest = x.substr(end + 1);
    return std::all_of(inside.begin(), inside.end(),
                       [](char c) {
                         return std::isxdigit(static_cast<unsigned char>(c))
                                || c == ':' || c == '.';
                       })
           && (rest.empty()
               || (rest.front() == ':' && all_digits(rest.substr(1))));
  }
  auto colon = x.find(':');
  if (colon != std::string_view::npos && !all_digits(x.substr(colon + 1)))
    return false;
  auto host = x.substr(0, colon);
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c))
           || (c != 0 && std::strchr("-._~%!$&'()*+,;=", c));
  });
}

/// The bytes between a body's data: request line, header and trailer
/// lines, chunk-size lines. http-parser as Debian builds it (non-strict)
/// lets through what RFC 9112 forbids there: this checks each such byte,
/// in order, however the bytes are split.
class framing_scanner {
public:
  /// Whether `c` may come next.
  bool take(char c) {
    if (crlf_due > 0) {
      auto want = crlf_due == 2 ? '\r' : '\n';
      --crlf_due;
      if (c != want)
        return false;
    }
    if (cr_ && c != '\n')
      return false; // a CR is always the first half of a CRLF
    if (c == '\n' && !cr_)
      return false; // a bare LF
    if (line_start_ && (c == ' ' || c == '\t'))
      return false; // obs-fold (or a line starting with whitespace)
    cr_ = c == '\r';
    line_start_ = c == '\n';
    if (prefix_.size() < 5 && (!prefix_.empty() || (c != '\r' && c != '\n')))
      prefix_ += c;
    return true;
  }

  /// Chunk data ended: a CRLF must follow it.
  void chunk_data_ended() {
    crlf_due = 2;
  }

  /// A request ended: the next byte may begin another.
  void request_ended() {
    prefix_.clear();
  }

  /// Whether the bytes of this request so far begin with "HEAD ".
  bool head() const {
    return prefix_ == "HEAD ";
  }

private:
  std::string prefix_;
  int crlf_due = 0;
  bool cr_ = false;
  bool line_start_ = true;
};

/// Whether a request line without a method http-parser knows is well
/// formed (token SP target SP HTTP/d.d CRLF): then 501, else 400.
class method_line {
public:
  /// The verdict so far: open (needs more bytes), 501 or 400.
  enum class verdict : uint8_t { open, not_implemented, malformed };

  /// `began`: the method's first bytes were taken already.
  explicit method_line(bool began) : method_(began ? 1 : 0) {
    // nop
  }

  verdict take(char c) {
    auto u = static_cast<unsigned char>(c);
    switch (part_) {
      case 0: // the method
        if (is_tchar(u)) {
          ++method_;
          return verdict::open;
        }
        return next(c == ' ' && method_ > 0);
      case 1: // the target
        if (u > 0x20 && u < 0x7f) {
          ++target_;
          return verdict::open;
        }
        return next(c == ' ' && target_ > 0);
      default: { // "HTTP/d.d\r\n"
        static constexpr std::string_view shape = "HTTP/#.#\r\n";
        auto want = shape[version_++];
        auto ok = want == '#' ? std::isdigit(u) != 0 : c == want;
        if (!ok)
          return verdict::malformed;
        return version_ == shape.size() ? verdict::not_implemented
                                        : verdict::open;
      }
    }
  }

private:
  verdict next(bool ok) {
    ++part_;
    return ok ? verdict::open : verdict::malformed;
  }

  size_t method_;
  size_t target_ = 0;
  size_t version_ = 0;
  int part_ = 0;
};

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
      self.in_request_line = true;
      self.expect_continue = false;
      self.hosts = 0;
      self.host_valid = true;
      self.authorizations = 0;
      self.transfer_encodings = 0;
      self.chunked_only = false;
      self.head_error.reset();
      self.at = phase::head;
      return proceed;
    };
    settings.on_url = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      self.url.append(at, n);
      if (!visible_ascii({at, n}))
        return self.fail(problem::malformed_request, abort_parse);
      return proceed;
    };
    settings.on_header_field = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      self.in_request_line = false;
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
      self.in_request_line = false;
      if (self.in_value)
        self.commit_header();
      self.current.method = to_verb(p->method);
      if (auto x = self.check_head(*p))
        return self.fail(*x, abort_headers);
      self.continue_pending = self.expect_continue && p->http_minor >= 1;
      self.at = phase::body;
      return proceed;
    };
    settings.on_chunk_header = [](http_parser* p) {
      auto& self = *static_cast<impl*>(p->data);
      self.chunk_left = p->content_length;
      return proceed;
    };
    settings.on_body = [](http_parser* p, const char* at, size_t n) {
      auto& self = *static_cast<impl*>(p->data);
      auto ends_chunk = false;
      if ((p->flags & F_CHUNKED) != 0) {
        self.chunk_left -= std::min<uint64_t>(self.chunk_left, n);
        ends_chunk = self.chunk_left == 0;
      }
      self.data_spans.push_back({at, n, ends_chunk});
      auto& body = self.current.body;
      if (body.size() + n > self.max_body_bytes)
        return self.fail(problem::message_too_large, abort_parse);
      body.append(at, n);
      return proceed;
    };
    settings.on_message_complete = [](http_parser* p) {
      auto& self = *static_cast<impl*>(p->data);
      // HTTP/1.0 with Transfer-Encoding: framing the peer may read
      // otherwise; answer, then close (RFC 9112 §6.1).
      self.current.keep_alive = http_should_keep_alive(p) != 0
                                && !(p->http_minor == 0
                                     && self.transfer_encodings > 0);
      self.continue_pending = false;
      self.at = phase::idle;
      self.header_bytes = 0;
      self.ready = true;
      // One request at a time: the caller serves it before reading on.
      http_parser_pause(p, 1);
      return proceed;
    };
  }

  /// Records a header field; trailer fields never change how a request is
  /// read (RFC 9110 §6.5.1): they are dropped. Whitespace around a value
  /// is not part of it (RFC 9110 §5.5; http-parser drops the leading).
  void commit_header() {
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
      value.pop_back();
    if (at == phase::head) {
      if (iequals(field, "content-type"))
        current.content_type = value;
      else if (iequals(field, "access-control-request-headers"))
        current.cors_request_headers = value;
      else if (iequals(field, "expect"))
        expect_continue = iequals(value, "100-continue");
      else if (iequals(field, "host")) {
        host_valid = ++hosts == 1 && valid_host(value);
        current.host = value;
      } else if (iequals(field, "x-amz-target"))
        current.amz_target = value;
      else if (iequals(field, "authorization"))
        current.authorization = ++authorizations == 1 ? value : std::string{};
      else if (iequals(field, "transfer-encoding"))
        chunked_only = ++transfer_encodings == 1 && iequals(value, "chunked");
      if (!all_tchars(field) || !valid_field_value(value))
        head_error = problem::malformed_request;
      if (may_be_sqs()) {
        for (char c : field)
          current.headers += static_cast<char>(
            std::tolower(static_cast<unsigned char>(c)));
        current.headers += ':';
        current.headers += value;
        current.headers += '\n';
      }
    }
    field.clear();
    value.clear();
    in_value = false;
  }

  /// Whether the target may be an SQS request's (`/`, `/?...`, a queue
  /// URL's `/<digits>/...`, or an absolute form): only those keep every
  /// header (see request::headers), which a signature may sign.
  bool may_be_sqs() const {
    return url.empty() || url.front() != '/' || url.size() == 1
           || url[1] == '?'
           || std::isdigit(static_cast<unsigned char>(url[1]));
  }

  /// The rules for a request's head once it is in: what is wrong, if
  /// anything. Sets the path and query from the target (origin form, or
  /// absolute form with http or https).
  std::optional<problem> check_head(const http_parser& p) {
    if (head_error)
      return head_error;
    if (p.http_major != 1)
      return p.http_major >= 2 ? problem::version_not_supported
                               : problem::malformed_request;
    // Framed as chunked by the one Transfer-Encoding line, and so read by
    // http-parser too: were it to disagree (it reads the value itself),
    // the bytes of a body could be read as a request.
    if (transfer_encodings > 0
        && (!chunked_only || (p.flags & F_CHUNKED) == 0))
      return problem::malformed_request;
    if (!host_valid || (hosts == 0 && p.http_minor >= 1))
      return problem::invalid_host;
    std::string_view target = url;
    constexpr std::string_view schemes[] = {"http://", "https://"};
    for (auto scheme : schemes) {
      if (target.size() >= scheme.size()
          && iequals(target.substr(0, scheme.size()), scheme)) {
        // absolute-form: the authority is the host; the path follows it.
        target.remove_prefix(scheme.size());
        target.remove_prefix(std::min(target.find_first_of("/?"),
                                      target.size()));
      }
    }
    auto q = target.find('?');
    current.path = target.substr(0, q);
    if (current.path.empty())
      current.path = "/";
    // Origin form, or '*' (OPTIONS); no other scheme, no authority form.
    if (current.path.front() != '/' && current.path != "*")
      return problem::malformed_request;
    if (q != std::string_view::npos)
      current.query = target.substr(q + 1);
    if (p.content_length != std::numeric_limits<uint64_t>::max()
        && p.content_length > max_body_bytes)
      return problem::message_too_large;
    return std::nullopt;
  }

  int fail(problem x, int code) {
    error = x;
    return code;
  }

  /// Ends reading with a failed request `x`; returns `size`. Its method
  /// is HEAD if its bytes began so (its error reply has no body then),
  /// else `other`: what the scanner saw, however the bytes were split.
  size_t reject(problem x, size_t size) {
    current = request{};
    current.method = scanner.head() ? verb::head : verb::other;
    current.failed = true;
    current.keep_alive = false;
    current.error = x;
    continue_pending = false;
    ready = true;
    done = true;
    return size;
  }

  /// Runs the scanner over the framing bytes of `data[0, used)` (what is
  /// not body data); false at the first byte it refuses.
  bool scan(const char* data, size_t used) {
    auto pos = data;
    auto end = data + used;
    for (auto& span : data_spans) {
      for (; pos < span.at; ++pos)
        if (!scanner.take(*pos))
          return false;
      pos = span.at + span.size;
      if (span.ends_chunk)
        scanner.chunk_data_ended();
    }
    data_spans.clear();
    for (; pos < end; ++pos)
      if (!scanner.take(*pos))
        return false;
    return true;
  }

  /// Feeds a request line whose method http-parser does not know to
  /// `unknown`; returns the bytes used.
  size_t feed_unknown_method(const char* data, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      if (++header_bytes > max_header_bytes)
        return reject(problem::target_too_long, size);
      switch (unknown->take(data[i])) {
        case method_line::verdict::open:
          continue;
        case method_line::verdict::not_implemented:
          return reject(problem::not_implemented, size);
        case method_line::verdict::malformed:
          return reject(problem::malformed_request, size);
      }
    }
    return size;
  }

  struct data_span {
    const char* at;
    size_t size;
    bool ends_chunk;
  };

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
  bool in_request_line = false;
  bool expect_continue = false;
  bool continue_pending = false;
  size_t hosts = 0;
  bool host_valid = true;
  size_t authorizations = 0;
  size_t transfer_encodings = 0;
  bool chunked_only = false;
  std::optional<problem> head_error;
  uint64_t chunk_left = 0;
  std::vector<data_span> data_spans;
  framing_scanner scanner;
  std::optional<method_line> unknown;
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
  if (d.unknown)
    return d.feed_unknown_method(data, size);
  // Every byte before a request's headers end counts against the header
  // limit, however the bytes are split: the parser sees at most one byte
  // past it, so the verdict never depends on where a read ended.
  auto in_head = d.at != phase::body;
  auto n = in_head ? std::min(size, d.max_header_bytes + 1 - d.header_bytes)
                   : size;
  auto used = http_parser_execute(&d.parser, &d.settings, data, n);
  auto err = HTTP_PARSER_ERRNO(&d.parser);
  // The framing bytes come first: a byte the scanner refuses precedes any
  // error the parser found after it.
  if (!d.scan(data, used))
    return d.reject(problem::malformed_request, size);
  if (err == HPE_PAUSED) {
    http_parser_pause(&d.parser, 0);
    d.scanner.request_ended();
  } else if (err == HPE_INVALID_METHOD) {
    // A method token http-parser does not know: 501 if the request line
    // is well formed, else 400 (the parser has taken the method's first
    // bytes if the request began).
    d.header_bytes += used;
    d.unknown.emplace(d.at == phase::head);
    return used + d.feed_unknown_method(data + used, size - used);
  } else if (err != HPE_OK) {
    return d.reject(err == HPE_HEADER_OVERFLOW ? problem::request_too_large
                                               : d.error,
                    size);
  }
  if (in_head && d.at != phase::body && !d.ready) {
    d.header_bytes += used;
    if (d.header_bytes > d.max_header_bytes)
      return d.reject(d.in_request_line ? problem::target_too_long
                                        : problem::request_too_large,
                      size);
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

const request& request_reader::pending() const {
  return impl_->current;
}

bool request_reader::take_continue() {
  auto result = impl_->continue_pending;
  impl_->continue_pending = false;
  return result;
}

/// The Date header's value now (RFC 9110 §5.6.7), made once a second per
/// thread.
std::string_view http_date() {
  thread_local std::time_t last = -1;
  thread_local char text[32];
  auto now = std::time(nullptr);
  if (now != last) {
    std::tm t{};
    gmtime_r(&now, &t);
    std::strftime(text, sizeof(text), "%a, %d %b %Y %H:%M:%S GMT", &t);
    last = now;
  }
  return text;
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
  out += "Date: ";
  out += http_date();
  out += "\r\nAccess-Control-Allow-Origin: *\r\n";
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
