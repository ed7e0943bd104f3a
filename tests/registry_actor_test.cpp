#include <catch2/catch.hpp>

#include <caf/event_based_actor.hpp>

#include "actormq/errors.hpp"
#include "actormq/registry_actor.hpp"
#include "actor_fixture.hpp"

using namespace actormq;
using namespace std::chrono_literals;
using test::error_of;

namespace {

struct registry_fixture : test::actor_fixture {
  registry_fixture() {
    reg = sys.spawn(registry, registry_config{});
  }
};

} // namespace

TEST_CASE("queue names are 1-80 of [A-Za-z0-9_.-]") {
  CHECK(valid_queue_name("orders"));
  CHECK(valid_queue_name("A-z_0.9"));
  CHECK(valid_queue_name(std::string(80, 'q')));
  CHECK_FALSE(valid_queue_name(""));
  CHECK_FALSE(valid_queue_name(std::string(81, 'q')));
  CHECK_FALSE(valid_queue_name("a/b"));
  CHECK_FALSE(valid_queue_name("a b"));
  CHECK_FALSE(valid_queue_name("\xc3\xa9"));
}

TEST_CASE_METHOD(registry_fixture, "get creates a queue once, on demand") {
  auto a = get("orders");
  auto b = get("orders");
  CHECK(a == b);
  auto missing
    = request<queue_actor>(reg, atom::get::value, std::string{"nope"}, false);
  REQUIRE_FALSE(missing);
  CHECK(error_of(missing.error()) == ec::unknown_queue);
  auto bad
    = request<queue_actor>(reg, atom::get::value, std::string{"a b"}, true);
  REQUIRE_FALSE(bad);
  CHECK(error_of(bad.error()) == ec::invalid_queue_name);
}

TEST_CASE_METHOD(registry_fixture, "put creates or updates attributes") {
  queue_attributes attrs;
  attrs.max_depth = 1;
  auto q = request<queue_actor>(reg, atom::put::value, std::string{"jobs"},
                                attrs, attribute_field::all);
  REQUIRE(q);
  CHECK(info("jobs").attributes.max_depth == 1);
  REQUIRE(enqueue(*q, "a"));
  new_message x;
  x.data.body = "b";
  auto full = request<uint64_t>(*q, atom::enqueue::value, x);
  REQUIRE_FALSE(full);
  CHECK(error_of(full.error()) == ec::queue_full);
  attrs.max_depth = 0;
  REQUIRE(request<queue_actor>(reg, atom::put::value, std::string{"jobs"},
                               attrs, attribute_field::all));
  CHECK(request<uint64_t>(*q, atom::enqueue::value, x));
  attrs.dead_letter_queue = "jobs";
  auto self_dlq = request<queue_actor>(reg, atom::put::value,
                                       std::string{"jobs"}, attrs, attribute_field::all);
  REQUIRE_FALSE(self_dlq);
  CHECK(error_of(self_dlq.error()) == ec::invalid_attributes);
}

TEST_CASE_METHOD(registry_fixture, "list shows every queue with counts") {
  REQUIRE(enqueue(get("a"), "x"));
  REQUIRE(enqueue(get("b"), "y"));
  REQUIRE(enqueue(get("b"), "z"));
  auto xs = request<std::vector<queue_info>>(reg, atom::list::value);
  REQUIRE(xs);
  REQUIRE(xs->size() == 2);
  uint64_t total = 0;
  for (auto& x : *xs)
    total += x.stats.ready;
  CHECK(total == 3);
}

TEST_CASE_METHOD(registry_fixture, "remove deletes a queue and its messages") {
  REQUIRE(enqueue(get("gone"), "x"));
  CHECK(request<bool>(reg, atom::remove::value, std::string{"gone"}));
  auto again = request<queue_actor>(reg, atom::get::value,
                                    std::string{"gone"}, false);
  REQUIRE_FALSE(again);
  CHECK(error_of(again.error()) == ec::unknown_queue);
  auto gone = request<queue_info>(reg, atom::stats::value,
                                  std::string{"gone"});
  REQUIRE_FALSE(gone);
  CHECK(error_of(gone.error()) == ec::unknown_queue);
}

TEST_CASE_METHOD(registry_fixture, "dead letters go to the named queue and "
                                   "redrive brings them home") {
  queue_attributes attrs;
  attrs.max_deliveries = 1;
  attrs.dead_letter_queue = "orders.dlq";
  auto orders = request<queue_actor>(reg, atom::put::value,
                                     std::string{"orders"}, attrs, attribute_field::all);
  REQUIRE(orders);
  auto id = enqueue(*orders, "poison");
  REQUIRE(id);
  receive(*orders, 10, 1s);
  advance(1s);
  auto dlq = get("orders.dlq", false);
  CHECK(info("orders.dlq").stats.ready == 1);
  auto dead = receive(dlq, 10, 1s);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].msg.id == *id);
  advance(1s);
  auto moved = request<uint64_t>(reg, atom::redrive::value,
                                 std::string{"orders.dlq"});
  REQUIRE(moved);
  CHECK(*moved == 1);
  run();
  auto home = receive(*orders);
  REQUIRE(home.size() == 1);
  CHECK(home[0].msg.id == *id);
  CHECK(home[0].msg.receive_count == 1);
}

TEST_CASE("a memory bound holds across all queues") {
  testing::fixture f;
  registry_config cfg;
  // Room for three queues and two one-byte messages, each in a queue of
  // its own.
  cfg.max_memory_bytes
    = 3 * memory_budget::per_queue
      + 2 * (memory_budget::per_message + 1 + memory_budget::per_priority);
  auto reg = f.sys.spawn(registry, cfg);
  auto push = [&](const std::string& queue_name) {
    auto q = f.request<queue_actor>(reg, atom::get::value, queue_name, true);
    REQUIRE(q);
    return f.request<uint64_t>(*q, atom::enqueue::value, test::text("m"));
  };
  CHECK(push("a"));
  CHECK(push("b"));
  auto refused = push("c");
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::out_of_memory);
}

TEST_CASE_METHOD(registry_fixture,
                 "a receipt never applies to another queue or incarnation") {
  auto a = get("a");
  auto b = get("b");
  REQUIRE(enqueue(a, "in a"));
  REQUIRE(enqueue(b, "in b"));
  auto from_a = receive(a);
  auto from_b = receive(b);
  REQUIRE(from_a.size() == 1);
  REQUIRE(from_b.size() == 1);
  auto acked = request<std::vector<caf::error>>(
    b, atom::ack::value, std::vector<std::string>{from_a[0].receipt});
  REQUIRE(acked);
  CHECK(error_of(acked->at(0)) == ec::stale_receipt);
  // Deleted and created again, "a" is another queue.
  REQUIRE(request<bool>(reg, atom::remove::value, std::string{"a"}));
  auto again = get("a");
  REQUIRE(enqueue(again, "new a"));
  auto from_new = receive(again);
  REQUIRE(from_new.size() == 1);
  acked = request<std::vector<caf::error>>(
    again, atom::ack::value, std::vector<std::string>{from_a[0].receipt});
  REQUIRE(acked);
  CHECK(error_of(acked->at(0)) == ec::stale_receipt);
  CHECK(info("a").stats.in_flight == 1);
}

TEST_CASE_METHOD(registry_fixture,
                 "a redriven message is no longer a dead letter") {
  // upstream -> home -> dlq, each the next one's dead-letter queue.
  auto home = with_dlq("home", "dlq");
  auto upstream = with_dlq("upstream", "home");
  auto job = enqueue(home, "job");
  REQUIRE(job);
  receive(home, 10, 1s);
  advance(1s);
  REQUIRE(request<uint64_t>(reg, atom::redrive::value, std::string{"dlq"})
          == uint64_t{1});
  run();
  auto up = enqueue(upstream, "up");
  REQUIRE(up);
  receive(upstream, 10, 1s);
  advance(1s);
  // home holds job (home again) and up (a dead letter of upstream).
  CHECK(info("home").stats.ready == 2);
  auto moved = request<uint64_t>(reg, atom::redrive::value,
                                 std::string{"home"});
  REQUIRE(moved);
  CHECK(*moved == 1);
  run();
  auto left = receive(home);
  REQUIRE(left.size() == 1);
  CHECK(left[0].msg.id == *job);
  auto back = receive(upstream);
  REQUIRE(back.size() == 1);
  CHECK(back[0].msg.id == *up);
  CHECK(info("dlq").stats.ready == 0);
}

TEST_CASE_METHOD(registry_fixture,
                 "dead letters and redriven messages keep their order") {
  auto q = with_dlq("q", "dlq");
  std::vector<uint64_t> ids;
  for (auto body : {"m1", "m2", "m3", "m4", "m5", "m6"}) {
    auto id = enqueue(q, body);
    REQUIRE(id);
    ids.push_back(*id);
    advance(1s);
  }
  // Six leases that end together.
  REQUIRE(receive(q, 10, 5s).size() == 6);
  advance(5s);
  auto ids_of = [](const std::vector<lease>& xs) {
    std::vector<uint64_t> result;
    for (auto& x : xs)
      result.push_back(x.msg.id);
    return result;
  };
  auto peeked = request<std::vector<message>>(get("dlq", false),
                                              atom::peek::value, uint32_t{10});
  REQUIRE(peeked);
  REQUIRE(peeked->size() == 6);
  for (size_t i = 0; i < 6; ++i)
    CHECK((*peeked)[i].id == ids[i]);
  REQUIRE(request<uint64_t>(reg, atom::redrive::value, std::string{"dlq"})
          == uint64_t{6});
  run();
  CHECK(ids_of(receive(q)) == ids);
}

TEST_CASE_METHOD(registry_fixture,
                 "a bad dead-letter queue name is a bad queue name") {
  queue_attributes attrs;
  attrs.dead_letter_queue = "no spaces";
  auto refused = request<queue_actor>(reg, atom::put::value,
                                      std::string{"jobs"}, attrs,
                                      attribute_field::dead_letter_queue);
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::invalid_queue_name);
}

TEST_CASE_METHOD(registry_fixture,
                 "concurrent changes of a queue's attributes both apply") {
  get("jobs");
  queue_attributes a;
  a.max_depth = 7;
  queue_attributes b;
  b.visibility = 9s;
  // Both in the registry's mailbox before either is handled.
  auto first = self->request(reg, caf::infinite, atom::put::value,
                             std::string{"jobs"}, a,
                             attribute_field::max_depth);
  auto second = self->request(reg, caf::infinite, atom::put::value,
                              std::string{"jobs"}, b,
                              attribute_field::visibility);
  run();
  for (auto* h : {&first, &second})
    std::move(*h).receive([](queue_actor&) {},
                          [](caf::error&) { FAIL("put failed"); });
  auto x = info("jobs").attributes;
  CHECK(x.max_depth == 7);
  CHECK(x.visibility == caf::timespan{9s});
}

TEST_CASE_METHOD(registry_fixture,
                 "a long poll on a deleted queue is answered: gone") {
  auto q = get("jobs");
  auto poll = self->request(q, std::chrono::seconds{3600}, atom::receive::value,
                            uint32_t{1}, caf::timespan{30s},
                            caf::timespan{20s});
  run();
  REQUIRE(request<bool>(reg, atom::remove::value, std::string{"jobs"}));
  sched.advance_time(std::chrono::hours{2});
  run();
  caf::error err;
  std::move(poll).receive([](std::vector<lease>&) { FAIL("got leases"); },
                          [&](caf::error& x) { err = x; });
  CHECK(error_of(err) == ec::unknown_queue);
}

TEST_CASE_METHOD(registry_fixture,
                 "a queue that keeps failing answers 503 at once") {
  get("jobs");
  for (int i = 0; i < 6; ++i) {
    self->send_exit(get("jobs"), caf::make_error(caf::sec::runtime_error));
    run();
  }
  // Past the restarts allowed: an answer at once, not a wait.
  auto q = request<queue_actor>(reg, atom::get::value, std::string{"jobs"},
                                true);
  REQUIRE_FALSE(q);
  CHECK(q.error() == caf::sec::request_receiver_down);
  auto other = get("other");
  CHECK(request<uint64_t>(other, atom::enqueue::value, test::text("m")));
  // A minute after the first of them, it is brought back on demand.
  advance(std::chrono::minutes{1});
  auto again = get("jobs");
  CHECK(enqueue(again, "back"));
  // Deaths spread out never add up to the limit.
  for (int i = 0; i < 12; ++i) {
    advance(std::chrono::seconds{20});
    self->send_exit(get("jobs"), caf::make_error(caf::sec::runtime_error));
    run();
  }
  CHECK(enqueue(get("jobs"), "still served"));
}

TEST_CASE_METHOD(registry_fixture,
                 "a drain reaches queues created and restarted after it") {
  auto old = get("old");
  self->send(reg, atom::drain::value);
  run();
  auto poll = [&](const queue_actor& q) {
    auto xs = request<std::vector<lease>>(q, atom::receive::value,
                                          uint32_t{1}, caf::timespan{30s},
                                          caf::timespan{20s});
    REQUIRE(xs);
    CHECK(xs->empty());
  };
  // Each answers at once, empty, instead of waiting 20 s.
  poll(old);
  poll(get("created"));
  self->send_exit(old, caf::make_error(caf::sec::runtime_error));
  run();
  auto restarted = get("old");
  REQUIRE(restarted != old);
  poll(restarted);
}

TEST_CASE("each queue counts against the memory bound") {
  testing::fixture f;
  registry_config cfg;
  cfg.max_memory_bytes = 2 * memory_budget::per_queue;
  auto reg = f.sys.spawn(registry, cfg);
  auto get = [&](const std::string& name) {
    return f.request<queue_actor>(reg, atom::get::value, name, true);
  };
  REQUIRE(get("a"));
  REQUIRE(get("b"));
  auto refused = get("c");
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::out_of_memory);
  auto put = f.request<queue_actor>(reg, atom::put::value, std::string{"c"},
                                    queue_attributes{},
                                    uint32_t{0});
  REQUIRE_FALSE(put);
  CHECK(error_of(put.error()) == ec::out_of_memory);
  // Those that exist are still served; a delete makes room.
  REQUIRE(get("a"));
  REQUIRE(f.request<bool>(reg, atom::remove::value, std::string{"a"}));
  CHECK(get("c"));
}

TEST_CASE_METHOD(testing::fixture,
                 "the fixture's request fails on a request left unanswered") {
  auto silent = sys.spawn(
    [](caf::event_based_actor*, int) -> caf::behavior {
      return {[](int) { return caf::delegated<int>{}; }};
    },
    0);
  auto x = request<int>(silent, 1);
  REQUIRE_FALSE(x);
  CHECK(x.error() == caf::sec::request_timeout);
}
