#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "actormq/consumer_actor.hpp"
#include "actormq/queue_actor.hpp"
#include "actormq/testing.hpp"

using namespace actormq;
using namespace std::chrono_literals;

namespace {

/// A queue, a consumer with a recording handler, and virtual time.
struct consumer_fixture : testing::fixture {
  queue_actor q = sys.spawn(queue, queue_config{});
  std::vector<std::string> seen;

  consumer_actor start_consumer(caf::timespan interval = 5s) {
    auto c = sys.spawn(consumer, q,
                       consumer_config{interval, [this](const auto& x) {
                                         seen.push_back(describe(x));
                                       }});
    run();
    return c;
  }

  void enqueue(std::string body) {
    REQUIRE(request<uint64_t>(q, atom::enqueue::value,
                              payload{std::move(body), payload_kind::text}));
  }
};

} // namespace

TEST_CASE_METHOD(consumer_fixture,
                 "the consumer takes one message per interval, FIFO") {
  enqueue("first");
  enqueue("second");
  start_consumer();
  advance(4999ms);
  CHECK(seen.empty());
  advance(1ms);
  CHECK(seen == std::vector<std::string>{"Processing message: first"});
  advance(5s);
  CHECK(seen.back() == "Processing message: second");
  CHECK(seen.size() == 2);
  advance(5s);
  CHECK(seen.back() == "No messages to process");
  CHECK(seen.size() == 3);
}

TEST_CASE_METHOD(consumer_fixture, "the interval is configurable") {
  enqueue("a");
  start_consumer(500ms);
  advance(500ms);
  CHECK(seen == std::vector<std::string>{"Processing message: a"});
}

TEST_CASE_METHOD(consumer_fixture,
                 "a message enqueued later is picked up on the next tick") {
  start_consumer();
  advance(5s);
  CHECK(seen == std::vector<std::string>{"No messages to process"});
  enqueue("late");
  advance(5s);
  CHECK(seen.back() == "Processing message: late");
}

TEST_CASE_METHOD(consumer_fixture, "a throwing handler does not stop it") {
  enqueue("boom");
  enqueue("fine");
  auto calls = 0;
  sys.spawn(consumer, q, consumer_config{5s, [&](const auto& x) {
                                           ++calls;
                                           if (x && x->data.body == "boom")
                                             throw std::runtime_error("boom");
                                         }});
  run();
  advance(5s);
  advance(5s);
  CHECK(calls == 2);
  auto stats = request<queue_stats>(q, atom::stats::value);
  REQUIRE(stats);
  CHECK(stats->depth == 0);
}

TEST_CASE("describe() renders text as is and JSON compact") {
  CHECK(describe(message{1, {"hi there", payload_kind::text}})
        == "Processing message: hi there");
  CHECK(describe(message{2, {R"({"a":[1,2]})", payload_kind::json}})
        == R"(Processing message: {"a":[1,2]})");
  CHECK(describe(std::nullopt) == "No messages to process");
}
