#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <caf/error.hpp>

#include "actormq/errors.hpp"
#include "actormq/message.hpp"

// Helpers that every test file of the actors shares.

namespace test {

/// A text message with the queue's defaults.
inline actormq::new_message text(std::string body, int32_t priority = 0,
                                 std::string dedup_id = {}) {
  actormq::new_message x;
  x.data = actormq::payload{std::move(body), actormq::payload_kind::text};
  x.priority = priority;
  x.dedup_id = std::move(dedup_id);
  return x;
}

/// Returns the ActorMQ error code of `err`, which must be one.
inline actormq::ec error_of(const caf::error& err) {
  actormq::ec code{};
  REQUIRE(actormq::is_actormq_error(err, code));
  return code;
}

/// Returns whether `err` is the ActorMQ error `code`.
inline bool is(const caf::error& err, actormq::ec code) {
  actormq::ec x{};
  return actormq::is_actormq_error(err, x) && x == code;
}

} // namespace test
