// libFuzzer target: arbitrary bytes as a request body, read as JSON and as
// a form. Parsing must never crash or recurse with the input's depth; a
// JSON message it accepts is compact JSON that reads back the same.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "json_api.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actormq;
  using namespace actormq::http;
  std::string_view body{reinterpret_cast<const char*>(data), size};
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
