#include "auth.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <sys/random.h>

#include "text.hpp"

namespace actormq::http::auth {

namespace {

/// Bytes of randomness in a new token.
constexpr size_t token_bytes = 32;

/// The largest auth file read: anything larger is not one.
constexpr size_t max_file_bytes = size_t{1} << 20;

/// The longest queue glob (queue names have at most 80 characters).
constexpr size_t max_glob = 80;

/// The longest token name.
constexpr size_t max_name = 64;

constexpr std::pair<action, std::string_view> action_names[] = {
  {action::send, "send"},
  {action::receive, "receive"},
  {action::manage, "manage"},
  {action::metrics, "metrics"},
};

digest sha256(std::string_view x) {
  // Fetched once: an implicit fetch per digest would search OpenSSL's
  // method store on every request.
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md{
    EVP_MD_fetch(nullptr, "SHA256", nullptr), &EVP_MD_free};
  digest out;
  unsigned size = 0;
  if (!md
      || EVP_Digest(x.data(), x.size(), out.data(), &size, md.get(), nullptr)
           != 1
      || size != out.size())
    throw std::runtime_error("OpenSSL cannot compute SHA-256");
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && is_space(x.front()))
    x.remove_prefix(1);
  while (!x.empty() && is_space(x.back()))
    x.remove_suffix(1);
  return x;
}

/// Splits the next whitespace-separated word off `line`.
std::string_view next_word(std::string_view& line) {
  line = trim(line);
  size_t end = 0;
  while (end < line.size() && !is_space(line[end]))
    ++end;
  auto word = line.substr(0, end);
  line.remove_prefix(end);
  return word;
}

/// `word` quoted for an error text: visible ASCII only, cut short.
std::string quoted(std::string_view word) {
  std::string out = "'";
  for (auto c : word.substr(0, 80))
    out += c > 0x20 && c < 0x7f ? c : '?';
  return out + (word.size() > 80 ? "...'" : "'");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/// Reads 64 lowercase hex digits.
bool parse_digest(std::string_view hex, digest& out) {
  if (hex.size() != 2 * out.size())
    return false;
  for (size_t i = 0; i < out.size(); ++i) {
    auto hi = hex_value(hex[2 * i]);
    auto lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

bool valid_glob(std::string_view glob) {
  if (glob.empty() || glob.size() > max_glob)
    return false;
  for (auto c : glob)
    if (!std::isalnum(static_cast<unsigned char>(c))
        && std::strchr("_.-*?", c) == nullptr)
      return false;
  return true;
}

} // namespace

std::string_view name_of(action a) {
  for (auto& [x, name] : action_names)
    if (x == a)
      return name;
  return {};
}

bool glob_matches(std::string_view glob, std::string_view name) {
  // Greedy, backtracking only to the last '*': O(|glob| * |name|).
  size_t g = 0;
  size_t n = 0;
  auto star = std::string_view::npos;
  size_t resume = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      resume = n;
    } else if (g < glob.size() && (glob[g] == '?' || glob[g] == name[n])) {
      ++g;
      ++n;
    } else if (star != std::string_view::npos) {
      g = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*')
    ++g;
  return g == glob.size();
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > max_name)
    return false;
  for (auto c : name)
    if (c <= 0x20 || c >= 0x7f || c == '#')
      return false;
  return true;
}

bool grants::allows(action a, std::string_view queue) const {
  if (everything_)
    return true;
  if (a == action::metrics)
    return metrics_;
  for (auto& [x, glob] : globs_)
    if (x == a && glob_matches(glob, queue))
      return true;
  return false;
}

bool grants::may_see(std::string_view queue) const {
  if (everything_)
    return true;
  for (auto& [x, glob] : globs_)
    if (glob_matches(glob, queue))
      return true;
  return false;
}

std::string grants::add(std::string_view word) {
  if (word == "*") {
    everything_ = true;
    return {};
  }
  if (word == "metrics") {
    metrics_ = true;
    return {};
  }
  auto colon = word.find(':');
  auto kind = word.substr(0, colon);
  for (auto& [a, name] : action_names) {
    if (a == action::metrics || kind != name)
      continue;
    if (colon == std::string_view::npos)
      return "grant " + quoted(word) + " needs a queue glob: "
             + std::string{name} + ":GLOB";
    auto glob = word.substr(colon + 1);
    if (!valid_glob(glob))
      return "grant " + quoted(word) + ": a GLOB is 1-80 characters of "
             + "A-Z a-z 0-9 _ . - * ?";
    globs_.emplace_back(a, std::string{glob});
    return {};
  }
  return "unknown grant " + quoted(word) + "; grants are send:GLOB, "
         + "receive:GLOB, manage:GLOB, metrics and *";
}

// Timing: a presented token is hashed before anything compares it, so all
// a lookup's time can depend on (its bucket, the digests compared) is
// SHA-256 digests, which no one can steer toward a stored one without
// inverting SHA-256; and digests are compared in constant time
// (CRYPTO_memcmp), never by how many leading bytes match.

size_t token_set::digest_hash::operator()(const digest& d) const {
  size_t h;
  std::memcpy(&h, d.data(), sizeof(h));
  return h;
}

bool token_set::digest_equal::operator()(const digest& x,
                                         const digest& y) const {
  return CRYPTO_memcmp(x.data(), y.data(), x.size()) == 0;
}

load_result token_set::parse(std::string_view text,
                              std::string_view file_name) {
  auto result = std::make_shared<token_set>();
  std::unordered_map<std::string_view, size_t> name_lines;
  std::unordered_map<digest, size_t, digest_hash, digest_equal> digest_lines;
  size_t number = 0;
  auto fail = [&](const std::string& what) {
    return load_error{std::string{file_name} + ":" + std::to_string(number)
                      + ": " + what};
  };
  for (size_t pos = 0; pos < text.size();) {
    ++number;
    auto eol = std::min(text.find('\n', pos), text.size());
    auto line = text.substr(pos, eol - pos);
    pos = eol + 1;
    line = line.substr(0, line.find('#'));
    auto name = next_word(line);
    if (name.empty())
      continue;
    if (!valid_name(name))
      return fail("token name " + quoted(name) + " is not 1-64 visible "
                  "ASCII characters but '#'");
    if (auto [i, added] = name_lines.emplace(name, number); !added)
      return fail("token name " + quoted(name) + " is on line "
                  + std::to_string(i->second) + " already");
    digest d;
    auto second = next_word(line);
    std::string_view secret;
    if (second.substr(0, sigv4_prefix.size()) == sigv4_prefix) {
      secret = second.substr(sigv4_prefix.size());
      if (secret.empty())
        return fail("sigv4: must be followed by the token itself");
      d = sha256(secret);
    } else if (!parse_digest(second, d)) {
      return fail("after the name comes the token's SHA-256 as 64 lowercase "
                  "hex digits, or sigv4:TOKEN (actormq --new-token=NAME "
                  "prints the line)");
    }
    if (auto [i, added] = digest_lines.emplace(d, number); !added)
      return fail("the same token as line " + std::to_string(i->second));
    grants g;
    for (auto word = next_word(line); !word.empty(); word = next_word(line))
      if (auto err = g.add(word); !err.empty())
        return fail(err);
    auto& held = result->tokens_.emplace(d, std::move(g)).first->second;
    if (!secret.empty())
      result->signers_.emplace(std::string{name},
                               signer{std::string{secret}, &held});
  }
  return result;
}

load_result token_set::load(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return load_error{path + ": cannot be read (" + std::strerror(errno)
                      + ")"};
  std::string text(max_file_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad())
    return load_error{path + ": cannot be read"};
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > max_file_bytes)
    return load_error{path + ": is over 1 MiB, too large for an auth file"};
  return parse(text, path);
}

const token_set::signer* token_set::signer_named(std::string_view name) const {
  auto i = signers_.find(std::string{name});
  return i == signers_.end() ? nullptr : &i->second;
}

caller token_set::identify(std::string_view authorization) const {
  caller result;
  auto token = bearer_token(authorization);
  if (token.empty())
    return result;
  result.presented = true;
  if (auto i = tokens_.find(sha256(token)); i != tokens_.end())
    result.token = &i->second;
  return result;
}

std::string_view bearer_token(std::string_view authorization) {
  auto rest = trim(authorization);
  auto scheme = next_word(rest);
  if (!iequals(scheme, "Bearer"))
    return {};
  return trim(rest);
}

std::string digest_hex(std::string_view token) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (auto b : sha256(token)) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

std::string new_token() {
  unsigned char bytes[token_bytes];
  // The kernel's CSPRNG; getrandom() blocks only until it is seeded at boot.
  size_t got = 0;
  while (got < sizeof(bytes)) {
    auto n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0)
      got += static_cast<size_t>(n);
    else if (n < 0 && errno != EINTR)
      throw std::runtime_error(std::string{"the kernel's random generator "
                                           "failed: "}
                               + std::strerror(errno));
  }
  // Base64 of 32 bytes: 44 characters with one '=', and a NUL.
  unsigned char text[4 * ((token_bytes + 2) / 3) + 1];
  auto size = EVP_EncodeBlock(text, bytes, sizeof(bytes));
  std::string out;
  for (int i = 0; i < size && text[i] != '='; ++i)
    out += text[i] == '+' ? '-' : text[i] == '/' ? '_' : char(text[i]);
  OPENSSL_cleanse(bytes, sizeof(bytes));
  return out;
}

} // namespace actormq::http::auth
