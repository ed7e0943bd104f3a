#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "actormq/actors.hpp"
#include "actormq/testing.hpp"
#include "test_support.hpp"

// The calls that the tests of the queue and registry actors make, each run
// on virtual time to its answer. All but enqueue() REQUIRE success.

namespace test {

struct actor_fixture : actormq::testing::fixture {
  /// Asked by get(), with_dlq() and info(); the test sets it.
  actormq::registry_actor reg;

  actormq::queue_actor get(const std::string& name, bool create = true) {
    auto q = request<actormq::queue_actor>(reg, actormq::atom::get::value,
                                           name, create);
    REQUIRE(q);
    return *q;
  }

  /// Creates `name` with one delivery before its messages go to `dlq`.
  actormq::queue_actor with_dlq(const std::string& name,
                                const std::string& dlq) {
    actormq::queue_attributes attrs;
    attrs.max_deliveries = 1;
    attrs.dead_letter_queue = dlq;
    auto q = request<actormq::queue_actor>(reg, actormq::atom::put::value,
                                           name, attrs,
                                           actormq::attribute_field::all);
    REQUIRE(q);
    return *q;
  }

  actormq::queue_info info(const std::string& name) {
    auto x = request<actormq::queue_info>(reg, actormq::atom::stats::value,
                                          name);
    REQUIRE(x);
    return *x;
  }

  /// The message's id, or why it was refused.
  caf::expected<uint64_t> enqueue(const actormq::queue_actor& q,
                                  std::string body, int32_t priority = 0,
                                  std::string dedup_id = {}) {
    return request<uint64_t>(q, actormq::atom::enqueue::value,
                             text(std::move(body), priority,
                                  std::move(dedup_id)));
  }

  std::vector<actormq::lease>
  receive(const actormq::queue_actor& q, uint32_t max = 10,
          caf::timespan visibility = std::chrono::seconds{30}) {
    auto xs = request<std::vector<actormq::lease>>(
      q, actormq::atom::receive::value, max, visibility, caf::timespan{0});
    REQUIRE(xs);
    return *xs;
  }

  std::vector<actormq::message> peek(const actormq::queue_actor& q,
                                     uint32_t max = 100) {
    auto xs = request<std::vector<actormq::message>>(
      q, actormq::atom::peek::value, max);
    REQUIRE(xs);
    return *xs;
  }

  actormq::queue_stats stats(const actormq::queue_actor& q) {
    auto x = request<actormq::queue_stats>(q, actormq::atom::stats::value);
    REQUIRE(x);
    return *x;
  }
};

} // namespace test
