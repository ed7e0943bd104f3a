#include <catch2/catch.hpp>

#include <functional>

#include "actormq/errors.hpp"
#include "actormq/queue_actor.hpp"
#include "actor_fixture.hpp"

using namespace actormq;
using namespace std::chrono_literals;
using test::error_of;

namespace {

using leases = std::vector<lease>;
using results = std::vector<caf::error>;

struct queue_fixture : test::actor_fixture {
  queue_actor q = spawn_queue(queue_attributes{});

  queue_actor spawn_queue(queue_attributes attrs, std::string name = "q",
                          dead_letter_sink dlq = {}) {
    queue_config cfg;
    cfg.name = std::move(name);
    cfg.attributes = std::move(attrs);
    cfg.dead_letters = std::move(dlq);
    return sys.spawn(queue, std::move(cfg));
  }
};

} // namespace

TEST_CASE_METHOD(queue_fixture, "enqueue, receive and ack through messages") {
  CHECK(enqueue(q, "one") == caf::expected<uint64_t>{1u});
  CHECK(enqueue(q, "two") == caf::expected<uint64_t>{2u});
  auto xs = receive(q);
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].msg.data.body == "one");
  auto acked = request<results>(
    q, atom::ack::value, std::vector<std::string>{xs[0].receipt, "nonsense"});
  REQUIRE(acked);
  REQUIRE(acked->size() == 2);
  CHECK_FALSE((*acked)[0]);
  CHECK(error_of((*acked)[1]) == ec::invalid_receipt);
  CHECK(stats(q).in_flight == 1);
}

TEST_CASE_METHOD(queue_fixture, "a lease expires on virtual time") {
  REQUIRE(enqueue(q, "a"));
  auto first = receive(q, 1, 10s);
  advance(9s);
  CHECK(receive(q).empty());
  advance(1s);
  auto again = receive(q);
  REQUIRE(again.size() == 1);
  CHECK(again[0].msg.receive_count == 2);
  CHECK(stats(q).redelivered == 1);
}

TEST_CASE_METHOD(queue_fixture, "a batch is all or nothing") {
  std::vector<new_message> batch(2);
  batch[0].data.body = "fine";
  auto refused = request<std::vector<uint64_t>>(q, atom::enqueue::value,
                                                batch);
  CHECK_FALSE(refused);
  CHECK(stats(q).enqueued == 0);
  batch[1].data.body = "also fine";
  auto ids = request<std::vector<uint64_t>>(q, atom::enqueue::value, batch);
  REQUIRE(ids);
  CHECK(*ids == std::vector<uint64_t>{1, 2});
}

TEST_CASE_METHOD(queue_fixture, "messages enqueued each on their own fail "
                                "alone") {
  std::vector<new_message> xs(3);
  xs[0].data.body = "fine";
  xs[2].data.body = "also fine";
  auto got = request<enqueue_results>(q, atom::enqueue::value, xs,
                                      atom::each::value);
  REQUIRE(got);
  CHECK(got->ids == std::vector<uint64_t>{1, 0, 2});
  REQUIRE(got->errors.size() == 3);
  CHECK_FALSE(got->errors[0]);
  CHECK(error_of(got->errors[1]) == ec::message_required);
  CHECK_FALSE(got->errors[2]);
  CHECK(stats(q).enqueued == 2);
}

TEST_CASE_METHOD(queue_fixture, "a long poll is answered when a message "
                                "arrives, and empty when its wait is over") {
  std::vector<lease> got;
  auto waiting = self->request(q, caf::infinite, atom::receive::value,
                               uint32_t{1}, caf::timespan{30s},
                               caf::timespan{20s});
  run();
  advance(5s);
  CHECK(self->mailbox().empty());
  REQUIRE(enqueue(q, "wake up"));
  std::move(waiting).receive([&](leases& xs) { got = std::move(xs); },
                             [&](caf::error&) { FAIL("receive failed"); });
  REQUIRE(got.size() == 1);
  CHECK(got[0].msg.data.body == "wake up");
  // A second long poll with nothing to come ends after its wait, empty.
  auto pending = self->request(q, caf::infinite, atom::receive::value,
                               uint32_t{1}, caf::timespan{30s},
                               caf::timespan{20s});
  run();
  advance(20s);
  std::move(pending).receive([&](leases& xs) { got = std::move(xs); },
                             [&](caf::error&) { FAIL("receive failed"); });
  CHECK(got.empty());
}

TEST_CASE_METHOD(queue_fixture, "a receive that names no wait waits as long "
                                "as the queue's receive_wait") {
  queue_attributes attrs;
  attrs.receive_wait = 10s;
  auto patient = spawn_queue(attrs, "patient");
  std::vector<lease> got;
  bool answered = false;
  auto waiting = self->request(patient, caf::infinite, atom::receive::value,
                               uint32_t{1}, caf::timespan{0},
                               caf::timespan{-1});
  run();
  advance(9s);
  CHECK(self->mailbox().empty());
  advance(1s);
  std::move(waiting).receive(
    [&](leases& xs) {
      answered = true;
      got = std::move(xs);
    },
    [&](caf::error&) { FAIL("receive failed"); });
  CHECK(answered);
  CHECK(got.empty());
  // Named, a wait of 0 does not wait; nor does "the queue's" of a queue
  // whose receive_wait is 0.
  CHECK(receive(patient).empty());
  auto now = request<leases>(q, atom::receive::value, uint32_t{1},
                             caf::timespan{0}, caf::timespan{-1});
  REQUIRE(now);
  CHECK(now->empty());
}

TEST_CASE_METHOD(queue_fixture, "a FIFO queue's groups through the actor, "
                                "and a long poll that a group's ack wakes") {
  queue_attributes attrs;
  attrs.fifo = true;
  auto f = spawn_queue(attrs, "f.fifo");
  auto grouped = [](std::string body, std::string group) {
    auto x = test::text(std::move(body));
    x.group = std::move(group);
    return x;
  };
  for (auto body : {"a1", "a2"})
    REQUIRE(request<uint64_t>(f, atom::enqueue::value, grouped(body, "a")));
  auto first = receive(f, 1);
  REQUIRE(first.size() == 1);
  CHECK(first[0].msg.group == "a");
  // a2 is held behind a1's lease: a long poll waits until a1 is acked.
  std::vector<lease> got;
  auto waiting = self->request(f, caf::infinite, atom::receive::value,
                               uint32_t{1}, caf::timespan{0},
                               caf::timespan{20s});
  run();
  CHECK(self->mailbox().empty());
  REQUIRE(request<results>(f, atom::ack::value,
                           std::vector<std::string>{first[0].receipt}));
  std::move(waiting).receive([&](leases& xs) { got = std::move(xs); },
                             [&](caf::error&) { FAIL("receive failed"); });
  REQUIRE(got.size() == 1);
  CHECK(got[0].msg.data.body == "a2");
  CHECK(error_of(request<uint64_t>(f, atom::enqueue::value, test::text("x"))
                   .error())
        == ec::group_required);
}

TEST_CASE_METHOD(queue_fixture, "a delayed message is woken by the actor") {
  new_message x;
  x.data.body = "later";
  x.delay = caf::timespan{10s};
  REQUIRE(request<uint64_t>(q, atom::enqueue::value, x));
  CHECK(receive(q).empty());
  advance(10s);
  CHECK(receive(q).size() == 1);
}

TEST_CASE_METHOD(queue_fixture, "dead letters move to the dead-letter queue "
                                "with id and count, and redrive back") {
  auto dlq = spawn_queue(queue_attributes{}, "dlq");
  queue_attributes attrs;
  attrs.max_deliveries = 2;
  attrs.dead_letter_queue = "dlq";
  auto source = spawn_queue(attrs, "orders", dlq);
  auto id = enqueue(source, "poison");
  REQUIRE(id);
  receive(source, 1, 1s);
  advance(1s);
  receive(source, 1, 1s);
  advance(1s);
  CHECK(stats(source).dead_lettered == 1);
  auto dead = receive(dlq, 10, 1s);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].msg.id == *id);
  CHECK(dead[0].msg.receive_count == 3);
  advance(1s);
  auto back = request<std::vector<std::pair<std::string, moved_message>>>(
    dlq, atom::redrive::value);
  REQUIRE(back);
  REQUIRE(back->size() == 1);
  CHECK((*back)[0].first == "orders");
  CHECK(stats(dlq).ready == 0);
}

TEST_CASE_METHOD(queue_fixture, "configure changes attributes live") {
  queue_attributes attrs;
  attrs.max_depth = 1;
  self->send(q, atom::configure::value, attrs, dead_letter_sink{});
  run();
  REQUIRE(enqueue(q, "a"));
  auto refused = enqueue(q, "b");
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::queue_full);
}

TEST_CASE_METHOD(queue_fixture, "priority first, then age, through the actor") {
  REQUIRE(enqueue(q, "old"));
  REQUIRE(enqueue(q, "urgent", 10));
  REQUIRE(enqueue(q, "new"));
  auto xs = receive(q);
  REQUIRE(xs.size() == 3);
  CHECK(xs[0].msg.data.body == "urgent");
  CHECK(xs[1].msg.data.body == "old");
  CHECK(xs[2].msg.data.body == "new");
}

TEST_CASE_METHOD(queue_fixture, "retention expires messages on virtual time") {
  queue_attributes attrs;
  attrs.retention = std::chrono::minutes{1};
  auto r = spawn_queue(attrs);
  REQUIRE(enqueue(r, "short-lived"));
  advance(59s);
  CHECK(stats(r).ready == 1);
  advance(1s);
  CHECK(stats(r).ready == 0);
  CHECK(stats(r).expired == 1);
}

TEST_CASE_METHOD(queue_fixture, "the dedup window is five virtual minutes") {
  new_message x;
  x.data.body = "once";
  x.dedup_id = "order-7";
  auto first = request<uint64_t>(q, atom::enqueue::value, x);
  advance(std::chrono::minutes{4});
  auto repeat = request<uint64_t>(q, atom::enqueue::value, x);
  REQUIRE(first);
  REQUIRE(repeat);
  CHECK(*first == *repeat);
  advance(std::chrono::minutes{1});
  auto later = request<uint64_t>(q, atom::enqueue::value, x);
  REQUIRE(later);
  CHECK(*later != *first);
  CHECK(stats(q).ready == 2);
}

TEST_CASE_METHOD(queue_fixture, "a stray message does not kill the queue") {
  // E.g. a reply bounced back by an actor that did not expect it.
  self->send(caf::actor_cast<caf::actor>(q), std::vector<caf::error>{});
  auto stray = self->request(caf::actor_cast<caf::actor>(q), caf::infinite,
                             std::string{"stray"});
  run();
  std::move(stray).receive([](std::string&) { FAIL("stray answered"); },
                           [](caf::error& err) {
                             CHECK(err == caf::sec::unexpected_message);
                           });
  CHECK(enqueue(q, "still alive"));
}

namespace {

/// What a long poll that `end` interrupts gets: its leases, or its error
/// (request_timeout if nobody answered it).
caf::expected<leases> interrupted_poll(testing::fixture& f,
                                       const queue_actor& q,
                                       const std::function<void()>& end) {
  auto waiting = f.self->request(q, std::chrono::seconds{3600},
                                 atom::receive::value, uint32_t{1},
                                 caf::timespan{30s}, caf::timespan{20s});
  f.run();
  end();
  f.run();
  f.sched.advance_time(std::chrono::hours{2});
  f.run();
  caf::expected<leases> result{caf::sec::none};
  std::move(waiting).receive([&](leases& xs) { result = std::move(xs); },
                             [&](caf::error& err) { result = err; });
  return result;
}

} // namespace

TEST_CASE_METHOD(queue_fixture, "a queue that ends answers its long polls") {
  SECTION("deleted: the queue is gone") {
    auto got = interrupted_poll(*this, q, [&] {
      self->send_exit(q, make_error(ec::unknown_queue));
    });
    REQUIRE_FALSE(got);
    CHECK(error_of(got.error()) == ec::unknown_queue);
  }
  SECTION("shutdown: with what it has") {
    auto got = interrupted_poll(*this, q, [&] {
      self->send_exit(q, caf::exit_reason::user_shutdown);
    });
    REQUIRE(got);
    CHECK(got->empty());
  }
  SECTION("a failure: unavailable, retry") {
    auto got = interrupted_poll(*this, q, [&] {
      self->send_exit(q, caf::make_error(caf::sec::runtime_error));
    });
    REQUIRE_FALSE(got);
    CHECK(got.error() == caf::sec::request_receiver_down);
  }
  SECTION("a drain: with what it has, and later ones do not wait") {
    auto got = interrupted_poll(*this, q,
                                [&] { self->send(q, atom::drain::value); });
    REQUIRE(got);
    CHECK(got->empty());
    auto later = request<leases>(q, atom::receive::value, uint32_t{1},
                                 caf::timespan{30s}, caf::timespan{20s});
    REQUIRE(later);
    CHECK(later->empty());
  }
}

TEST_CASE_METHOD(queue_fixture,
                 "short long polls beside a long lease hold one timer") {
  REQUIRE(enqueue(q, "held"));
  REQUIRE(receive(q, 1, std::chrono::hours{12}).size() == 1);
  for (int i = 0; i < 50; ++i) {
    auto poll = self->request(q, caf::infinite, atom::receive::value,
                              uint32_t{1}, caf::timespan{30s},
                              caf::timespan{1s});
    run();
    advance(1s);
    std::move(poll).receive([](leases&) {},
                            [](caf::error&) { FAIL("poll failed"); });
  }
  // One for the lease's deadline and the polls' together.
  CHECK(sched.clock().schedule().size() == 1);
}

TEST_CASE_METHOD(queue_fixture,
                 "ever earlier deadlines hold one timer") {
  REQUIRE(enqueue(q, "held"));
  auto xs = receive(q, 1, std::chrono::hours{12});
  REQUIRE(xs.size() == 1);
  // Each extend moves the lease's end a little earlier: a timer each would
  // grow without bound for 12 hours.
  for (int i = 1; i <= 5000; ++i) {
    auto results = request<std::vector<caf::error>>(
      q, atom::extend::value, std::vector<std::string>{xs[0].receipt},
      caf::timespan{std::chrono::hours{12} - i * 7ms});
    REQUIRE(results);
    REQUIRE_FALSE(results->front());
  }
  CHECK(sched.clock().schedule().size() == 1);
  // The lease still ends on time, not a tick late.
  advance(std::chrono::hours{12} - 5000 * 7ms - 1ms);
  CHECK(stats(q).in_flight == 1);
  advance(1ms);
  CHECK(stats(q).in_flight == 0);
  CHECK(stats(q).ready == 1);
}

TEST_CASE_METHOD(testing::fixture,
                 "waiting receivers count against the memory bound") {
  auto budget = std::make_shared<memory_budget>();
  queue_config cfg;
  cfg.budget = budget;
  auto q = sys.spawn(queue, cfg);
  run();
  auto poll = self->request(q, caf::infinite, atom::receive::value,
                            uint32_t{1}, caf::timespan{30s},
                            caf::timespan{5s});
  run();
  CHECK(budget->used > 0);
  advance(5s);
  std::move(poll).receive([](leases&) {},
                          [](caf::error&) { FAIL("poll failed"); });
  CHECK(budget->used == 0);
}
