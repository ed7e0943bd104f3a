#include <catch2/catch.hpp>

#include "actormq/errors.hpp"
#include "actormq/queue_actor.hpp"
#include "actormq/testing.hpp"

using namespace actormq;

namespace {

struct queue_fixture : testing::fixture {
  queue_actor q = sys.spawn(queue, queue_config{8});

  caf::expected<uint64_t> enqueue(std::string body) {
    return request<uint64_t>(q, atom::enqueue::value,
                             payload{std::move(body), payload_kind::text});
  }

  caf::optional<message> dequeue() {
    auto x = request<caf::optional<message>>(q, atom::dequeue::value);
    REQUIRE(x);
    return *x;
  }
};

} // namespace

TEST_CASE_METHOD(queue_fixture, "the queue actor replies with ids, FIFO") {
  CHECK(enqueue("one") == caf::expected<uint64_t>{1u});
  CHECK(enqueue("two") == caf::expected<uint64_t>{2u});
  auto x = dequeue();
  REQUIRE(x);
  CHECK(x->id == 1);
  CHECK(x->data.body == "one");
  CHECK(dequeue()->data.body == "two");
  CHECK_FALSE(dequeue());
}

TEST_CASE_METHOD(queue_fixture, "the queue actor replies with our errors") {
  auto id = enqueue("123456789");
  REQUIRE_FALSE(id);
  ec code;
  REQUIRE(is_actormq_error(id.error(), code));
  CHECK(code == ec::message_too_large);
  auto stats = request<queue_stats>(q, atom::stats::value);
  REQUIRE(stats);
  CHECK(stats->depth == 0);
}

TEST_CASE_METHOD(queue_fixture, "the queue actor reports its counters") {
  REQUIRE(enqueue("a"));
  REQUIRE(enqueue("b"));
  REQUIRE(dequeue());
  auto stats = request<queue_stats>(q, atom::stats::value);
  REQUIRE(stats);
  CHECK(stats->depth == 1);
  CHECK(stats->enqueued == 2);
  CHECK(stats->dequeued == 1);
}
