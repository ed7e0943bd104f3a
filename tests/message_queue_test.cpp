#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "actormq/errors.hpp"
#include "actormq/message_queue.hpp"
#include "test_support.hpp"

using namespace actormq;
using namespace std::chrono_literals;
using test::error_of;
using test::text;

namespace {

/// A queue and a clock the test moves by hand.
struct queue_fixture {
  message_queue q;
  time_point now{std::chrono::hours{1}};

  explicit queue_fixture(queue_attributes attrs = {}) : q(std::move(attrs)) {
    // nop
  }

  uint64_t push(std::string body, int32_t priority = 0) {
    auto id = q.push(text(std::move(body), priority), now);
    REQUIRE(id);
    return *id;
  }

  std::vector<std::string> bodies(const std::vector<lease>& xs) {
    std::vector<std::string> result;
    for (auto& x : xs)
      result.push_back(x.msg.data.body);
    return result;
  }

  std::vector<std::string> bodies(const std::vector<message>& xs) {
    std::vector<std::string> result;
    for (auto& x : xs)
      result.push_back(x.data.body);
    return result;
  }

  std::vector<lease> receive(size_t max = 10, caf::timespan vis = 30s) {
    return q.receive(max, vis, now);
  }
};

using strings = std::vector<std::string>;

queue_attributes with(void (*f)(queue_attributes&)) {
  queue_attributes x;
  f(x);
  return x;
}

/// A queue whose messages die into "dlq" after one delivery.
queue_attributes one_delivery() {
  return with([](queue_attributes& x) {
    x.max_deliveries = 1;
    x.dead_letter_queue = "dlq";
  });
}

} // namespace

TEST_CASE_METHOD(queue_fixture, "messages are leased oldest first") {
  push("a");
  push("b");
  push("c");
  CHECK(bodies(receive(2)) == strings{"a", "b"});
  CHECK(bodies(receive()) == strings{"c"});
  CHECK(receive().empty());
}

TEST_CASE_METHOD(queue_fixture, "higher priority is served first") {
  push("low", -1);
  push("normal");
  push("urgent", 5);
  push("normal2");
  CHECK(bodies(receive()) == strings{"urgent", "normal", "normal2", "low"});
}

TEST_CASE_METHOD(queue_fixture, "a lease carries id, receipt and count") {
  auto id = push("a");
  auto xs = receive(1, 10s);
  REQUIRE(xs.size() == 1);
  CHECK(xs[0].msg.id == id);
  CHECK(xs[0].msg.receive_count == 1);
  CHECK(xs[0].msg.enqueued_at == now);
  CHECK(xs[0].expires == now + 10s);
  CHECK_FALSE(xs[0].receipt.empty());
}

TEST_CASE_METHOD(queue_fixture, "an acked message is gone for good") {
  push("a");
  auto xs = receive();
  CHECK_FALSE(q.ack(xs[0].receipt, now));
  now += 1h;
  CHECK(receive().empty());
  CHECK(q.stats(now).acked == 1);
  CHECK(error_of(q.ack(xs[0].receipt, now)) == ec::stale_receipt);
}

TEST_CASE_METHOD(queue_fixture, "an expired lease returns the message, "
                                "in its place, with its count") {
  push("a");
  push("b");
  auto first = receive(1, 10s);
  now += 9s;
  CHECK(bodies(receive()) == strings{"b"});
  now += 1s;
  auto again = receive();
  REQUIRE(again.size() == 1);
  CHECK(again[0].msg.data.body == "a");
  CHECK(again[0].msg.receive_count == 2);
  CHECK(q.stats(now).redelivered == 1);
  // The first holder's receipt no longer applies to the new holder.
  CHECK(error_of(q.ack(first[0].receipt, now)) == ec::stale_receipt);
  CHECK(error_of(q.ack("garbage", now)) == ec::invalid_receipt);
  CHECK_FALSE(q.ack(again[0].receipt, now));
}

TEST_CASE_METHOD(queue_fixture, "an expired message keeps its place") {
  push("a");
  receive(1, 10s);
  push("b");
  now += 10s;
  CHECK(bodies(receive()) == strings{"a", "b"});
}

TEST_CASE_METHOD(queue_fixture, "release returns a message now or later") {
  push("a");
  auto xs = receive();
  CHECK_FALSE(q.release(xs[0].receipt, 5s, now));
  CHECK(receive().empty());
  CHECK(q.stats(now).delayed == 1);
  now += 5s;
  CHECK(bodies(receive()) == strings{"a"});
}

TEST_CASE_METHOD(queue_fixture, "extend keeps a lease alive") {
  push("a");
  auto xs = receive(1, 10s);
  now += 8s;
  CHECK_FALSE(q.extend(xs[0].receipt, 10s, now));
  now += 9s;
  CHECK(receive().empty());
  CHECK_FALSE(q.ack(xs[0].receipt, now));
  now += 1h;
  CHECK(error_of(q.extend(xs[0].receipt, 10s, now)) == ec::stale_receipt);
}

TEST_CASE("after max_deliveries leases, a message is a dead letter") {
  queue_fixture f{with([](queue_attributes& x) {
    x.max_deliveries = 2;
    x.dead_letter_queue = "dlq";
  })};
  auto id = f.push("poison");
  f.receive(1, 1s);
  f.now += 1s;
  auto second = f.receive(1, 1s);
  REQUIRE(second.size() == 1);
  f.now += 1s;
  f.q.advance(f.now);
  CHECK(f.receive().empty());
  auto dead = f.q.take_dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].msg.id == id);
  CHECK(dead[0].msg.receive_count == 2);
  CHECK(f.q.stats(f.now).dead_lettered == 1);
  CHECK(f.q.take_dead_letters().empty());
}

TEST_CASE("a release counts toward max_deliveries too") {
  queue_fixture f{one_delivery()};
  f.push("poison");
  auto xs = f.receive();
  CHECK_FALSE(f.q.release(xs[0].receipt, 0s, f.now));
  CHECK(f.q.take_dead_letters().size() == 1);
  CHECK(f.q.size() == 0);
}

TEST_CASE("a lease given back (its receiver never got it) is no delivery") {
  queue_fixture f{one_delivery()};
  f.push("first");
  f.push("second");
  auto xs = f.receive();
  REQUIRE(xs.size() == 2);
  CHECK_FALSE(f.q.give_back(xs[1].receipt, f.now));
  CHECK_FALSE(f.q.give_back(xs[0].receipt, f.now));
  CHECK(f.q.take_dead_letters().empty());
  CHECK(error_of(f.q.give_back(xs[0].receipt, f.now)) == ec::stale_receipt);
  // Ready at once, in their order, counted as never received.
  auto again = f.receive();
  REQUIRE(f.bodies(again) == std::vector<std::string>{"first", "second"});
  CHECK(again[0].msg.receive_count == 1);
  CHECK(again[1].msg.receive_count == 1);
}

TEST_CASE("adopted messages keep id and count and can go back") {
  message_queue dlq;
  time_point now{};
  message m{42, {"x", payload_kind::text}, 0, 3, now, {}};
  dlq.adopt(m, "orders", now);
  auto xs = dlq.receive(10, 30s, now);
  REQUIRE(xs.size() == 1);
  CHECK(xs[0].msg.id == 42);
  CHECK(xs[0].msg.receive_count == 4);
  CHECK_FALSE(dlq.release(xs[0].receipt, 0s, now));
  auto back = dlq.take_adopted();
  REQUIRE(back.size() == 1);
  CHECK(back[0].source == "orders");
  CHECK(back[0].msg.id == 42);
  CHECK(dlq.size() == 0);
}

TEST_CASE("queues that share an id source never reuse an id") {
  auto ids = message_queue::make_id_source();
  message_queue a{{}, ids};
  message_queue b{{}, ids};
  time_point now{};
  auto x = a.push(text("1"), now);
  auto y = b.push(text("2"), now);
  REQUIRE(x);
  REQUIRE(y);
  CHECK(*x != *y);
}

TEST_CASE("delays hold messages back") {
  queue_fixture f{with([](queue_attributes& x) { x.delay = 10s; })};
  f.push("default-delay");
  new_message now_msg{{"no-delay", payload_kind::text}, caf::timespan{0}, 0,
                      {}, {}};
  REQUIRE(f.q.push(now_msg, f.now));
  CHECK(f.bodies(f.receive()) == strings{"no-delay"});
  CHECK(f.q.stats(f.now).delayed == 1);
  CHECK(f.q.next_deadline() == std::optional<time_point>{f.now + 10s});
  f.now += 10s;
  CHECK(f.bodies(f.receive()) == strings{"default-delay"});
}

TEST_CASE_METHOD(queue_fixture, "a dedup_id repeat returns the first id") {
  new_message x{{"a", payload_kind::text}, {}, 0, "order-1", {}};
  auto first = q.push(x, now);
  now += 4min;
  auto repeat = q.push(x, now);
  REQUIRE(first);
  REQUIRE(repeat);
  CHECK(*repeat == *first);
  CHECK(q.size() == 1);
  now += 1min;
  auto later = q.push(x, now);
  REQUIRE(later);
  CHECK(*later != *first);
  CHECK(q.size() == 2);
}

TEST_CASE("retention expires old messages, counted") {
  queue_fixture f{with([](queue_attributes& x) { x.retention = 60s; })};
  f.push("old");
  f.now += 30s;
  f.push("young");
  f.now += 30s;
  CHECK(f.bodies(f.receive()) == strings{"young"});
  CHECK(f.q.stats(f.now).expired == 1);
}

TEST_CASE("max_depth bounds the queue") {
  queue_fixture f{with([](queue_attributes& x) { x.max_depth = 2; })};
  f.push("a");
  f.push("b");
  auto refused
    = f.q.push(text("c"), f.now);
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::queue_full);
  auto xs = f.receive(1);
  CHECK_FALSE(f.q.ack(xs[0].receipt, f.now));
  f.push("c");
}

TEST_CASE("empty and oversized messages are refused") {
  queue_fixture f{with([](queue_attributes& x) { x.max_message_bytes = 4; })};
  auto empty = f.q.push(new_message{}, f.now);
  REQUIRE_FALSE(empty);
  CHECK(error_of(empty.error()) == ec::message_required);
  auto big
    = f.q.push(text("12345"), f.now);
  REQUIRE_FALSE(big);
  CHECK(error_of(big.error()) == ec::message_too_large);
  f.push("1234");
}

TEST_CASE_METHOD(queue_fixture, "peek shows ready messages without leasing") {
  push("a");
  push("b", 1);
  auto xs = q.peek(10, now);
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].data.body == "b");
  CHECK(bodies(receive()) == strings{"b", "a"});
}

TEST_CASE_METHOD(queue_fixture, "stats count every state and total") {
  push("ready");
  push("leased");
  q.push(new_message{{"later", payload_kind::text}, caf::timespan{5s}, 0, {},
                     {}},
         now);
  now += 3s;
  auto xs = receive(1);
  auto s = q.stats(now);
  CHECK(s.ready == 1);
  CHECK(s.in_flight == 1);
  CHECK(s.delayed == 1);
  CHECK(s.enqueued == 3);
  CHECK(s.bytes == 16);
  CHECK(s.oldest_ready_age == caf::timespan{3s});
  CHECK(q.purge() == 3);
  CHECK(q.stats(now).ready == 0);
  CHECK(q.stats(now).bytes == 0);
}

TEST_CASE("queues sharing a memory budget are bounded together") {
  auto budget = std::make_shared<memory_budget>();
  budget->limit
    = 2 * (memory_budget::per_message + 10 + memory_budget::per_priority);
  time_point now{};
  {
    message_queue a{{}, {}, budget};
    message_queue b{{}, {}, budget};
    REQUIRE(a.push(text("0123456789"), now));
    REQUIRE(b.push(text("0123456789"), now));
    auto refused = a.push(text("x"), now);
    REQUIRE_FALSE(refused);
    CHECK(error_of(refused.error()) == ec::out_of_memory);
    auto xs = b.receive(1, 30s, now);
    REQUIRE_FALSE(b.ack(xs[0].receipt, now));
    CHECK(a.push(text("x"), now));
    CHECK(a.purge() == 2);
    CHECK(budget->used == 0);
    REQUIRE(a.push(text("y"), now));
  }
  // A destroyed queue gives its memory back.
  CHECK(budget->used == 0);
}

TEST_CASE("order holds across fresh, returned and expired messages") {
  queue_fixture f{with([](queue_attributes& x) { x.retention = 100s; })};
  f.push("a");
  f.now += 10s;
  f.push("b");
  f.push("c");
  auto first = f.receive(1, 5s); // a
  f.now += 5s;                    // a comes back, before b
  f.push("d", 1);                 // more urgent than all
  CHECK(f.bodies(f.q.receive(0, 30s, f.now)).empty());
  auto peeked = f.q.peek(10, f.now);
  REQUIRE(peeked.size() == 4);
  CHECK(peeked[0].data.body == "d");
  CHECK(peeked[1].data.body == "a");
  f.now += 86s; // a expires (enqueued 101 s ago); b and c do not
  CHECK(f.bodies(f.receive()) == strings{"d", "b", "c"});
  CHECK(f.q.stats(f.now).expired == 1);
  CHECK(f.q.stats(f.now).ready == 0);
}

TEST_CASE("dead letters leave the byte count right") {
  queue_fixture f{one_delivery()};
  f.push("12345");
  f.push("678");
  auto xs = f.receive(1);
  REQUIRE_FALSE(f.q.release(xs[0].receipt, 0s, f.now));
  auto dead = f.q.take_dead_letters();
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].msg.data.body == "12345");
  CHECK(f.q.stats(f.now).bytes == 3);
}

// Issue 10: receipts, moves and redrive.

namespace {

/// Pushes one message into each queue and leases it; returns both leases.
std::pair<std::vector<lease>, std::vector<lease>>
one_lease_each(message_queue& a, message_queue& b, time_point now) {
  REQUIRE(a.push(text("a"), now));
  REQUIRE(b.push(text("b"), now));
  auto from_a = a.receive(1, 30s, now);
  auto from_b = b.receive(1, 30s, now);
  REQUIRE(from_a.size() == 1);
  REQUIRE(from_b.size() == 1);
  return {std::move(from_a), std::move(from_b)};
}

} // namespace

TEST_CASE("a receipt names one lease of one queue") {
  auto ids = message_queue::make_id_source();
  message_queue a{{}, ids};
  message_queue b{{}, ids};
  time_point now{};
  auto [from_a, from_b] = one_lease_each(a, b, now);
  CHECK(from_a[0].receipt != from_b[0].receipt);
  CHECK(error_of(b.ack(from_a[0].receipt, now)) == ec::stale_receipt);
  CHECK(b.stats(now).in_flight == 1);
}

TEST_CASE("a receipt from before a restart names no lease after it") {
  auto ids = message_queue::make_id_source();
  message_queue before{{}, ids};
  time_point now{};
  REQUIRE(before.push(text("x"), now));
  auto first = before.receive(1, 30s, now);
  REQUIRE(first.size() == 1);
  // The same message, read back from a store by the next start.
  message_queue after{{}, ids};
  message_queue::stored_message m;
  m.msg = first[0].msg;
  after.restore(std::move(m), now);
  auto second = after.receive(1, 30s, now);
  REQUIRE(second.size() == 1);
  CHECK(second[0].msg.receive_count == 2);
  CHECK(second[0].receipt != first[0].receipt);
  CHECK(error_of(after.ack(first[0].receipt, now)) == ec::stale_receipt);
  CHECK_FALSE(after.ack(second[0].receipt, now));
}

TEST_CASE("a message that leaves is not erased by its source's journal") {
  // Its new queue removes the source's record in the write that adds its
  // own; were the source to erase it first, a crash between the two
  // writes would lose it.
  queue_fixture f{one_delivery()};
  f.q.set_journaling(true);
  f.push("poison");
  f.q.take_journal();
  auto xs = f.receive(1);
  REQUIRE_FALSE(f.q.release(xs[0].receipt, 0s, f.now));
  REQUIRE(f.q.take_dead_letters().size() == 1);
  CHECK(f.q.take_journal().erases.empty());
}

TEST_CASE("moved messages are served by priority, then enqueue time") {
  queue_fixture f{one_delivery()};
  for (auto body : {"m1", "m2", "m3", "m4"}) {
    f.push(body);
    f.now += 1s;
  }
  // m4 dies first, m1 last: the dead-letter queue still serves m1 first.
  auto xs = f.receive(4);
  message_queue dlq;
  for (auto i = xs.rbegin(); i != xs.rend(); ++i) {
    REQUIRE_FALSE(f.q.release(i->receipt, 0s, f.now));
    for (auto& d : f.q.take_dead_letters())
      dlq.adopt(std::move(d.msg), "q", f.now);
  }
  auto peeked = dlq.peek(10, f.now);
  REQUIRE(peeked.size() == 4);
  CHECK(peeked[0].data.body == "m1");
  CHECK(peeked[3].data.body == "m4");
  // And so does their home queue after a redrive.
  message_queue home;
  for (auto& d : dlq.take_adopted())
    home.adopt(std::move(d.msg), {}, f.now);
  auto back = home.receive(4, 30s, f.now);
  REQUIRE(back.size() == 4);
  CHECK(f.bodies(back) == strings{"m1", "m2", "m3", "m4"});
}

TEST_CASE("redrive takes the dead letters that are not leased") {
  message_queue dlq;
  time_point now{};
  dlq.adopt(message{1, {"leased", payload_kind::text}, 0, 1, now, {}}, "a",
            now);
  dlq.adopt(message{2, {"ready", payload_kind::text}, 0, 1, now, {}}, "a",
            now);
  REQUIRE(dlq.push(text("own"), now));
  auto held = dlq.receive(1, 30s, now);
  REQUIRE(held.size() == 1);
  REQUIRE(held[0].msg.id == 1);
  auto moved = dlq.take_adopted();
  REQUIRE(moved.size() == 1);
  CHECK(moved[0].msg.id == 2);
  // The holder's lease holds; the message moves on a later redrive.
  CHECK_FALSE(dlq.extend(held[0].receipt, 10s, now));
  REQUIRE_FALSE(dlq.release(held[0].receipt, 0s, now));
  auto later = dlq.take_adopted();
  REQUIRE(later.size() == 1);
  CHECK(later[0].msg.id == 1);
  CHECK(dlq.size() == 1);
}

// Issue 9: memory and cost.

TEST_CASE("extending a lease keeps one key for it, not one per extend") {
  queue_fixture f;
  f.push("held");
  auto xs = f.receive(1, 1s);
  REQUIRE(xs.size() == 1);
  for (int i = 0; i < 100; ++i) {
    REQUIRE_FALSE(f.q.extend(xs[0].receipt, std::chrono::hours{12}, f.now));
    f.now += 10ms;
  }
  CHECK(f.q.timed_keys() <= 2);
  // The lease still ends when the last extend says, not before.
  f.now += std::chrono::hours{11};
  f.q.advance(f.now);
  CHECK(f.q.stats(f.now).in_flight == 1);
  f.now += std::chrono::hours{1};
  f.q.advance(f.now);
  CHECK(f.q.stats(f.now).ready == 1);
  // A shorter extend is kept too.
  auto again = f.receive(1, std::chrono::hours{1});
  REQUIRE_FALSE(f.q.extend(again[0].receipt, 1s, f.now));
  f.now += 1s;
  f.q.advance(f.now);
  CHECK(f.q.stats(f.now).ready == 1);
}

TEST_CASE("each priority with ready messages counts against the bound") {
  auto budget = std::make_shared<memory_budget>();
  budget->limit
    = 4 * (memory_budget::per_message + 1) + memory_budget::per_priority;
  message_queue q{{}, {}, budget};
  time_point now{};
  // One priority: four messages fit.
  for (int i = 0; i < 4; ++i)
    REQUIRE(q.push(text("x", 7), now));
  CHECK(budget->used
        == 4 * (memory_budget::per_message + 1) + memory_budget::per_priority);
  REQUIRE(q.purge() == 4);
  CHECK(budget->used == 0);
  // A priority each: the second passes the bound with its bucket (it was
  // admitted), the third is refused.
  CHECK(q.push(text("x", 1), now));
  CHECK(q.push(text("x", 2), now));
  auto refused = q.push(text("x", 3), now);
  REQUIRE_FALSE(refused);
  CHECK(error_of(refused.error()) == ec::out_of_memory);
  // Taking the last message of a priority gives its bucket back.
  auto xs = q.receive(1, 30s, now);
  REQUIRE(xs.size() == 1);
  CHECK(budget->used == 2 * (memory_budget::per_message + 1)
                          + memory_budget::per_priority);
  REQUIRE_FALSE(q.ack(xs[0].receipt, now));
  CHECK(budget->used == memory_budget::per_message + 1
                          + memory_budget::per_priority);
}

TEST_CASE("a receive or peek returns at most max_batch_bytes of bodies") {
  queue_fixture f{with([](queue_attributes& x) {
    x.max_message_bytes = 2 * message_queue::max_batch_bytes;
  })};
  auto quarter = std::string(message_queue::max_batch_bytes / 4, 'x');
  for (int i = 0; i < 6; ++i)
    f.push(quarter);
  f.push(std::string(message_queue::max_batch_bytes + 1, 'y'));
  // Four fit, not a fifth.
  CHECK(f.q.peek(100, f.now).size() == 4);
  CHECK(f.receive(100).size() == 4);
  CHECK(f.q.peek(100, f.now).size() == 2);
  CHECK(f.receive(100).size() == 2);
  // One larger than the bound still comes, alone.
  auto big = f.receive(100);
  REQUIRE(big.size() == 1);
  CHECK(big[0].msg.data.body.size() == message_queue::max_batch_bytes + 1);
}

TEST_CASE("remembered dedup ids count against the memory bound") {
  auto budget = std::make_shared<memory_budget>();
  message_queue q{{}, {}, budget};
  time_point now{};
  new_message x = text("m");
  x.dedup_id = "order-42";
  REQUIRE(q.push(x, now));
  auto with_id = budget->used.load();
  // The message keeps its id (8 bytes), and the queue remembers it.
  CHECK(with_id == 1 + 8 + memory_budget::per_message + 8
                     + memory_budget::per_dedup_id
                     + memory_budget::per_priority);
  // A repeat adds nothing.
  REQUIRE(q.push(x, now));
  CHECK(budget->used == with_id);
  auto xs = q.receive(1, 30s, now);
  REQUIRE_FALSE(q.ack(xs[0].receipt, now));
  CHECK(budget->used == 8 + memory_budget::per_dedup_id);
  q.advance(now + message_queue::dedup_window);
  CHECK(budget->used == 0);
}

TEST_CASE("a batch takes its memory in one step, beside other queues") {
  // Two queues on two threads share a bound that holds a few batches:
  // each batch is accepted whole or refused whole.
  auto budget = std::make_shared<memory_budget>();
  budget->limit = 10 * (memory_budget::per_message + 1);
  // Catch's assertions are not for other threads: count, check after.
  std::atomic<int> partial{0};
  auto run = [&](message_queue& q, uint64_t& accepted) {
    time_point now{};
    for (int i = 0; i < 2000; ++i) {
      std::vector<new_message> batch(3, text("x"));
      if (auto ids = q.push_all(batch, now)) {
        partial += ids->size() == 3 ? 0 : 1;
        accepted += 3;
      }
      if (q.size() >= 6)
        q.purge();
    }
  };
  message_queue a{{}, {}, budget};
  message_queue b{{}, {}, budget};
  uint64_t in_a = 0;
  uint64_t in_b = 0;
  std::thread other{[&] { run(b, in_b); }};
  run(a, in_a);
  other.join();
  CHECK(a.size() % 3 == 0);
  CHECK(b.size() % 3 == 0);
  auto priorities = (a.size() > 0 ? 1u : 0u) + (b.size() > 0 ? 1u : 0u);
  CHECK(budget->used
        == (a.size() + b.size()) * (memory_budget::per_message + 1)
             + priorities * memory_budget::per_priority);
  CHECK(in_a + in_b > 0);
  CHECK(partial == 0);
}

TEST_CASE("queues with their own id sources never share a receipt") {
  // Each counts ids from 1: the receipts must still differ.
  message_queue a;
  message_queue b;
  time_point now{};
  auto [from_a, from_b] = one_lease_each(a, b, now);
  CHECK(from_a[0].msg.id == from_b[0].msg.id);
  CHECK(from_a[0].receipt != from_b[0].receipt);
  CHECK(error_of(b.ack(from_a[0].receipt, now)) == ec::stale_receipt);
}

TEST_CASE("acked leases leave no keys that live for hours") {
  queue_fixture f;
  for (int i = 0; i < 1000; ++i) {
    f.push("m");
    auto xs = f.receive(1, std::chrono::hours{12});
    REQUIRE(xs.size() == 1);
    REQUIRE_FALSE(f.q.ack(xs[0].receipt, f.now));
    f.now += 1ms;
  }
  CHECK(f.q.timed_keys() <= 65);
}

namespace {

queue_attributes fifo() {
  return with([](queue_attributes& x) { x.fifo = true; });
}

/// A message of group `group` for a FIFO queue.
new_message grouped(std::string body, std::string group) {
  auto x = text(std::move(body));
  x.group = std::move(group);
  return x;
}

} // namespace

TEST_CASE("a FIFO group is served in order, one lease at a time") {
  queue_fixture f{fifo()};
  for (auto [body, group] : {std::pair{"a1", "a"}, {"b1", "b"}, {"a2", "a"},
                             {"b2", "b"}, {"a3", "a"}})
    REQUIRE(f.q.push(grouped(body, group), f.now));
  // One at a time: a1 is the oldest; a is then leased, so b goes on.
  auto a1 = f.receive(1);
  CHECK(f.bodies(a1) == strings{"a1"});
  CHECK(f.bodies(f.receive(1)) == strings{"b1"});
  // Both groups are leased: nothing is receivable, though 3 are ready.
  CHECK(f.receive().empty());
  CHECK(f.q.ready_count() == 0);
  CHECK(f.q.stats(f.now).ready == 3);
  CHECK(f.q.stats(f.now).in_flight == 2);
  CHECK(f.q.peek(10, f.now).empty());
  // An ack lets the group go on, with its next message.
  REQUIRE(!f.q.ack(a1.front().receipt, f.now));
  CHECK(f.bodies(f.receive()) == strings{"a2", "a3"});
}

TEST_CASE("a FIFO receive takes as much of a group as it may, then the "
          "next group") {
  queue_fixture f{fifo()};
  for (auto [body, group] : {std::pair{"a1", "a"}, {"b1", "b"}, {"a2", "a"},
                             {"c1", "c"}, {"b2", "b"}, {"a3", "a"}})
    REQUIRE(f.q.push(grouped(body, group), f.now));
  CHECK(f.bodies(f.q.peek(10, f.now))
        == strings{"a1", "a2", "a3", "b1", "b2", "c1"});
  CHECK(f.bodies(f.receive(4)) == strings{"a1", "a2", "a3", "b1"});
  // b is leased (b1): b2 waits; c goes on.
  CHECK(f.bodies(f.receive(4)) == strings{"c1"});
}

TEST_CASE("a FIFO message whose lease ends comes back before the rest of "
          "its group") {
  queue_fixture f{fifo()};
  REQUIRE(f.q.push(grouped("a1", "a"), f.now));
  REQUIRE(f.q.push(grouped("a2", "a"), f.now));
  auto first = f.receive(1);
  REQUIRE(f.bodies(first) == strings{"a1"});
  f.now += 31s;
  CHECK(f.q.stats(f.now).oldest_ready_age == 31s);
  auto again = f.receive(1);
  CHECK(f.bodies(again) == strings{"a1"});
  CHECK(again.front().msg.receive_count == 2);
  // Released, it is first again; given back too.
  REQUIRE(!f.q.release(again.front().receipt, 0s, f.now));
  auto third = f.receive(1);
  CHECK(f.bodies(third) == strings{"a1"});
  REQUIRE(!f.q.give_back(third.front().receipt, f.now));
  CHECK(f.bodies(f.q.peek(10, f.now)) == strings{"a1", "a2"});
}

TEST_CASE("a FIFO message released with a delay lets its group go on") {
  queue_fixture f{fifo()};
  REQUIRE(f.q.push(grouped("a1", "a"), f.now));
  REQUIRE(f.q.push(grouped("a2", "a"), f.now));
  auto first = f.receive(1);
  REQUIRE(!f.q.release(first.front().receipt, 10s, f.now));
  CHECK(f.bodies(f.receive(1)) == strings{"a2"});
}

TEST_CASE("the oldest ready age counts messages held behind their group") {
  queue_fixture f{fifo()};
  REQUIRE(f.q.push(grouped("a1", "a"), f.now));
  f.now += 5s;
  REQUIRE(f.q.push(grouped("a2", "a"), f.now));
  f.now += 5s;
  REQUIRE(f.q.push(grouped("b1", "b"), f.now));
  REQUIRE(f.bodies(f.receive(1)) == strings{"a1"});
  f.now += 1s;
  // a2 is held (a1 is leased), and older than b1.
  CHECK(f.q.stats(f.now).oldest_ready_age == 6s);
}

TEST_CASE("a message held in the middle of a deque comes back in its place") {
  // b1 enters the ready index behind a1; b0, older, turns ready after a
  // delay and holds b1 back; once b0 is acked, b1 is in the index again,
  // in its old place, and is leased once.
  auto attrs = fifo();
  attrs.delay = 10s;
  queue_fixture f{attrs};
  REQUIRE(f.q.push(grouped("b0", "b"), f.now));
  attrs.delay = 0s;
  f.q.set_attributes(attrs);
  for (auto [body, group] : {std::pair{"a1", "a"}, {"b1", "b"}, {"c1", "c"}})
    REQUIRE(f.q.push(grouped(body, group), f.now));
  f.now += 10s;
  auto b0 = f.receive(1);
  REQUIRE(f.bodies(b0) == strings{"b0"});
  CHECK(f.q.ready_count() == 2);
  REQUIRE(!f.q.ack(b0.front().receipt, f.now));
  CHECK(f.q.ready_count() == 3);
  CHECK(f.bodies(f.q.peek(10, f.now)) == strings{"a1", "b1", "c1"});
  CHECK(f.bodies(f.receive(10)) == strings{"a1", "b1", "c1"});
  CHECK(f.receive(10).empty());
  CHECK(f.q.stats(f.now).in_flight == 3);
  CHECK(f.q.stats(f.now).ready == 0);
}

TEST_CASE("a FIFO queue needs a group and takes no delay or priority of a "
          "message") {
  queue_fixture f{fifo()};
  CHECK(error_of(f.q.push(text("x"), f.now).error()) == ec::group_required);
  auto delayed = grouped("x", "g");
  delayed.delay = 5s;
  CHECK(error_of(f.q.push(delayed, f.now).error()) == ec::fifo_forbids);
  auto urgent = grouped("x", "g");
  urgent.priority = 3;
  CHECK(error_of(f.q.push_all({grouped("ok", "g"), urgent}, f.now).error())
        == ec::fifo_forbids);
  CHECK(f.q.size() == 0);
  // The queue's own delay applies.
  auto attrs = fifo();
  attrs.delay = 2s;
  f.q.set_attributes(attrs);
  REQUIRE(f.q.push(grouped("later", "g"), f.now));
  CHECK(f.receive().empty());
  f.now += 2s;
  CHECK(f.bodies(f.receive()) == strings{"later"});
}

TEST_CASE("fifo stays as the queue was created") {
  queue_fixture f{fifo()};
  f.q.set_attributes(queue_attributes{});
  CHECK(f.q.attributes().fifo);
  queue_fixture plain;
  plain.q.set_attributes(fifo());
  CHECK(!plain.q.attributes().fifo);
  // A standard queue keeps a message's group but serves it as any other.
  REQUIRE(plain.q.push(grouped("a1", "a"), plain.now));
  REQUIRE(plain.q.push(grouped("a2", "a"), plain.now));
  auto got = plain.receive(1);
  CHECK(got.front().msg.group == "a");
  CHECK(plain.bodies(plain.receive(1)) == strings{"a2"});
}

TEST_CASE("a message's attributes count in its size, and come back") {
  // 10 + 4 + 6 + 2: the body, the name, the type and the value.
  queue_fixture f{with([](queue_attributes& x) { x.max_message_bytes = 22; })};
  auto x = text("0123456789");
  x.data.attributes = {{"name", "String", "abc"}};
  CHECK(error_of(f.q.push(x, f.now).error()) == ec::message_too_large);
  x.data.attributes = {{"name", "String", "ab"}};
  REQUIRE(f.q.push(x, f.now));
  auto got = f.receive();
  REQUIRE(got.size() == 1);
  REQUIRE(got[0].msg.data.attributes.size() == 1);
  CHECK(got[0].msg.data.attributes[0].value == "ab");
}

TEST_CASE("attributes count in a receive's bytes, and a message has at "
          "most 10") {
  queue_fixture f{with([](queue_attributes& x) {
    x.max_message_bytes = 2 * 1024 * 1024;
  })};
  for (int i = 0; i < 3; ++i) {
    auto x = text("x");
    x.data.attributes = {{"a", "Binary", std::string(1536 * 1024, 'b')}};
    REQUIRE(f.q.push(x, f.now));
  }
  CHECK(f.q.peek(10, f.now).size() == 2);
  CHECK(f.receive(10).size() == 2);
  auto many = text("x");
  for (int i = 0; i < 11; ++i)
    many.data.attributes.push_back({"a" + std::to_string(i), "String", "v"});
  CHECK(error_of(f.q.push(many, f.now).error()) == ec::too_many_attributes);
}

TEST_CASE("a FIFO queue's groups cost memory, and give it all back") {
  auto budget = std::make_shared<memory_budget>();
  message_queue q{fifo(), {}, budget};
  time_point now{std::chrono::hours{1}};
  auto before = budget->used.load();
  for (auto group : {"a", "b", "a", "c"})
    REQUIRE(q.push(grouped("m", group), now));
  auto with_groups = budget->used.load();
  auto plain_budget = std::make_shared<memory_budget>();
  message_queue plain{{}, {}, plain_budget};
  for (auto group : {"a", "b", "a", "c"})
    REQUIRE(plain.push(grouped("m", group), now));
  CHECK(with_groups - before
        == plain_budget->used.load() + 3 * memory_budget::per_group + 3);
  for (auto& x : q.receive(10, 30s, now))
    REQUIRE(!q.ack(x.receipt, now));
  CHECK(q.size() == 0);
  CHECK(budget->used.load() == before);
  for (auto group : {"a", "b"})
    REQUIRE(q.push(grouped("m", group), now));
  q.receive(1, 30s, now);
  q.purge();
  CHECK(budget->used.load() == before);
}

TEST_CASE("a message keeps its dedup id and when it was first received") {
  queue_fixture f;
  REQUIRE(f.q.push(text("a", 0, "order-1"), f.now));
  auto start = f.now;
  auto first = f.receive(1, 10s);
  REQUIRE(first.size() == 1);
  CHECK(first[0].msg.dedup_id == "order-1");
  CHECK(first[0].msg.first_received_at == start);
  f.now += 11s;
  auto second = f.receive(1);
  REQUIRE(second.size() == 1);
  CHECK(second[0].msg.receive_count == 2);
  CHECK(second[0].msg.first_received_at == start);
  CHECK(f.q.peek(1, f.now).empty());
}

TEST_CASE("content dedup takes a message's body for its dedup id") {
  queue_fixture f{with([](queue_attributes& x) { x.content_dedup = true; })};
  auto first = f.q.push(text("same"), f.now);
  REQUIRE(first);
  // The SHA-256 of "same", in hex.
  CHECK(f.q.peek(1, f.now).front().dedup_id
        == "0967115f2813a3541eaef77de9d9d5773f1c0c04314b0bbfe4ff3b3b1c55b5d5");
  CHECK(f.q.push(text("same"), f.now) == first);
  CHECK(f.q.push(text("other"), f.now) != first);
  // An explicit dedup id wins over the body.
  CHECK(f.q.push(text("same", 0, "own-id"), f.now) != first);
  CHECK(f.q.size() == 3);
  f.now += message_queue::dedup_window;
  CHECK(f.q.push(text("same"), f.now) != first);
}

TEST_CASE("purge and acks leave no group behind") {
  queue_fixture f{fifo()};
  REQUIRE(f.q.push(grouped("a1", "a"), f.now));
  REQUIRE(f.q.push(grouped("a2", "a"), f.now));
  auto got = f.receive(1);
  CHECK(f.q.purge() == 2);
  CHECK(f.q.stats(f.now).ready == 0);
  CHECK(error_of(f.q.ack(got.front().receipt, f.now)) == ec::stale_receipt);
  REQUIRE(f.q.push(grouped("a3", "a"), f.now));
  CHECK(f.bodies(f.receive()) == strings{"a3"});
}
