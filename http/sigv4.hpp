#pragma once

#include <chrono>
#include <string>

#include "auth.hpp"
#include "sqs.hpp"
#include "wire.hpp"

/// AWS Signature Version 4 on SQS requests with access control on: the
/// access key id is a token's NAME, the secret key the token itself (a
/// `sigv4:` line of the auth file). HMAC-SHA256 and SHA-256 from OpenSSL.
namespace actormq::http::sigv4 {

/// The most a request's signing time may differ from the server's clock.
constexpr auto max_skew = std::chrono::minutes{15};

/// Who signed a request, or why it is refused.
struct verdict {
  /// The signer's grants; null: refused.
  const auth::grants* token = nullptr;
  /// The signer's access key id (its token's name).
  std::string sender;
  /// Refused: the SQS error and its sentence.
  sqs::code failure = sqs::code::missing_authentication_token;
  std::string message;
};

/// Checks the signature in `req`'s Authorization header against the
/// signing tokens of `tokens`, at wall-clock time `now`.
verdict verify(const auth::token_set& tokens, const request& req,
               std::chrono::system_clock::time_point now);

} // namespace actormq::http::sigv4
