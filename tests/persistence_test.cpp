#include <catch2/catch.hpp>

#include "actormq/errors.hpp"
#include "actormq/records.hpp"
#include "actormq/recovery.hpp"
#include "actormq/registry_actor.hpp"
#include "actormq/storage_actor.hpp"
#include "actor_fixture.hpp"
#include "memory_store.hpp"

// The queues with a store under them, on virtual time: what is answered is
// written, and a new registry on the same store gets it all back.

using namespace actormq;
using namespace std::chrono_literals;
using test::is;

namespace {

struct persistence_fixture : test::actor_fixture {
  std::shared_ptr<test::memory_store> db
    = std::make_shared<test::memory_store>();
  std::shared_ptr<std::atomic<bool>> healthy
    = std::make_shared<std::atomic<bool>>(true);
  storage_actor storage;

  persistence_fixture() {
    start();
  }

  ~persistence_fixture() {
    stop();
  }

  /// Starts a storage actor and a registry on what the store holds.
  void start(fsync_mode mode = fsync_mode::always) {
    auto recovered = std::make_shared<recovered_state>();
    REQUIRE(recover(*db, *recovered).empty());
    auto ids = message_queue::make_id_source();
    ids->store(recovered->next_id);
    storage_config scfg;
    scfg.db = db;
    scfg.mode = mode;
    scfg.ids = ids;
    scfg.healthy = healthy;
    storage = sys.spawn(actormq::storage, scfg);
    registry_config rcfg;
    rcfg.storage = storage;
    rcfg.ids = ids;
    rcfg.recovered = std::move(recovered);
    reg = sys.spawn(registry, rcfg);
    run();
  }

  /// Ends them, as a crash would: nothing more is written.
  void stop() {
    self->send_exit(reg, caf::exit_reason::kill);
    self->send_exit(storage, caf::exit_reason::kill);
    run();
  }

  void restart() {
    stop();
    start();
  }

  size_t stored_messages() {
    size_t n = 0;
    for (auto& [k, v] : db->data)
      n += k.front() == 'm' ? 1 : 0;
    return n;
  }
};

} // namespace

TEST_CASE_METHOD(persistence_fixture,
                 "an answered enqueue is in the store, and comes back") {
  auto q = get("orders");
  auto a = enqueue(q, "a");
  auto b = enqueue(q, "b");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(stored_messages() == 2);
  restart();
  auto xs = peek(get("orders"));
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].id == *a);
  CHECK(xs[0].data.body == "a");
  CHECK(xs[1].id == *b);
  auto c = enqueue(get("orders"), "c");
  REQUIRE(c);
  CHECK(*c > *b);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a burst of requests to a queue costs one write") {
  auto q = get("orders");
  auto writes_before = db->writes;
  for (int i = 0; i < 10; ++i)
    self->send(q, atom::enqueue::value, test::text("m" + std::to_string(i)));
  run();
  CHECK(db->writes - writes_before == 1);
  CHECK(stored_messages() == 10);
}

TEST_CASE_METHOD(persistence_fixture,
                 "writes of several queues that wait together go in one") {
  std::vector<queue_actor> qs{get("a"), get("b"), get("c")};
  auto writes_before = db->writes;
  for (auto& q : qs)
    self->send(q, atom::enqueue::value, test::text("m"));
  run();
  CHECK(db->writes - writes_before == 1);
  CHECK(stored_messages() == 3);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a reply waits for the write of what it may have seen") {
  auto q = get("orders");
  auto writes_before = db->writes;
  // Runs the queue alone: what it sends the storage stays unwritten.
  auto run_queue = [&] {
    while (sched.prioritize(q))
      sched.run_once();
  };
  auto enqueued = self->request(q, caf::infinite, atom::enqueue::value,
                                test::text("a"));
  run_queue();
  // The peek changes nothing, but it shows "a", whose write is in flight.
  auto peeked = self->request(q, caf::infinite, atom::peek::value,
                              uint32_t{10});
  run_queue();
  CHECK(db->writes == writes_before);
  CHECK(self->mailbox().empty());
  run();
  CHECK(db->writes == writes_before + 1);
  std::move(enqueued).receive([](uint64_t) {},
                              [](caf::error&) { FAIL("enqueue failed"); });
  std::move(peeked).receive(
    [](std::vector<message>& xs) {
      REQUIRE(xs.size() == 1);
      CHECK(xs[0].data.body == "a");
    },
    [](caf::error&) { FAIL("peek failed"); });
}

TEST_CASE_METHOD(persistence_fixture,
                 "leased messages come back ready with their counts") {
  auto q = get("orders");
  for (auto body : {"a", "b", "c"})
    REQUIRE(enqueue(q, body));
  auto leased = receive(q, 2);
  REQUIRE(leased.size() == 2);
  auto acked = request<std::vector<caf::error>>(
    q, atom::ack::value, std::vector<std::string>{leased[0].receipt});
  REQUIRE(acked);
  restart();
  auto xs = peek(get("orders"));
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].data.body == "b");
  CHECK(xs[0].receive_count == 1);
  CHECK(xs[1].data.body == "c");
  CHECK(xs[1].receive_count == 0);
}

TEST_CASE_METHOD(persistence_fixture,
                 "attributes, dead letters, purge, delete and dedup persist") {
  with_dlq("orders", "orders.dlq");
  auto q = get("orders");
  auto id = enqueue(q, "poison", 0, "k1");
  REQUIRE(id);
  REQUIRE(receive(q).size() == 1);
  advance(31s);
  restart();
  auto info = request<queue_info>(reg, atom::stats::value,
                                  std::string{"orders"});
  REQUIRE(info);
  CHECK(info->attributes.max_deliveries == 1);
  CHECK(info->stats.ready == 0);
  auto dead = peek(get("orders.dlq"));
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].id == *id);
  CHECK(dead[0].receive_count == 1);
  CHECK(*enqueue(get("orders"), "again", 0, "k1") == *id);
  auto moved = request<uint64_t>(reg, atom::redrive::value,
                                 std::string{"orders.dlq"});
  REQUIRE(moved);
  CHECK(*moved == 1);
  run();
  restart();
  CHECK(peek(get("orders.dlq")).empty());
  REQUIRE(peek(get("orders")).size() == 1);
  REQUIRE(request<uint64_t>(get("orders"), atom::purge::value));
  REQUIRE(enqueue(get("orders.dlq"), "x"));
  REQUIRE(request<bool>(reg, atom::remove::value, std::string{"orders.dlq"}));
  restart();
  CHECK(peek(get("orders")).empty());
  auto list = request<std::vector<queue_info>>(reg, atom::list::value);
  REQUIRE(list);
  REQUIRE(list->size() == 1);
  CHECK(stored_messages() == 0);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a failing store answers storage_failed and heals itself") {
  auto q = get("orders");
  REQUIRE(enqueue(q, "kept"));
  db->failing = true;
  auto failed = enqueue(q, "not saved");
  REQUIRE_FALSE(failed);
  CHECK(is(failed.error(), ec::storage_failed));
  CHECK_FALSE(healthy->load());
  db->failing = false;
  advance(1s);
  run();
  CHECK(healthy->load());
  REQUIRE(enqueue(q, "saved"));
  restart();
  auto xs = peek(get("orders"));
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].data.body == "kept");
  CHECK(xs[1].data.body == "saved");
}

TEST_CASE_METHOD(persistence_fixture,
                 "with fsync=interval, writes answer at once and sync later") {
  stop();
  start(fsync_mode::interval);
  auto q = get("orders");
  auto syncs = db->syncs;
  REQUIRE(enqueue(q, "a"));
  CHECK(db->syncs == syncs);
  advance(100ms);
  run();
  CHECK(db->syncs == syncs + 1);
  auto flushed = request<atom::ok>(storage, atom::flush::value);
  CHECK(flushed);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a receipt from before a restart is refused after it") {
  auto q = get("jobs");
  REQUIRE(enqueue(q, "x"));
  auto first = receive(q);
  REQUIRE(first.size() == 1);
  restart();
  q = get("jobs");
  auto second = receive(q);
  REQUIRE(second.size() == 1);
  CHECK(second[0].msg.receive_count == 2);
  auto acked = request<std::vector<caf::error>>(
    q, atom::ack::value, std::vector<std::string>{first[0].receipt});
  REQUIRE(acked);
  CHECK(is(acked->at(0), ec::stale_receipt));
  acked = request<std::vector<caf::error>>(
    q, atom::ack::value, std::vector<std::string>{second[0].receipt});
  REQUIRE(acked);
  CHECK_FALSE(acked->at(0));
}

TEST_CASE_METHOD(persistence_fixture,
                 "a redrive is answered once its move is written") {
  with_dlq("home", "dlq");
  auto home = get("home");
  REQUIRE(enqueue(home, "poison"));
  REQUIRE(receive(home).size() == 1);
  advance(31s);
  REQUIRE(peek(get("dlq")).size() == 1);
  // The move's write fails: the redrive must not be answered as done.
  db->failing = true;
  auto moved = request<uint64_t>(reg, atom::redrive::value,
                                 std::string{"dlq"});
  REQUIRE_FALSE(moved);
  CHECK(is(moved.error(), ec::storage_failed));
  db->failing = false;
  advance(1s);
  // Still a dead letter on disk: back in the dead-letter queue.
  restart();
  CHECK(peek(get("dlq")).size() == 1);
  CHECK(peek(get("home")).empty());
}

TEST_CASE_METHOD(persistence_fixture,
                 "a queue that fails is restarted with what the store holds") {
  auto q = get("jobs");
  for (auto body : {"a", "b", "c"})
    REQUIRE(enqueue(q, body));
  auto leased = receive(q, 1);
  REQUIRE(leased.size() == 1);
  REQUIRE(request<std::vector<caf::error>>(
    q, atom::ack::value, std::vector<std::string>{leased[0].receipt}));
  auto poll = self->request(get("idle"), std::chrono::seconds{3600},
                            atom::receive::value, uint32_t{1},
                            caf::timespan{30s}, caf::timespan{20s});
  run();
  // A failure, not a delete: the registry brings the queue back.
  self->send_exit(q, caf::make_error(caf::sec::runtime_error));
  self->send_exit(get("idle"), caf::make_error(caf::sec::runtime_error));
  run();
  auto again = get("jobs");
  CHECK(again != q);
  auto xs = peek(again);
  REQUIRE(xs.size() == 2);
  CHECK(xs[0].data.body == "b");
  CHECK(xs[1].data.body == "c");
  REQUIRE(enqueue(again, "d"));
  // The waiting receive of the failed queue was answered: retry.
  sched.advance_time(std::chrono::hours{2});
  run();
  caf::error err;
  std::move(poll).receive([](std::vector<lease>&) { FAIL("got leases"); },
                          [&](caf::error& x) { err = x; });
  CHECK(err == caf::sec::request_receiver_down);
  // Nothing of it was lost on disk either.
  restart();
  CHECK(peek(get("jobs")).size() == 3);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a queue restarted while its dead letter moves holds it once") {
  with_dlq("jobs", "dlq");
  get("dlq");
  auto q = get("jobs");
  REQUIRE(enqueue(q, "poison"));
  REQUIRE(receive(q).size() == 1);
  // The lease ends: the queue sends its dead letter on, and fails before
  // the dead-letter queue has written it.
  sched.advance_time(31s);
  sched.run_once();
  self->send_exit(q, caf::make_error(caf::sec::runtime_error));
  run();
  CHECK(peek(get("dlq")).size() == 1);
  CHECK(peek(get("jobs")).empty());
  restart();
  CHECK(peek(get("dlq")).size() == 1);
  CHECK(peek(get("jobs")).empty());
}

TEST_CASE_METHOD(persistence_fixture,
                 "a queue deleted and created again at once keeps its record") {
  REQUIRE(enqueue(get("jobs"), "old"));
  // The delete's records go once the old actor has ended; the new queue's
  // record is written before that.
  auto removed = self->request(reg, caf::infinite, atom::remove::value,
                               std::string{"jobs"});
  auto again = self->request(reg, caf::infinite, atom::get::value,
                             std::string{"jobs"}, true);
  run();
  removed.receive([](bool) {},
                  [](caf::error& err) { FAIL(caf::to_string(err)); });
  queue_actor q;
  again.receive([&](queue_actor& x) { q = x; },
                [](caf::error& err) { FAIL(caf::to_string(err)); });
  REQUIRE(enqueue(q, "new"));
  restart();
  auto xs = peek(get("jobs"));
  REQUIRE(xs.size() == 1);
  CHECK(xs[0].data.body == "new");
  // Nothing of it became an orphan.
  for (auto& [k, v] : db->data)
    CHECK(k.find("orphaned") == std::string::npos);
}

TEST_CASE_METHOD(persistence_fixture,
                 "a queue that cannot be read back is tried once a second") {
  auto q = get("jobs");
  REQUIRE(enqueue(q, "kept"));
  db->failing = true;
  auto before = db->scans;
  self->send_exit(q, caf::make_error(caf::sec::runtime_error));
  run();
  auto scans = db->scans;
  CHECK(scans == before + 1);
  // Each request is refused at once; none reads the whole store again.
  for (int i = 0; i < 10; ++i) {
    auto x = request<queue_actor>(reg, atom::get::value, std::string{"jobs"},
                                  true);
    CHECK_FALSE(x);
  }
  CHECK(db->scans == scans);
  // A second later, a request tries again; once the store reads, it is back.
  db->failing = false;
  advance(1s);
  auto again = get("jobs");
  CHECK(db->scans == scans + 1);
  auto xs = peek(again);
  REQUIRE(xs.size() == 1);
  CHECK(xs[0].data.body == "kept");
}

TEST_CASE_METHOD(persistence_fixture,
                 "a FIFO queue keeps its groups and its order over a restart, "
                 "and fifo cannot change") {
  queue_attributes attrs;
  attrs.fifo = true;
  attrs.content_dedup = true;
  attrs.receive_wait = 5s;
  REQUIRE(request<queue_actor>(reg, atom::put::value, std::string{"f"}, attrs,
                               attribute_field::all));
  auto send = [&](std::string body, std::string group) {
    auto x = test::text(std::move(body));
    x.group = std::move(group);
    x.data.attributes = {{"trace", "String", "t-" + x.data.body}};
    auto id = request<uint64_t>(get("f"), atom::enqueue::value, x);
    REQUIRE(id);
    return *id;
  };
  auto a1 = send("a1", "a");
  send("b1", "b");
  send("a2", "a");
  auto leased = receive(get("f"), 1);
  REQUIRE(leased.size() == 1);
  CHECK(leased[0].msg.id == a1);
  restart();
  auto x = info("f");
  CHECK(x.attributes.fifo);
  CHECK(x.attributes.content_dedup);
  CHECK(x.attributes.receive_wait == 5s);
  // The lease did not survive: a1 is first of its group again.
  auto xs = receive(get("f"), 10);
  REQUIRE(xs.size() == 3);
  CHECK(xs[0].msg.data.body == "a1");
  CHECK(xs[0].msg.group == "a");
  REQUIRE(xs[0].msg.data.attributes.size() == 1);
  CHECK(xs[0].msg.data.attributes[0].value == "t-a1");
  // Content dedup's id (the body's SHA-256) and the first lease stay too.
  CHECK(xs[0].msg.dedup_id.size() == 64);
  CHECK(xs[0].msg.first_received_at != time_point{});
  CHECK(xs[0].msg.first_received_at < xs[0].msg.enqueued_at + 1s);
  CHECK(xs[1].msg.first_received_at >= xs[0].msg.first_received_at);
  CHECK(xs[1].msg.data.body == "a2");
  CHECK(xs[2].msg.data.body == "b1");
  CHECK(xs[2].msg.group == "b");
  // Content dedup remembers across the restart.
  CHECK(send("a1", "a") == a1);
  attrs.fifo = false;
  auto changed = request<queue_actor>(reg, atom::put::value, std::string{"f"},
                                      attrs, attribute_field::fifo);
  CHECK(is(changed.error(), ec::fifo_fixed));
  CHECK(info("f").attributes.fifo);
  // Naming fifo as it is changes nothing and is no error.
  attrs.fifo = true;
  CHECK(request<queue_actor>(reg, atom::put::value, std::string{"f"}, attrs,
                             attribute_field::fifo));
}
