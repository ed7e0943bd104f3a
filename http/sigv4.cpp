#include "sigv4.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "text.hpp"

namespace actormq::http::sigv4 {

namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";

std::string sha256_hex(std::string_view x) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(x.data(), x.size(), out, &size, EVP_sha256(), nullptr);
  return hex_lower(out, size);
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

/// Percent-encodes all but RFC 3986's unreserved characters (and '/' if
/// `keep_slash`), as SigV4's canonical form does.
std::string uri_encode(std::string_view x, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : x) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'
        || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 0xF];
    }
  }
  return out;
}

/// The canonical query: each parameter decoded and encoded again, sorted.
std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> xs;
  while (!query.empty()) {
    auto field = take_until(query, '&');
    if (field.empty())
      continue;
    auto eq = field.find('=');
    auto value = eq == std::string_view::npos ? std::string_view{}
                                              : field.substr(eq + 1);
    // Decoded ('+' is itself) and encoded again; a bad escape as it is.
    auto key = field.substr(0, eq);
    xs.emplace_back(
      uri_encode(percent_decode(key, false).value_or(std::string{key}), false),
      uri_encode(percent_decode(value, false).value_or(std::string{value}),
                 false));
  }
  std::sort(xs.begin(), xs.end());
  std::string out;
  for (auto& [k, v] : xs) {
    if (!out.empty())
      out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

/// The values of header `name` in `headers` (see request::headers),
/// trimmed, inner runs of spaces made one, joined by ','; nothing if it
/// is absent.
std::optional<std::string> header(std::string_view headers,
                                  std::string_view name) {
  std::optional<std::string> out;
  while (!headers.empty()) {
    auto line = take_until(headers, '\n');
    auto colon = line.find(':');
    if (line.substr(0, colon) != name)
      continue;
    auto value = trim(line.substr(colon + 1));
    std::string v;
    for (auto c : value)
      if (c != ' ' || v.empty() || v.back() != ' ')
        v += c;
    if (out)
      *out += ',' + v;
    else
      out = std::move(v);
  }
  return out;
}

/// Reads `YYYYMMDDTHHMMSSZ`.
std::optional<std::chrono::system_clock::time_point>
parse_amz_date(std::string_view x) {
  if (x.size() != 16 || x[8] != 'T' || x[15] != 'Z')
    return std::nullopt;
  auto num = [&](size_t at, size_t n, int& out) {
    out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (x[i] < '0' || x[i] > '9')
        return false;
      out = out * 10 + (x[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int year, month;
  if (!num(0, 4, year) || !num(4, 2, month) || !num(6, 2, tm.tm_mday)
      || !num(9, 2, tm.tm_hour) || !num(11, 2, tm.tm_min)
      || !num(13, 2, tm.tm_sec) || month < 1 || month > 12
      || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23
      || tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

/// The most headers a signature may sign.
constexpr size_t max_signed_headers = 64;

/// Reads SignedHeaders: lower-case names in strictly ascending order (so
/// none twice), at most max_signed_headers, each a header the request
/// has, `host` and `x-amz-date` among them, and `x-amz-target` if the
/// request has one (the action is signed). Empty if it breaks a rule.
std::vector<std::string_view> signed_names(std::string_view list,
                                           std::string_view headers) {
  std::vector<std::string_view> out;
  bool host = false;
  bool date = false;
  bool target = false;
  for (auto rest = list; !rest.empty();) {
    auto name = take_until(rest, ';');
    if (name.empty() || out.size() == max_signed_headers
        || (!out.empty() && name <= out.back())
        || std::any_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isupper(c); })
        || !header(headers, name))
      return {};
    host = host || name == "host";
    date = date || name == "x-amz-date";
    target = target || name == "x-amz-target";
    out.push_back(name);
  }
  if (!host || !date || (!target && header(headers, "x-amz-target")))
    return {};
  return out;
}

verdict refuse(sqs::code what, std::string message) {
  return verdict{nullptr, {}, what, std::move(message)};
}

} // namespace

verdict verify(const auth::token_set& tokens, const request& req,
               std::chrono::system_clock::time_point now) {
  std::string_view auth = trim(req.authorization);
  if (auth.empty())
    return refuse(sqs::code::missing_authentication_token,
                  "Request is missing Authentication Token");
  if (auth.substr(0, algorithm.size()) != algorithm)
    return refuse(sqs::code::incomplete_signature,
                  "The request must be signed with AWS4-HMAC-SHA256.");
  auth.remove_prefix(algorithm.size());
  std::string_view credential, signed_headers, signature;
  while (!auth.empty()) {
    auto part = trim(take_until(auth, ','));
    auto eq = part.find('=');
    auto key = part.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{}
                                              : part.substr(eq + 1);
    if (key == "Credential")
      credential = value;
    else if (key == "SignedHeaders")
      signed_headers = value;
    else if (key == "Signature")
      signature = value;
  }
  // Credential: KEY/DATE/REGION/SERVICE/aws4_request.
  auto slash = credential.find('/');
  auto key_id = credential.substr(0, std::min(slash, credential.size()));
  auto scope = slash == std::string_view::npos ? std::string_view{}
                                               : credential.substr(slash + 1);
  auto amz_date = header(req.headers, "x-amz-date");
  auto names = signed_names(signed_headers, req.headers);
  if (key_id.empty() || scope.size() < 22 || names.empty()
      || signature.size() != 64 || !amz_date
      || scope.substr(scope.size() - 17) != "/sqs/aws4_request")
    return refuse(sqs::code::incomplete_signature,
                  "The Authorization header must name Credential (for the "
                  "service sqs), SignedHeaders (host, x-amz-date and "
                  "x-amz-target among them, in order) and Signature, and "
                  "the request must carry X-Amz-Date.");
  auto signer = tokens.signer_named(key_id);
  if (!signer)
    return refuse(sqs::code::invalid_client_token_id,
                  "The security token included in the request is invalid.");
  auto when = parse_amz_date(*amz_date);
  if (!when || scope.substr(0, 8) != std::string_view{*amz_date}.substr(0, 8))
    return refuse(sqs::code::incomplete_signature,
                  "X-Amz-Date must be YYYYMMDDTHHMMSSZ, on the date of the "
                  "credential scope.");
  if (*when > now + max_skew || *when < now - max_skew)
    return refuse(sqs::code::request_expired,
                  "Signature expired: the request's time is more than 15 "
                  "minutes from the server's.");
  std::string canonical;
  canonical += req.method == verb::get    ? "GET"
               : req.method == verb::post ? "POST"
               : req.method == verb::put  ? "PUT"
               : req.method == verb::del  ? "DELETE"
               : req.method == verb::head ? "HEAD"
                                          : "OPTIONS";
  canonical += '\n';
  canonical += uri_encode(req.path, true);
  canonical += '\n';
  canonical += canonical_query(req.query);
  canonical += '\n';
  for (auto name : names) {
    canonical += name;
    canonical += ':';
    canonical += header(req.headers, name).value_or(std::string{});
    canonical += '\n';
  }
  canonical += '\n';
  canonical += signed_headers;
  canonical += '\n';
  canonical += sha256_hex(req.body);
  std::string to_sign{algorithm};
  to_sign += '\n';
  to_sign += *amz_date;
  to_sign += '\n';
  to_sign += scope;
  to_sign += '\n';
  to_sign += sha256_hex(canonical);
  // The key: HMACs of the scope's parts, from "AWS4" and the secret.
  auto key = "AWS4" + signer->secret;
  for (auto rest = scope; !rest.empty();)
    key = hmac(key, take_until(rest, '/'));
  auto expected = hex_lower(
    reinterpret_cast<const unsigned char*>(hmac(key, to_sign).data()), 32);
  if (CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0)
    return refuse(sqs::code::signature_does_not_match,
                  "The request signature we calculated does not match the "
                  "signature you provided.");
  return verdict{signer->token, std::string{key_id}, {}, {}};
}

} // namespace actormq::http::sigv4
