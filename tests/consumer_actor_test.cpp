#include <catch2/catch.hpp>

#include <initializer_list>
#include <stdexcept>
#include <vector>

#include "actormq/consumer_actor.hpp"
#include "actormq/errors.hpp"
#include "actormq/queue_actor.hpp"
#include "actormq/registry_actor.hpp"
#include "actormq/storage_actor.hpp"
#include "actormq/testing.hpp"
#include "memory_store.hpp"
#include "test_support.hpp"

using namespace actormq;
using namespace std::chrono_literals;

namespace {

/// A queue, a consumer with a recording handler, and virtual time.
struct consumer_fixture : testing::fixture {
  queue_actor q = sys.spawn(queue, queue_config{});
  std::vector<std::string> seen;

  /// Puts the queue on a store that the test can make fail.
  std::shared_ptr<test::memory_store> store_queue() {
    auto db = std::make_shared<test::memory_store>();
    storage_config scfg;
    scfg.db = db;
    scfg.ids = message_queue::make_id_source();
    queue_config qcfg;
    qcfg.ids = scfg.ids;
    qcfg.storage = sys.spawn(storage, scfg);
    self->send_exit(q, caf::exit_reason::user_shutdown);
    q = sys.spawn(queue, qcfg);
    run();
    return db;
  }

  /// A handler that records what it sees in `seen`.
  message_handler recorder() {
    return [this](const auto& x) -> caf::error {
      seen.push_back(describe(x));
      return caf::none;
    };
  }

  consumer_actor start_consumer(consumer_config cfg = {}) {
    if (!cfg.handler)
      cfg.handler = recorder();
    auto c = sys.spawn(consumer, q, std::move(cfg));
    run();
    return c;
  }

  /// Enqueues `bodies`, then starts a pool of two recording consumers
  /// that take one message every 5 s.
  consumer_pool_actor
  start_pool(std::initializer_list<const char*> bodies) {
    for (auto x : bodies)
      enqueue(x);
    consumer_config cfg;
    cfg.interval = 5s;
    cfg.handler = recorder();
    auto pool = sys.spawn(consumer_pool, q, cfg, uint32_t{2});
    run();
    return pool;
  }

  void enqueue(std::string body) {
    REQUIRE(request<uint64_t>(q, atom::enqueue::value,
                              test::text(std::move(body))));
  }

  queue_stats stats() {
    auto x = request<queue_stats>(q, atom::stats::value);
    REQUIRE(x);
    return *x;
  }
};

consumer_config every(caf::timespan interval) {
  consumer_config cfg;
  cfg.interval = interval;
  return cfg;
}

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
  CHECK(stats().acked == 2);
}

TEST_CASE_METHOD(consumer_fixture, "the interval is configurable") {
  enqueue("a");
  start_consumer(every(500ms));
  advance(500ms);
  CHECK(seen == std::vector<std::string>{"Processing message: a"});
}

TEST_CASE_METHOD(consumer_fixture, "a batch consumer takes several at once") {
  for (auto x : {"a", "b", "c"})
    enqueue(x);
  auto cfg = every(5s);
  cfg.batch = 2;
  start_consumer(cfg);
  advance(5s);
  CHECK(seen.size() == 2);
  advance(5s);
  CHECK(seen.size() == 3);
  CHECK(stats().acked == 3);
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

TEST_CASE_METHOD(consumer_fixture, "a failing handler releases with backoff "
                                   "and the message comes back") {
  enqueue("flaky");
  int calls = 0;
  auto cfg = every(1s);
  cfg.backoff = 3s;
  cfg.handler = [&](const std::optional<message>& x) -> caf::error {
    if (!x)
      return caf::none;
    ++calls;
    if (calls == 1)
      throw std::runtime_error("first try fails");
    if (calls == 2)
      return make_error(ec::message_required);
    return caf::none;
  };
  start_consumer(cfg);
  advance(1s);
  CHECK(calls == 1);
  CHECK(stats().delayed == 1);
  advance(1s);
  advance(1s);
  CHECK(calls == 1); // backing off for 3 s
  advance(1s);
  CHECK(calls == 2);
  // The second failure doubles the backoff to 6 s.
  for (int i = 0; i < 5; ++i)
    advance(1s);
  CHECK(calls == 2);
  advance(1s);
  advance(1s);
  CHECK(calls == 3);
  CHECK(stats().acked == 1);
  CHECK(stats().redelivered == 2);
}

TEST_CASE_METHOD(consumer_fixture,
                 "a consumer lives on when its ack or release fails") {
  auto db = store_queue();
  for (auto x : {"a", "b", "c"})
    enqueue(x);
  auto cfg = every(1s);
  // The store fails while the handler runs: the ack of "a" and the
  // release of "b" get ec::storage_failed.
  cfg.handler = [&](const std::optional<message>& x) -> caf::error {
    if (!x)
      return caf::none;
    seen.push_back(x->data.body);
    db->failing = seen.size() <= 2;
    return seen.size() == 2 ? make_error(ec::message_required) : caf::none;
  };
  start_consumer(cfg);
  advance(1s);
  CHECK(seen == std::vector<std::string>{"a"});
  db->failing = false;
  advance(1s); // the storage actor's probe finds the store back
  advance(1s);
  CHECK(seen == std::vector<std::string>{"a", "b"});
  db->failing = false;
  advance(1s);
  advance(1s);
  CHECK(seen == std::vector<std::string>{"a", "b", "c"});
  CHECK(stats().acked == 2);
}

TEST_CASE("the backoff doubles up to its bound") {
  consumer_config cfg;
  cfg.backoff = 1s;
  cfg.max_backoff = 10s;
  CHECK(backoff_for(cfg, 1) == caf::timespan{1s});
  CHECK(backoff_for(cfg, 2) == caf::timespan{2s});
  CHECK(backoff_for(cfg, 4) == caf::timespan{8s});
  CHECK(backoff_for(cfg, 5) == caf::timespan{10s});
  CHECK(backoff_for(cfg, 60) == caf::timespan{10s});
}

TEST_CASE_METHOD(consumer_fixture, "several consumers share a queue") {
  for (auto x : {"a", "b", "c", "d"})
    enqueue(x);
  start_consumer();
  start_consumer();
  advance(5s);
  CHECK(seen.size() == 2);
  advance(5s);
  CHECK(seen.size() == 4);
  CHECK(stats().acked == 4);
}

TEST_CASE_METHOD(consumer_fixture, "a pool replaces a consumer that fails, "
                                   "not one told to exit") {
  auto pool = start_pool({"a", "b", "c", "d", "e"});
  auto first = request<std::vector<consumer_actor>>(pool, atom::list::value);
  REQUIRE(first);
  REQUIRE(first->size() == 2);
  self->send_exit(first->at(0), make_error(ec::storage_failed));
  run();
  auto second = request<std::vector<consumer_actor>>(pool, atom::list::value);
  REQUIRE(second);
  REQUIRE(second->size() == 2);
  CHECK(second->at(0) == first->at(1));
  CHECK(second->at(1) != first->at(0));
  advance(5s);
  CHECK(seen.size() == 2); // the new one consumes too
  self->send_exit(second->at(1), caf::exit_reason::user_shutdown);
  run();
  auto third = request<std::vector<consumer_actor>>(pool, atom::list::value);
  REQUIRE(third);
  CHECK(third->size() == 1);
  advance(5s);
  CHECK(seen.size() == 3);
  // The pool's exit ends its consumers.
  self->send_exit(pool, caf::exit_reason::user_shutdown);
  run();
  advance(5s);
  CHECK(seen.size() == 3);
}

TEST_CASE_METHOD(consumer_fixture, "a pool leaves no consumer behind, "
                                   "however it ends") {
  // No exit handler sees `kill`: the pool ends without forwarding it. A
  // consumer ignores an exit message for `normal`, which the pool takes.
  auto reason = GENERATE(caf::exit_reason::kill, caf::exit_reason::normal);
  INFO("exit reason " << caf::to_string(reason));
  auto pool = start_pool({"a", "b", "c", "d"});
  advance(5s);
  REQUIRE(seen.size() == 2);
  self->send_exit(pool, reason);
  run();
  advance(5s);
  advance(5s);
  CHECK(seen.size() == 2);
  CHECK(stats().ready == 2);
}

TEST_CASE("only an exit without an error or a requested one is planned") {
  CHECK(planned_exit(caf::none));
  CHECK(planned_exit(caf::exit_reason::normal));
  CHECK(planned_exit(caf::exit_reason::user_shutdown));
  CHECK_FALSE(planned_exit(caf::exit_reason::kill));
  CHECK_FALSE(planned_exit(caf::exit_reason::unhandled_exception));
  CHECK_FALSE(planned_exit(make_error(ec::storage_failed)));
}

TEST_CASE("describe() renders text as is and JSON compact") {
  CHECK(describe(message{1, {"hi there", payload_kind::text}, 0, 0, {}, {}})
        == "Processing message: hi there");
  CHECK(describe(message{2, {R"({"a":[1,2]})", payload_kind::json}, 0, 0, {},
                         {}})
        == R"(Processing message: {"a":[1,2]})");
  CHECK(describe(std::nullopt) == "No messages to process");
  auto big = describe(message{3, {std::string(5000, 'x'), payload_kind::text},
                              0, 0, {}, {}});
  CHECK(big == "Processing message: " + std::string(1024, 'x')
                 + "... (5000 bytes)");
}

namespace {

/// A registry and a pool of one consumer of its queue `jobs`, which records
/// the bodies it handles in `seen`.
struct registry_pool_fixture : testing::fixture {
  registry_actor reg = sys.spawn(registry, registry_config{});
  std::vector<std::string> seen;
  consumer_pool_actor pool;

  registry_pool_fixture() {
    consumer_config cfg;
    cfg.interval = 5s;
    cfg.handler = [this](const auto& x) -> caf::error {
      if (x)
        seen.push_back(x->data.body);
      return caf::none;
    };
    pool = sys.spawn(registry_consumer_pool, reg, std::string{"jobs"}, cfg,
                     uint32_t{1});
    run();
  }

  ~registry_pool_fixture() {
    self->send_exit(pool, caf::exit_reason::user_shutdown);
    self->send_exit(reg, caf::exit_reason::user_shutdown);
    run();
  }

  /// Enqueues `body` to `jobs`, creating it; returns the queue.
  queue_actor enqueue(std::string body) {
    auto q = request<queue_actor>(reg, atom::get::value, std::string{"jobs"},
                                  true);
    REQUIRE(q);
    REQUIRE(request<uint64_t>(*q, atom::enqueue::value,
                              test::text(std::move(body))));
    return *q;
  }
};

} // namespace

TEST_CASE_METHOD(registry_pool_fixture,
                 "a registry's pool follows its queue when it restarts") {
  auto q = enqueue("before");
  advance(5s);
  CHECK(seen == std::vector<std::string>{"before"});
  // The queue fails; the registry brings it back, the pool follows.
  self->send_exit(q, caf::make_error(caf::sec::runtime_error));
  run();
  enqueue("after");
  advance(5s);
  CHECK(seen == std::vector<std::string>{"before", "after"});
}

TEST_CASE_METHOD(registry_pool_fixture,
                 "a registry's pool waits for a deleted queue to come back") {
  auto exists = [&] {
    return static_cast<bool>(request<queue_actor>(reg, atom::get::value,
                                                  std::string{"jobs"}, false));
  };
  REQUIRE(exists());
  REQUIRE(request<bool>(reg, atom::remove::value, std::string{"jobs"}));
  for (int i = 0; i < 4; ++i)
    advance(5s);
  // Deleted stays deleted: the pool does not create it again.
  CHECK_FALSE(exists());
  // A producer creates it again; the pool serves it.
  enqueue("again");
  advance(5s);
  advance(5s);
  CHECK(seen == std::vector<std::string>{"again"});
}
