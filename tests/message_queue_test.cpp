#include <catch2/catch.hpp>

#include "actormq/errors.hpp"
#include "actormq/message_queue.hpp"

using namespace actormq;

namespace {

payload text(std::string x) {
  return payload{std::move(x), payload_kind::text};
}

} // namespace

TEST_CASE("a queue hands messages out in FIFO order with increasing ids") {
  message_queue q;
  REQUIRE(q.push(text("a")) == caf::expected<uint64_t>{1u});
  REQUIRE(q.push(payload{"[1,2]", payload_kind::json})
          == caf::expected<uint64_t>{2u});
  REQUIRE(q.push(text("c")) == caf::expected<uint64_t>{3u});
  auto first = q.pop();
  REQUIRE(first);
  CHECK(first->id == 1);
  CHECK(first->data.body == "a");
  auto second = q.pop();
  REQUIRE(second);
  CHECK(second->data.body == "[1,2]");
  CHECK(second->data.kind == payload_kind::json);
  CHECK(q.pop()->data.body == "c");
  CHECK_FALSE(q.pop());
}

TEST_CASE("ids stay unique after the queue runs empty") {
  message_queue q;
  REQUIRE(q.push(text("a")));
  REQUIRE(q.pop());
  CHECK(*q.push(text("b")) == 2);
}

TEST_CASE("an empty message is refused") {
  message_queue q;
  auto id = q.push(text(""));
  REQUIRE_FALSE(id);
  ec code;
  REQUIRE(is_actormq_error(id.error(), code));
  CHECK(code == ec::message_required);
  CHECK(q.stats().depth == 0);
}

TEST_CASE("a message over the limit is refused; one at the limit is not") {
  message_queue q{4};
  auto id = q.push(text("12345"));
  REQUIRE_FALSE(id);
  ec code;
  REQUIRE(is_actormq_error(id.error(), code));
  CHECK(code == ec::message_too_large);
  CHECK(q.push(text("1234")));
}

TEST_CASE("stats count what is held and what passed through") {
  message_queue q;
  REQUIRE(q.push(text("ab")));
  REQUIRE(q.push(text("cde")));
  CHECK(q.stats().depth == 2);
  CHECK(q.stats().bytes == 5);
  REQUIRE(q.pop());
  CHECK(q.stats().depth == 1);
  CHECK(q.stats().bytes == 3);
  CHECK(q.stats().enqueued == 2);
  CHECK(q.stats().dequeued == 1);
}
