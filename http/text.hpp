#pragma once

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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

/// The part of `rest` before its first `sep` (all of it if none); `rest`
/// keeps what follows that `sep`.
inline std::string_view take_until(std::string_view& rest, char sep) {
  auto at = rest.find(sep);
  auto part = rest.substr(0, at);
  rest = at == std::string_view::npos ? std::string_view{}
                                      : rest.substr(at + 1);
  return part;
}

/// `x` without the spaces and tabs around it.
inline std::string_view trim(std::string_view x) {
  while (!x.empty() && (x.front() == ' ' || x.front() == '\t'))
    x.remove_prefix(1);
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t'))
    x.remove_suffix(1);
  return x;
}

/// The value of hex digit `c` (either case), or -1.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Decodes the %-escapes of `x` (and '+' as a space if `plus_is_space`,
/// as forms have it); nothing if an escape is malformed.
inline std::optional<std::string> percent_decode(std::string_view x,
                                                 bool plus_is_space) {
  std::string out;
  out.reserve(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (x[i] == '%') {
      if (i + 2 >= x.size() || hex_value(x[i + 1]) < 0
          || hex_value(x[i + 2]) < 0)
        return std::nullopt;
      out += static_cast<char>(hex_value(x[i + 1]) * 16 + hex_value(x[i + 2]));
      i += 2;
    } else {
      out += x[i];
    }
  }
  return out;
}

/// `n` bytes at `p` as lowercase hex.
inline std::string hex_lower(const unsigned char* p, size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 0xF];
  }
  return out;
}

/// Calls `f` with each code point of UTF-8 `x` while it returns true;
/// returns false if `x` is not UTF-8 (a bad sequence, an overlong form, a
/// surrogate, past U+10FFFF) or `f` returned false.
template <class F>
bool each_code_point(std::string_view x, F f) {
  auto p = reinterpret_cast<const unsigned char*>(x.data());
  auto end = p + x.size();
  while (p < end) {
    unsigned char c = *p;
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      n = 0;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (static_cast<size_t>(end - p) <= n)
      return false;
    for (size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    static constexpr uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    if (!f(cp))
      return false;
    p += n + 1;
  }
  return true;
}

} // namespace actormq::http
