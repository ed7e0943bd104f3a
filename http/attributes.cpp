#include "attributes.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <openssl/evp.h>

#include "text.hpp"

namespace actormq::http {

namespace {

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'
         || c == '.';
}

bool starts_with_icase(std::string_view x, std::string_view prefix) {
  return x.size() >= prefix.size()
         && iequals(x.substr(0, prefix.size()), prefix);
}

std::optional<std::string> name_problem(std::string_view x) {
  if (x.empty() || x.size() > 256
      || !std::all_of(x.begin(), x.end(), name_char))
    return "is not 1-256 of A-Z, a-z, 0-9, '_', '-' and '.'";
  if (starts_with_icase(x, "AWS.") || starts_with_icase(x, "Amazon."))
    return "starts with a prefix AWS reserves (AWS. or Amazon.)";
  if (x.front() == '.' || x.back() == '.'
      || x.find("..") != std::string_view::npos)
    return "starts or ends with '.', or has '..'";
  return std::nullopt;
}

/// The type without its label: "String", "Number" or "Binary"; empty if
/// `type` is none of them.
std::string_view base_type(std::string_view type) {
  if (type.size() > 256)
    return {};
  auto dot = type.find('.');
  auto base = type.substr(0, dot);
  if (base != "String" && base != "Number" && base != "Binary")
    return {};
  if (dot != std::string_view::npos) {
    auto label = type.substr(dot + 1);
    if (label.empty() || !std::all_of(label.begin(), label.end(), name_char))
      return {};
  }
  return base;
}

bool valid_number(std::string_view x) {
  double n = 0;
  if (x.size() > 1 && x.front() == '+' && (x[1] == '-' || x[1] == '+'))
    return false;
  auto first = x.data() + (!x.empty() && x.front() == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(first, x.data() + x.size(), n);
  return ec == std::errc{} && ptr == x.data() + x.size() && std::isfinite(n);
}

} // namespace

std::optional<std::string>
attribute_problem(const std::vector<message_attribute>& xs) {
  if (xs.size() > max_message_attributes)
    return "a message has at most " + std::to_string(max_message_attributes)
           + " attributes";
  for (size_t i = 0; i < xs.size(); ++i) {
    auto& a = xs[i];
    auto what = "attribute '" + a.name + "' ";
    if (auto p = name_problem(a.name))
      return "attribute name " + *p;
    for (size_t j = 0; j < i; ++j)
      if (xs[j].name == a.name)
        return what + "is named twice";
    auto base = base_type(a.type);
    if (base.empty())
      return what + "has a type other than String, Number or Binary "
                    "(with an optional .label)";
    if (a.value.empty())
      return what + "has an empty value";
    if (base != "Binary" && !valid_message_text(a.value))
      return what + "has characters a message may not hold";
    if (base == "Number" && !valid_number(a.value))
      return what + "is not a finite decimal number";
  }
  return std::nullopt;
}

bool is_binary(std::string_view type) {
  return base_type(type) == "Binary";
}

bool valid_message_text(std::string_view x) {
  return each_code_point(x, [](uint32_t c) {
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF)
           || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
  });
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(bytes.data()),
                           static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty())
    return std::string{};
  if (text.size() % 4 != 0)
    return std::nullopt;
  // EVP_DecodeBlock takes more than RFC 4648 does ('=' within, spaces and
  // '-' at the end): only the alphabet, and '=' as the last one or two.
  auto last = text.find_last_not_of('=');
  auto pad = last == std::string_view::npos ? text.size()
                                            : text.size() - last - 1;
  if (pad > 2)
    return std::nullopt;
  for (auto c : text.substr(0, text.size() - pad))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/')
      return std::nullopt;
  std::string out(3 * (text.size() / 4) + 1, '\0');
  auto n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(text.data()),
                           static_cast<int>(text.size()));
  if (n < 0)
    return std::nullopt;
  // EVP_DecodeBlock counts the padding's bytes as zeros.
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

} // namespace actormq::http
