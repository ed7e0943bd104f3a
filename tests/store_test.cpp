#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "actormq/records.hpp"
#include "actormq/recovery.hpp"
#include "actormq/store.hpp"
#include "memory_store.hpp"
#include "temp_dir.hpp"
#include "tmpfs.hpp"

using namespace actormq;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<store> open_ok(const std::string& dir) {
  std::string err;
  auto db = open_rocksdb_store(dir, err);
  INFO(err);
  REQUIRE(db);
  return db;
}

std::map<std::string, std::string> contents(store& db) {
  std::map<std::string, std::string> result;
  CHECK(db.scan([&](std::string_view k, std::string_view v) {
          result.emplace(k, v);
        }).empty());
  return result;
}

store_op put(std::string k, std::string v) {
  return {store_op::kind::put, std::move(k), std::move(v)};
}

store_op put(const records::message_record& m) {
  return put(records::message_key(m.incarnation, m.slot),
             records::encode(m));
}

store_op put(const records::queue_record& q) {
  return put(records::queue_key(q.name), records::encode(q));
}

records::message_record msg(uint64_t incarnation, uint64_t slot, uint64_t id,
                            std::string body) {
  records::message_record m;
  m.incarnation = incarnation;
  m.slot = slot;
  m.id = id;
  m.data.body = std::move(body);
  m.enqueued_at = 1'000'000'000;
  return m;
}

} // namespace

TEST_CASE("the RocksDB store applies batches atomically and keeps them") {
  test::temp_dir dir;
  {
    auto db = open_ok(dir.path());
    CHECK(db->write({put("a", "1"), put("b", "2"), put("c", "3")}, true)
            .empty());
    CHECK(db->write({{store_op::kind::erase, "a", {}},
                     {store_op::kind::erase_range, "b", "c"}},
                    true)
            .empty());
    CHECK(db->sync().empty());
    CHECK(db->disk_bytes() > 0);
  }
  auto db = open_ok(dir.path());
  CHECK(contents(*db) == std::map<std::string, std::string>{{"c", "3"}});
}

TEST_CASE("a full disk fails writes until the store reopens with room") {
  test::small_tmpfs disk{4 << 20};
  if (!disk.mounted()) {
    WARN("SKIPPED: cannot mount a tmpfs (" << disk.why() << ")");
    return;
  }
  REQUIRE(disk.fill("filler", 2 << 20));
  auto db = open_ok(disk.path("data"));
  std::string value(64 * 1024, 'v');
  std::vector<std::string> saved;
  std::string why;
  for (int i = 1000; why.empty() && i < 1100; ++i) {
    auto key = "k" + std::to_string(i);
    why = db->write({put(key, value)}, true);
    if (why.empty())
      saved.push_back(key);
  }
  INFO(why);
  CHECK(why.find("No space left on device") != std::string::npos);
  CHECK(saved.size() > 3);
  // The DB that failed is asked for nothing more (RocksDB 7.8 could abort).
  CHECK(db->write({put("after", "x")}, true).find("not tried")
        != std::string::npos);
  CHECK(db->sync().find("not tried") != std::string::npos);
  CHECK(db->resume().find("not reopened") != std::string::npos);
  std::filesystem::remove(disk.path("filler"));
  CHECK(db->resume().empty());
  CHECK(db->write({put("after", "x")}, true).empty());
  CHECK(db->sync().empty());
  db.reset();
  db = open_ok(disk.path("data"));
  auto kept = contents(*db);
  for (auto& key : saved)
    CHECK(kept.count(key) == 1);
  CHECK(kept.count("after") == 1);
}

TEST_CASE("a path that cannot hold a store is refused with its cause") {
  test::temp_dir dir;
  std::string err;
  SECTION("a file") {
    auto file = dir.path() + "/plain-file";
    std::ofstream{file} << "hello";
    CHECK_FALSE(open_rocksdb_store(file, err));
    CHECK(err.find(file) != std::string::npos);
    CHECK(err.find("not a directory") != std::string::npos);
  }
  SECTION("a folder of other files") {
    std::ofstream{dir.path() + "/notes.txt"} << "hello";
    CHECK_FALSE(open_rocksdb_store(dir.path(), err));
    CHECK(err.find(dir.path()) != std::string::npos);
    CHECK(err.find("not an ActorMQ data directory") != std::string::npos);
  }
  SECTION("a corrupt store") {
    open_ok(dir.path());
    std::ofstream{dir.path() + "/CURRENT", std::ios::trunc} << "garbage\n";
    CHECK_FALSE(open_rocksdb_store(dir.path(), err));
    CHECK(err.find(dir.path()) != std::string::npos);
  }
  SECTION("a store in use by another process") {
    auto first = open_ok(dir.path());
    CHECK_FALSE(open_rocksdb_store(dir.path(), err));
    CHECK(err.find("lock") != std::string::npos);
  }
}

TEST_CASE("recovery marks a new store and refuses a foreign one") {
  test::memory_store db;
  recovered_state st;
  CHECK(recover(db, st).empty());
  CHECK(db.data.at(records::format_key()) == records::format);
  CHECK(st.queues.empty());
  SECTION("no marker") {
    test::memory_store other;
    other.data["some"] = "thing";
    recovered_state x;
    CHECK(recover(other, x).find("not an ActorMQ store")
          != std::string::npos);
  }
  SECTION("another format") {
    db.data[records::format_key()] = "actormq/99";
    recovered_state x;
    CHECK(recover(db, x).find("actormq/99") != std::string::npos);
  }
  SECTION("a malformed record") {
    db.data[records::message_key(1, 1)] = "\x01short";
    recovered_state x;
    CHECK(recover(db, x).find("malformed") != std::string::npos);
  }
}

TEST_CASE("recovery brings back each record kind") {
  test::memory_store db;
  recovered_state fresh;
  REQUIRE(recover(db, fresh).empty());
  records::queue_record orders{"orders", 5, {}};
  orders.attributes.max_deliveries = 3;
  records::queue_record dlq{"orders.dlq", 6, {}};
  auto delayed = msg(5, 2, 12, "later");
  delayed.due = 2'000'000'000;
  auto dead = msg(6, 0, 9, "dead");
  dead.source = "orders";
  dead.receive_count = 3;
  REQUIRE(db.write({put(orders), put(dlq), put(msg(5, 1, 11, "first")),
                    put(delayed), put(msg(5, 7, 20, "third")), put(dead),
                    put(records::dedup_key(5, "k1"),
                        records::encode(records::dedup_record{5, "k1", 11,
                                                              999})),
                    put(records::id_mark_key(),
                        records::encode(records::id_mark{30})),
                    put(msg(99, 0, 40, "orphan"))},
                   true)
            .empty());
  recovered_state st;
  REQUIRE(recover(db, st).empty());
  // Ids and incarnations seen, orphans included, are never used again.
  CHECK(st.next_id == 100);
  CHECK(st.messages == 5);
  auto& o = *st.queues[0];
  CHECK(o.queue.name == "orders");
  CHECK(o.queue.attributes.max_deliveries == 3);
  REQUIRE(o.messages.size() == 3);
  CHECK(o.messages[0].id == 11);
  CHECK(o.messages[1].due == 2'000'000'000);
  CHECK(o.messages[2].slot == 7);
  REQUIRE(o.dedup.size() == 1);
  CHECK(o.dedup[0].dedup_id == "k1");
  auto& d = *st.queues[1];
  CHECK(d.queue.name == "orders.dlq");
  REQUIRE(d.messages.size() == 1);
  CHECK(d.messages[0].source == "orders");
  CHECK(d.messages[0].receive_count == 3);
  // The orphan's incarnation has no queue: kept, as a queue of its own.
  REQUIRE(st.queues.size() == 3);
  CHECK(st.queues[2]->queue.name == "orphaned.99");
  CHECK(st.orphaned == std::vector<std::string>{"orphaned.99"});
  REQUIRE(db.write(st.cleanup, true).empty());
  CHECK(db.data.count(records::message_key(99, 0)) == 1);
  recovered_state again;
  REQUIRE(recover(db, again).empty());
  REQUIRE(again.queues.size() == 3);
  CHECK(again.orphaned.empty());
}

TEST_CASE("a restored queue serves in the stored order with its counts") {
  auto now = time_point{} + 1h;
  auto clock = clock_map{now, 5'000'000'000'000};
  recovered_queue x;
  auto later = msg(1, 3, 30, "later");
  later.due = clock.to_wall(now + 10s);
  auto leased = msg(1, 1, 10, "was leased");
  leased.receive_count = 2;
  x.messages = {leased, msg(1, 2, 20, "second"), later};
  x.dedup = {{1, "recent", 20, clock.to_wall(now - 1min)},
             {1, "old", 10, clock.to_wall(now - 10min)}};
  message_queue q;
  restore(q, x, clock, now);
  auto got = q.receive(10, 30s, now);
  REQUIRE(got.size() == 2);
  CHECK(got[0].msg.id == 10);
  CHECK(got[0].msg.receive_count == 3);
  CHECK(got[1].msg.id == 20);
  CHECK(q.receive(10, 30s, now + 10s).at(0).msg.id == 30);
  new_message again;
  again.data.body = "x";
  again.dedup_id = "recent";
  CHECK(*q.push(again, now + 10s) == 20);
  again.dedup_id = "old";
  CHECK(*q.push(again, now + 10s) != 10);
}

TEST_CASE("the journal turns into the writes that hold the same queue") {
  auto now = time_point{} + 1h;
  auto clock = clock_map{now, 5'000'000'000'000};
  message_queue q;
  q.set_journaling(true);
  new_message a;
  a.data.body = "a";
  a.dedup_id = "d1";
  auto id = *q.push(a, now);
  auto b = a;
  b.dedup_id.clear();
  b.delay = 5s;
  q.push(b, now);
  test::memory_store db;
  REQUIRE(db.write(to_batch(q.take_journal(), 4, clock), true).empty());
  CHECK(db.data.size() == 3);
  auto leased = q.receive(1, 30s, now);
  REQUIRE(db.write(to_batch(q.take_journal(), 4, clock), true).empty());
  recovered_state st;
  db.data[records::format_key()] = records::format;
  db.data[records::queue_key("q")]
    = records::encode(records::queue_record{"q", 4, {}});
  REQUIRE(recover(db, st).empty());
  REQUIRE(st.queues.size() == 1);
  auto& ms = st.queues[0]->messages;
  REQUIRE(ms.size() == 2);
  CHECK(ms[0].id == id);
  CHECK(ms[0].receive_count == 1);
  CHECK(ms[1].due == clock.to_wall(now + 5s));
  q.ack(leased[0].receipt, now);
  q.purge();
  REQUIRE(db.write(to_batch(q.take_journal(), 4, clock), true).empty());
  recovered_state after;
  REQUIRE(recover(db, after).empty());
  CHECK(after.queues[0]->messages.empty());
  CHECK(after.queues[0]->dedup.size() == 1);
}
