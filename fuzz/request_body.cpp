// libFuzzer target: arbitrary bytes as the body of every route, read as
// JSON and as a form, and as a query string. Parsing must never crash or
// recurse with the input's depth, and always ends in a call or an error
// reply; a JSON message that the enqueue parser accepts is compact JSON
// that reads back the same.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "api.hpp"
#include "json_api.hpp"

namespace {

using namespace actormq;
using namespace actormq::http;

/// Every route that reads a query or a body.
constexpr std::pair<verb, std::string_view> routes[] = {
  {verb::post, "/enqueue"},
  {verb::put, "/queues/q"},
  {verb::post, "/queues/q/messages"},
  {verb::post, "/queues/q/receive"},
  {verb::post, "/queues/q/ack"},
  {verb::post, "/queues/q/release"},
  {verb::post, "/queues/q/extend"},
  {verb::get, "/queues/q/peek"},
};

constexpr std::string_view content_types[] = {
  "application/json",
  "application/x-www-form-urlencoded",
  "text/plain",
};

void parse_everywhere(std::string_view input) {
  api_limits limits;
  for (auto& [method, path] : routes) {
    auto m = match_route(method, path);
    if (m.result != route_match::outcome::found)
      std::abort();
    for (auto type : content_types) {
      auto body = parse_call(m, route_input{{}, type, input}, limits);
      auto query = parse_call(m, route_input{input, type, {}}, limits);
      if (body.valueless_by_exception() || query.valueless_by_exception())
        std::abort();
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body{reinterpret_cast<const char*>(data), size};
  parse_everywhere(body);
  parse_enqueue("application/x-www-form-urlencoded", body);
  auto x = parse_enqueue("application/json", body);
  auto p = std::get_if<payload>(&x);
  if (!p || p->kind != payload_kind::json)
    return 0;
  auto back = nlohmann::json::parse(p->body, nullptr, false);
  if (back.is_discarded() || back.dump() != p->body)
    std::abort();
  return 0;
}
