// libFuzzer target: arbitrary bytes as what a client sends on one
// connection. The request reader must never crash, hang or read out of
// bounds; it must read the same requests and reach the same verdict
// whether the bytes come all at once, one at a time or in pieces of 7;
// and what it accepts must keep RFC 9112's rules (a path of visible ASCII
// that starts with '/' or is '*', nothing read after a refusal).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "wire.hpp"

namespace {

using actormq::http::request;

/// A request as read, and whether the reader asked for a 100 Continue
/// while reading it.
struct read_request {
  request req;
  bool invited = false;
};

/// Every request in `bytes`, fed in pieces of `piece` bytes.
std::vector<read_request> requests_in(std::string_view bytes, size_t piece) {
  actormq::http::request_reader reader{1024, 4096};
  std::vector<read_request> result;
  auto invited = false;
  while (!bytes.empty()) {
    auto next = bytes.substr(0, piece);
    bytes.remove_prefix(next.size());
    do {
      next.remove_prefix(reader.feed(next.data(), next.size()));
      invited = reader.take_continue() || invited;
      if (reader.ready()) {
        result.push_back({reader.take(), invited});
        invited = false;
      }
    } while (!next.empty());
  }
  return result;
}

/// What every request the reader lets through must hold.
bool well_formed(const std::vector<read_request>& xs) {
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& x = xs[i].req;
    if (x.failed) {
      if (i + 1 != xs.size() || x.keep_alive)
        return false;
      continue;
    }
    if (x.path.empty() || (x.path.front() != '/' && x.path != "*"))
      return false;
    for (auto c : x.path + x.query)
      if (c <= 0x20 || c >= 0x7f)
        return false;
  }
  return true;
}

/// Whether `a` and `b` are the same request, field by field.
bool same(const read_request& a, const read_request& b) {
  auto& x = a.req;
  auto& y = b.req;
  return a.invited == b.invited && x.method == y.method && x.path == y.path && x.query == y.query
         && x.content_type == y.content_type
         && x.cors_request_headers == y.cors_request_headers
         && x.authorization == y.authorization
         && x.body == y.body && x.keep_alive == y.keep_alive
         && x.failed == y.failed && x.error == y.error;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto at_once = requests_in(bytes, bytes.size());
  if (!well_formed(at_once))
    std::abort();
  for (size_t piece : {size_t{1}, size_t{7}}) {
    auto split = requests_in(bytes, piece);
    if (at_once.size() != split.size())
      std::abort();
    for (size_t i = 0; i < at_once.size(); ++i)
      if (!same(at_once[i], split[i]))
        std::abort();
  }
  return 0;
}
