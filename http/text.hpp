#pragma once

#include <cctype>
#include <string_view>

namespace actormq::http {

/// Compares ASCII case-insensitively, as HTTP does for names and tokens.
inline bool iequals(std::string_view x, std::string_view y) {
  if (x.size() != y.size())
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(x[i]))
        != std::tolower(static_cast<unsigned char>(y[i])))
      return false;
  return true;
}

} // namespace actormq::http
