#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

/// Access control of the HTTP frontend (--auth-file): bearer tokens and
/// what each may do. A plain class, no sockets, no actors: the connection
/// asks it once per request; the embedded library never sees it.
///
/// The auth file has one token a line, `NAME SHA256HEX GRANT...`: a name
/// for people, the lowercase hex SHA-256 of the token (the file holds no
/// secret) and its grants: `send:GLOB`, `receive:GLOB`, `manage:GLOB`,
/// `metrics` or `*` (everything). A GLOB matches queue names, `*` any run
/// of characters, `?` any one. `#` starts a comment; blank lines are
/// ignored.
///
/// A token that signs SQS requests (AWS Signature Version 4, with the
/// token's NAME as the access key id and the token as the secret key) is
/// written `NAME sigv4:TOKEN GRANT...`: checking an HMAC takes the secret
/// itself, so for such a token the file holds the secret (see the README).
namespace actormq::http::auth {

/// What a grant allows.
enum class action : uint8_t {
  /// Enqueue (which may create the queue).
  send,
  /// Receive, ack, release, extend, peek.
  receive,
  /// Create or change (PUT), show, delete, purge, redrive.
  manage,
  /// GET /metrics (no queue).
  metrics,
};

/// What marks a signing token's secret in the auth file.
constexpr std::string_view sigv4_prefix = "sigv4:";

/// The action's name as grants spell it: "send", "receive", ...
std::string_view name_of(action a);

/// Whether `name` matches `glob` (`*`: any run of characters, `?`: any
/// one, anything else itself).
bool glob_matches(std::string_view glob, std::string_view name);

/// Whether `name` may name a token: 1-64 visible ASCII characters but `#`.
bool valid_name(std::string_view name);

/// The grants of one token.
class grants {
public:
  /// Whether the token may do `a` on `queue` (ignored for metrics).
  bool allows(action a, std::string_view queue) const;

  /// Whether the token holds some grant on `queue` (GET /queues lists
  /// only those).
  bool may_see(std::string_view queue) const;

private:
  friend class token_set;

  /// Adds the grant `word` spells; returns what is wrong with it, or "".
  std::string add(std::string_view word);

  bool everything_ = false;
  bool metrics_ = false;
  std::vector<std::pair<action, std::string>> globs_;
};

/// A SHA-256 digest.
using digest = std::array<unsigned char, 32>;

/// Who presents a request, by its Authorization header.
struct caller {
  /// The token's grants; null if the header presents no token of the set.
  const grants* token = nullptr;
  /// Whether the header presented a bearer token at all.
  bool presented = false;
};

/// Why a file gave no token set: "FILE:LINE: what was wrong" (or "FILE:
/// ..." when it cannot be read).
struct load_error {
  std::string text;
};

class token_set;

/// A token set to share, or why there is none.
using load_result = std::variant<std::shared_ptr<const token_set>, load_error>;

/// The tokens of one auth file. Immutable once parsed: share it across
/// threads freely (a reload makes a new one).
class token_set {
public:
  token_set() = default;

  /// Not copied: signers point into the set's own grants.
  token_set(const token_set&) = delete;
  token_set& operator=(const token_set&) = delete;

  /// Parses the text of an auth file; errors name `file_name` and the
  /// line.
  static load_result parse(std::string_view text, std::string_view file_name);

  /// Reads and parses the auth file at `path`.
  static load_result load(const std::string& path);

  /// Looks up the token an Authorization header's value presents
  /// (`Bearer TOKEN`) by its SHA-256 (see auth.cpp on timing).
  caller identify(std::string_view authorization) const;

  /// How many tokens the set holds.
  size_t size() const {
    return tokens_.size();
  }

  /// A token that signs requests (`sigv4:` in the file): its secret and
  /// grants.
  struct signer {
    std::string secret;
    const grants* token;
  };

  /// The signing token named `name`; null if none.
  const signer* signer_named(std::string_view name) const;

private:
  struct digest_hash {
    size_t operator()(const digest& d) const;
  };
  struct digest_equal {
    bool operator()(const digest& x, const digest& y) const;
  };

  std::unordered_map<digest, grants, digest_hash, digest_equal> tokens_;
  /// The tokens that sign, by name (their grants are in tokens_).
  std::unordered_map<std::string, signer> signers_;
};

/// The token an Authorization header's value presents: what follows
/// `Bearer ` (the scheme in any case), trimmed; empty if none.
std::string_view bearer_token(std::string_view authorization);

/// The lowercase hex SHA-256 of `token`: what its line in the auth file
/// holds.
std::string digest_hex(std::string_view token);

/// A new token: 32 bytes from the kernel's CSPRNG (getrandom(2)) in
/// URL-safe base64 without padding (43 characters). Throws
/// std::runtime_error if the CSPRNG fails.
std::string new_token();

} // namespace actormq::http::auth
