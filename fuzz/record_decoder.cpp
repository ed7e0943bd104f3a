// libFuzzer target: arbitrary bytes as a stored key and value. The decoder
// must report what is wrong, never crash, hang or read out of bounds; what
// it accepts must encode back to the same value (a record of an older
// version: to one that decodes and encodes the same again).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "actormq/records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actormq::records;
  if (size == 0)
    return 0;
  // The first byte says how long the key is; the rest is the value.
  auto key_len = static_cast<size_t>(data[0]);
  std::string_view rest{reinterpret_cast<const char*>(data + 1), size - 1};
  auto key = rest.substr(0, key_len);
  auto value = rest.substr(key.size());
  auto x = decode(key, value);
  if (x.value.has_value() == !x.error.empty())
    std::abort();
  if (!x.value)
    return 0;
  auto same = std::visit(
    [&](const auto& r) -> bool {
      using T = std::decay_t<decltype(r)>;
      if constexpr (std::is_same_v<T, format_marker>) {
        return r.value == value;
      } else {
        auto bytes = encode(r);
        if (static_cast<uint8_t>(value[0]) == current_version)
          return bytes == value;
        auto again = decode(key, bytes);
        return again.value
               && encode(std::get<T>(*again.value)) == bytes;
      }
    },
    *x.value);
  if (!same)
    std::abort();
  return 0;
}
