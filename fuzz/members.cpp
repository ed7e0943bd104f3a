// libFuzzer target: arbitrary bytes as a --cluster member list. Parsing
// must never crash; a list it refuses says why; a list it takes has valid,
// unique names and addresses, reads back the same when written out again,
// and every queue name has an owner among its members.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "actormq/cluster.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actormq;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  std::string err;
  auto xs = parse_members(text, err);
  if (xs.empty()) {
    if (err.empty())
      std::abort();
    return 0;
  }
  std::set<std::string> names;
  std::set<std::pair<std::string, uint16_t>> addresses;
  std::string again;
  for (auto& x : xs) {
    if (!valid_node_name(x.name) || x.host.empty() || x.port == 0
        || !names.insert(x.name).second
        || !addresses.insert({x.host, x.port}).second)
      std::abort();
    if (!again.empty())
      again += ',';
    again += x.name + "@[" + x.host + "]:" + std::to_string(x.port);
  }
  std::string err2;
  auto ys = parse_members(again, err2);
  if (ys.size() != xs.size())
    std::abort();
  for (size_t i = 0; i < xs.size(); ++i)
    if (ys[i].name != xs[i].name || ys[i].host != xs[i].host
        || ys[i].port != xs[i].port)
      std::abort();
  if (owner_of(text, xs) >= xs.size())
    std::abort();
  return 0;
}
