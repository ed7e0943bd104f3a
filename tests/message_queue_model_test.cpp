#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "actormq/errors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/records.hpp"
#include "actormq/recovery.hpp"
#include "memory_store.hpp"

// A model-based randomized test of the queue rules that combine: random
// operations on four queues (one of them FIFO, with message groups) (receive, ack, release, give back, extend,
// peek, purge, dead letters, redrive, time passing, writes of each queue's
// journal at random moments, and crashes that lose what was not written) are checked
// against a small reference model. After every write, the store must hold
// every message in exactly one queue (never none, never both) unless it
// was acked, dropped or purged. Deterministic for a seed: set
// ACTORMQ_MODEL_SEED to replay one, ACTORMQ_MODEL_RUNS for more sequences.

using namespace actormq;
using namespace std::chrono_literals;

namespace {

/// "a" dead-letters to "d" after two leases; "b" drops after one; "d"
/// keeps its messages; "f", FIFO, dead-letters to "d" after three.
const std::map<std::string, queue_attributes> queue_setup = [] {
  std::map<std::string, queue_attributes> result;
  result["a"].max_deliveries = 2;
  result["a"].dead_letter_queue = "d";
  result["b"].max_deliveries = 1;
  result["d"];
  result["f"].fifo = true;
  result["f"].max_deliveries = 3;
  result["f"].dead_letter_queue = "d";
  return result;
}();

/// A message as the reference model sees it.
struct model_message {
  enum class state { ready, delayed, leased };
  uint64_t id = 0;
  int32_t priority = 0;
  time_point enqueued_at;
  uint32_t receive_count = 0;
  state st = state::ready;
  /// Delayed: when it turns ready; leased: when the lease ends.
  time_point due;
  /// Leased: the receipt of the current lease.
  std::string receipt;
  /// A dead letter: the queue it came from.
  std::string source;
  /// Its message group (in "f").
  std::string group;
};

using model_queue = std::vector<model_message>;

/// The rules, written as plainly as possible: a queue is a list.
struct model {
  std::map<std::string, model_queue> queues;
  /// Ids whose removal from the store is allowed (acked, dropped, purged).
  std::set<uint64_t> removable;

  /// Ready messages of `q` in the order they are served.
  std::vector<model_message*> ready(const std::string& q) {
    std::vector<model_message*> result;
    for (auto& m : queues[q])
      if (m.st == model_message::state::ready)
        result.push_back(&m);
    std::sort(result.begin(), result.end(), [](auto x, auto y) {
      return std::make_tuple(-x->priority, x->enqueued_at, x->id)
             < std::make_tuple(-y->priority, y->enqueued_at, y->id);
    });
    return result;
  }

  /// The messages a receive of `q` takes, in order: in a FIFO queue, the
  /// oldest ready message of each group with no lease, each followed by
  /// the rest of its group's ready messages.
  std::vector<model_message*> serve_order(const std::string& q) {
    auto all = ready(q);
    if (!queue_setup.at(q).fifo)
      return all;
    std::set<std::string> skip;
    for (auto& m : queues[q])
      if (m.st == model_message::state::leased)
        skip.insert(m.group);
    std::vector<model_message*> result;
    for (auto m : all) {
      if (!skip.insert(m->group).second)
        continue;
      for (auto n : all)
        if (n->group == m->group)
          result.push_back(n);
    }
    return result;
  }

  model_message* leased(const std::string& q, const std::string& receipt) {
    for (auto& m : queues[q])
      if (m.st == model_message::state::leased && m.receipt == receipt)
        return &m;
    return nullptr;
  }

  void remove(const std::string& q, uint64_t id) {
    auto& xs = queues[q];
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [id](auto& m) { return m.id == id; }),
             xs.end());
  }

  /// A lease ended without an ack.
  void end_lease(const std::string& q, model_message& m, caf::timespan delay,
                 time_point now) {
    auto& attrs = queue_setup.at(q);
    if (attrs.max_deliveries > 0 && m.receive_count >= attrs.max_deliveries) {
      auto x = m;
      remove(q, x.id);
      if (attrs.dead_letter_queue.empty()) {
        removable.insert(x.id);
      } else {
        x.st = model_message::state::ready;
        x.receipt.clear();
        x.source = q;
        queues[attrs.dead_letter_queue].push_back(x);
      }
      return;
    }
    m.receipt.clear();
    if (delay > 0s) {
      m.st = model_message::state::delayed;
      m.due = now + delay;
    } else {
      m.st = model_message::state::ready;
    }
  }

  void advance(time_point now) {
    for (auto& [name, xs] : queue_setup) {
      std::vector<uint64_t> due;
      for (auto& m : queues[name])
        if (m.st != model_message::state::ready && m.due <= now)
          due.push_back(m.id);
      for (auto id : due) {
        auto& xs = queues[name];
        auto i = std::find_if(xs.begin(), xs.end(),
                              [id](auto& m) { return m.id == id; });
        if (i->st == model_message::state::delayed)
          i->st = model_message::state::ready;
        else
          end_lease(name, *i, 0s, now);
      }
    }
  }
};

/// Stops a sequence with what went wrong.
[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what);
}

std::string ids_text(const std::vector<uint64_t>& xs) {
  std::ostringstream out;
  for (auto x : xs)
    out << x << ' ';
  return out.str();
}

void expect_same(const std::vector<uint64_t>& got,
                 const std::vector<uint64_t>& want, const std::string& what) {
  if (got != want)
    fail(what + ": got [" + ids_text(got) + "], model says ["
         + ids_text(want) + "]");
}

/// The system under test: message_queue objects over a store, driven as
/// the actors drive them, and the model beside them.
struct world {
  std::mt19937_64 rng;
  time_point now{std::chrono::hours{1}};
  clock_map clock{now, 1'700'000'000'000'000'000};
  message_queue::id_source ids = message_queue::make_id_source();
  test::memory_store db;
  std::map<std::string, uint64_t> incarnations{
    {"a", 1}, {"b", 2}, {"d", 3}, {"f", 4}};
  std::map<std::string, std::unique_ptr<message_queue>> queues;
  model ref;
  /// Receipts handed out, in all queues, written or not.
  std::vector<std::string> receipts;
  /// Receipts of leases not yet written (a crash takes them back: their
  /// replies were never sent).
  std::map<std::string, std::vector<std::string>> unwritten_receipts;
  /// Ids the store held after the last write.
  std::set<uint64_t> stored;
  /// Pushes not yet written, by queue: a queue answers them after its
  /// next write.
  std::map<std::string, std::vector<uint64_t>> unanswered;
  /// Pushes answered: the store must hold them until they are removable.
  std::set<uint64_t> answered;
  std::ostringstream trace;

  explicit world(uint64_t seed) : rng(seed) {
    ids->store(10);
    recovered_state fresh;
    REQUIRE(recover(db, fresh).empty());
    store_batch ops;
    for (auto& [name, attrs] : queue_setup) {
      ops.push_back(store_op{
        store_op::kind::put, records::queue_key(name),
        records::encode(records::queue_record{name, incarnations[name],
                                              attrs})});
      queues[name] = std::make_unique<message_queue>(attrs, ids);
      queues[name]->set_journaling(true);
    }
    REQUIRE(db.write(ops, true).empty());
  }

  int pick(int n) {
    return static_cast<int>(rng() % static_cast<uint64_t>(n));
  }

  std::string any_queue() {
    static const std::vector<std::string> names{"a", "b", "d", "f"};
    return names[pick(4)];
  }

  /// What the queue actor does after each request: dead letters leave
  /// for their queue, which adopts them with the key they are stored at,
  /// once the write that holds them at their source has gone out.
  void settle() {
    for (auto& [name, q] : queues) {
      q->advance(now);
      auto dead = q->take_dead_letters();
      if (!dead.empty())
        write(name);
      for (auto& d : dead) {
        auto origin = d.origin.empty()
                        ? records::message_key(incarnations[name], d.slot)
                        : d.origin;
        auto& dlq = queue_setup.at(name).dead_letter_queue;
        queues.at(dlq)->adopt(std::move(d.msg), name, now, origin);
      }
    }
    ref.advance(now);
  }

  void check_counts() {
    for (auto& [name, q] : queues) {
      auto stats = q->stats(now);
      uint64_t ready = 0;
      uint64_t delayed = 0;
      uint64_t leased = 0;
      for (auto& m : ref.queues[name]) {
        ready += m.st == model_message::state::ready ? 1 : 0;
        delayed += m.st == model_message::state::delayed ? 1 : 0;
        leased += m.st == model_message::state::leased ? 1 : 0;
      }
      if (stats.ready != ready || stats.delayed != delayed
          || stats.in_flight != leased)
        fail("counts of " + name + ": " + std::to_string(stats.ready) + "/"
             + std::to_string(stats.delayed) + "/"
             + std::to_string(stats.in_flight) + ", model says "
             + std::to_string(ready) + "/" + std::to_string(delayed) + "/"
             + std::to_string(leased));
      auto first = ref.ready(name);
      auto age = first.empty() ? caf::timespan{0}
                               : now - first.front()->enqueued_at;
      for (auto m : first)
        age = std::max(age, now - m->enqueued_at);
      if (stats.oldest_ready_age != age)
        fail("oldest ready age of " + name);
    }
  }

  void push() {
    auto name = any_queue();
    new_message x;
    x.data.body = "m";
    if (queue_setup.at(name).fifo) {
      static const std::vector<std::string> groups{"x", "y", "z"};
      x.group = groups[pick(3)];
    } else {
      x.priority = pick(3);
      x.delay = pick(4) == 0 ? caf::timespan{(1 + pick(3)) * 1s} : 0s;
    }
    auto id = queues[name]->push(x, now);
    if (!id)
      fail("push refused");
    model_message m;
    m.id = *id;
    m.priority = x.priority;
    m.enqueued_at = now;
    m.group = x.group;
    if (x.delay > 0s) {
      m.st = model_message::state::delayed;
      m.due = now + x.delay;
    }
    ref.queues[name].push_back(m);
    unanswered[name].push_back(*id);
    trace << "push " << name << " #" << *id << " p" << x.priority << " g"
          << x.group << '\n';
  }

  void receive() {
    auto name = any_queue();
    auto max = static_cast<size_t>(1 + pick(3));
    caf::timespan vis = (1 + pick(4)) * 1s;
    auto got = queues[name]->receive(max, vis, now);
    auto want = ref.serve_order(name);
    want.resize(std::min(want.size(), max));
    std::vector<uint64_t> got_ids;
    std::vector<uint64_t> want_ids;
    for (auto& x : got)
      got_ids.push_back(x.msg.id);
    for (auto m : want)
      want_ids.push_back(m->id);
    expect_same(got_ids, want_ids, "receive from " + name);
    for (size_t i = 0; i < got.size(); ++i) {
      auto& m = *want[i];
      m.st = model_message::state::leased;
      m.receive_count += 1;
      m.due = now + vis;
      m.receipt = got[i].receipt;
      if (got[i].msg.receive_count != m.receive_count)
        fail("receive count of #" + std::to_string(m.id));
      if (got[i].msg.group != m.group)
        fail("group of #" + std::to_string(m.id));
      if (std::count(receipts.begin(), receipts.end(), got[i].receipt))
        fail("receipt " + got[i].receipt + " handed out twice");
      receipts.push_back(got[i].receipt);
      unwritten_receipts[name].push_back(got[i].receipt);
    }
    trace << "receive " << name << " " << ids_text(got_ids) << '\n';
  }

  std::string any_receipt() {
    if (receipts.empty() || pick(20) == 0)
      return pick(2) == 0 ? "junk" : "1.2";
    return receipts[static_cast<size_t>(pick(
      static_cast<int>(std::min<size_t>(receipts.size(), 40))))
                    + (receipts.size() > 40 ? receipts.size() - 40 : 0)];
  }

  /// Checks a result against the model: ok when `m` holds the lease.
  void expect_result(const caf::error& err, model_message* m,
                     const std::string& r, const std::string& what) {
    ec code{};
    bool malformed = r == "junk" || r == "1.2";
    if (m && err)
      fail(what + " " + r + " refused, model holds its lease");
    if (!m && !err)
      fail(what + " " + r + " accepted, model has no such lease");
    if (!m && (!is_actormq_error(err, code)
               || code != (malformed ? ec::invalid_receipt
                                     : ec::stale_receipt)))
      fail(what + " " + r + ": wrong error");
  }

  /// Calls `call(queue, receipt)` with a receipt that may or may not name
  /// a lease of a random queue, checks its result against the model, and
  /// on success has `apply(queue name, leased model message)` follow it.
  template <class Call, class Apply>
  void with_receipt(const std::string& what, Call call, Apply apply) {
    auto name = any_queue();
    auto r = any_receipt();
    auto err = call(*queues[name], r);
    auto m = ref.leased(name, r);
    expect_result(err, m, r, what + " in " + name);
    if (m)
      apply(name, *m);
    trace << what << " " << name << " " << r << '\n';
  }

  void ack() {
    with_receipt(
      "ack", [&](message_queue& q, auto& r) { return q.ack(r, now); },
      [&](const std::string& name, model_message& m) {
        ref.removable.insert(m.id);
        ref.remove(name, m.id);
      });
  }

  void release() {
    caf::timespan delay = pick(2) * 2s;
    with_receipt(
      "release",
      [&](message_queue& q, auto& r) { return q.release(r, delay, now); },
      [&](const std::string& name, model_message& m) {
        ref.end_lease(name, m, delay, now);
      });
  }

  void give_back() {
    with_receipt(
      "give back",
      [&](message_queue& q, auto& r) { return q.give_back(r, now); },
      [&](const std::string&, model_message& m) {
        m.receive_count -= 1;
        m.receipt.clear();
        m.st = model_message::state::ready;
      });
  }

  void extend() {
    caf::timespan vis = (1 + pick(4)) * 1s;
    with_receipt(
      "extend",
      [&](message_queue& q, auto& r) { return q.extend(r, vis, now); },
      [&](const std::string&, model_message& m) { m.due = now + vis; });
  }

  void peek() {
    auto name = any_queue();
    std::vector<uint64_t> got;
    std::vector<uint64_t> want;
    for (auto& m : queues[name]->peek(100, now))
      got.push_back(m.id);
    for (auto m : ref.serve_order(name))
      want.push_back(m->id);
    expect_same(got, want, "peek " + name);
  }

  void purge() {
    auto name = any_queue();
    queues[name]->purge();
    for (auto& m : ref.queues[name])
      ref.removable.insert(m.id);
    ref.queues[name].clear();
    trace << "purge " << name << '\n';
  }

  /// The registry's redrive of "d": its dead letters that are not leased
  /// go home, their receive counts reset.
  void redrive() {
    std::vector<uint64_t> got;
    for (auto& d : queues["d"]->take_adopted()) {
      got.push_back(d.msg.id);
      auto origin = d.origin.empty()
                      ? records::message_key(incarnations["d"], d.slot)
                      : d.origin;
      d.msg.receive_count = 0;
      queues.at(d.source)->adopt(std::move(d.msg), {}, now, origin);
    }
    std::vector<model_message> moving;
    for (auto& m : ref.queues["d"])
      if (!m.source.empty() && m.st != model_message::state::leased)
        moving.push_back(m);
    std::sort(moving.begin(), moving.end(), [](auto& x, auto& y) {
      return std::make_tuple(-x.priority, x.enqueued_at, x.id)
             < std::make_tuple(-y.priority, y.enqueued_at, y.id);
    });
    std::vector<uint64_t> want;
    for (auto m : moving) {
      want.push_back(m.id);
      ref.remove("d", m.id);
      auto home = m.source;
      m.source.clear();
      m.receive_count = 0;
      m.st = model_message::state::ready;
      ref.queues[home].push_back(m);
    }
    expect_same(got, want, "redrive");
    trace << "redrive " << ids_text(got) << '\n';
  }

  /// Reads the ids of the messages a store holds, by queue.
  std::map<std::string, std::vector<records::message_record>> read_store() {
    std::map<uint64_t, std::string> by_incarnation;
    for (auto& [name, inc] : incarnations)
      by_incarnation[inc] = name;
    std::map<std::string, std::vector<records::message_record>> result;
    for (auto& [key, value] : db.data) {
      if (key.front() != 'm')
        continue;
      auto x = records::decode(key, value);
      if (!x.value)
        fail("undecodable record: " + x.error);
      auto& r = std::get<records::message_record>(*x.value);
      result[by_incarnation.at(r.incarnation)].push_back(r);
    }
    return result;
  }

  /// What the storage actor does with a queue's write: the journal and
  /// the id mark, atomically. Then the store must hold each message once.
  void write() {
    write(any_queue());
  }

  void write(const std::string& name) {
    auto batch = to_batch(queues[name]->take_journal(), incarnations[name],
                          clock);
    batch.push_back(store_op{store_op::kind::put, records::id_mark_key(),
                             records::encode(records::id_mark{ids->load()})});
    REQUIRE(db.write(batch, true).empty());
    unwritten_receipts[name].clear();
    for (auto id : std::exchange(unanswered[name], {}))
      answered.insert(id);
    trace << "write " << name << '\n';
    std::map<uint64_t, int> copies;
    for (auto& [q, xs] : read_store())
      for (auto& r : xs)
        copies[r.id] += 1;
    for (auto& [id, n] : copies)
      if (n > 1)
        fail("#" + std::to_string(id) + " stored in two queues");
    for (auto id : stored)
      if (!copies.count(id) && !ref.removable.count(id))
        fail("#" + std::to_string(id) + " vanished from the store");
    for (auto id : answered)
      if (!copies.count(id) && !ref.removable.count(id))
        fail("#" + std::to_string(id) + " was answered but is not stored");
    stored.clear();
    for (auto& [id, n] : copies)
      stored.insert(id);
  }

  /// A crash: what was not written is gone; the queues and the model
  /// start over from the store.
  void crash() {
    trace << "crash\n";
    for (auto& [name, rs] : unwritten_receipts)
      for (auto& r : rs)
        receipts.erase(std::remove(receipts.begin(), receipts.end(), r),
                       receipts.end());
    unwritten_receipts.clear();
    unanswered.clear();
    recovered_state state;
    auto err = recover(db, state);
    if (!err.empty())
      fail("recover: " + err);
    ids->store(state.next_id);
    queues.clear();
    for (auto& rq : state.queues) {
      auto& name = rq->queue.name;
      auto q = std::make_unique<message_queue>(rq->queue.attributes, ids);
      restore(*q, *rq, clock, now);
      q->set_journaling(true);
      queues[name] = std::move(q);
    }
    if (queues.size() != queue_setup.size())
      fail("a queue was not recovered");
    ref.queues.clear();
    for (auto& [name, xs] : read_store()) {
      for (auto& r : xs) {
        model_message m;
        m.id = r.id;
        m.priority = r.priority;
        m.enqueued_at = clock.from_wall(r.enqueued_at);
        m.receive_count = r.receive_count;
        m.source = r.source;
        m.group = r.group;
        if (r.due != 0 && clock.from_wall(r.due) > now) {
          m.st = model_message::state::delayed;
          m.due = clock.from_wall(r.due);
        }
        ref.queues[name].push_back(m);
      }
    }
  }

  void step() {
    auto op = pick(100);
    if (op < 20)
      push();
    else if (op < 40)
      receive();
    else if (op < 50)
      ack();
    else if (op < 56)
      release();
    else if (op < 58)
      give_back();
    else if (op < 62)
      extend();
    else if (op < 66)
      peek();
    else if (op < 76)
      now += pick(7) * 500ms;
    else if (op < 77)
      purge();
    else if (op < 81)
      redrive();
    else if (op < 97)
      write();
    else
      crash();
    settle();
    check_counts();
  }
};

uint64_t env_or(const char* name, uint64_t fallback) {
  auto x = std::getenv(name);
  return x ? std::stoull(x) : fallback;
}

} // namespace

TEST_CASE("random operations on four queues follow the model") {
  auto first = env_or("ACTORMQ_MODEL_SEED", std::random_device{}());
  auto runs = env_or("ACTORMQ_MODEL_RUNS", 2000);
  if (std::getenv("ACTORMQ_MODEL_SEED"))
    runs = 1;
  for (uint64_t seed = first; seed < first + runs; ++seed) {
    world w{seed};
    try {
      for (int i = 0; i < 200; ++i)
        w.step();
    } catch (const std::exception& e) {
      FAIL("seed " << seed << " (replay: ACTORMQ_MODEL_SEED=" << seed
                   << "): " << e.what() << "\nafter:\n"
                   << w.trace.str());
    }
  }
}
