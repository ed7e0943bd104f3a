#include "actormq/queue_actor.hpp"

#include <iterator>

#include <caf/actor_cast.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "actormq/records.hpp"
#include "answer.hpp"

namespace actormq {

namespace {

using self_ptr = queue_actor::stateful_pointer<queue_state>;

time_point now_of(self_ptr self) {
  return self->clock().now();
}

caf::timespan visibility_or_default(self_ptr self, caf::timespan x) {
  return x > caf::timespan{0} ? x
                              : self->state.queue.attributes().visibility;
}

/// Returns the store key of a message that leaves this queue: where it
/// is still stored if it came from elsewhere and its place here is not
/// written yet, else its key here; empty when nothing is stored.
std::string origin_of(self_ptr self, message_queue::departure& d) {
  auto& st = self->state;
  if (!st.storage)
    return {};
  if (!d.origin.empty())
    return std::move(d.origin);
  return records::message_key(st.incarnation, d.slot);
}

/// What a waiting receiver costs against the memory bound.
constexpr int64_t waiter_bytes = 256;

/// Removes a waiter (and its deadline) and returns it.
queue_state::waiter
take_waiter(self_ptr self, std::map<uint64_t, queue_state::waiter>::iterator i) {
  auto& st = self->state;
  auto w = std::move(i->second);
  st.deadlines.erase(w.deadline);
  st.waiters.erase(i);
  st.queue.account(-waiter_bytes);
  return w;
}

/// Answers every waiting receiver with `x`: none (what it has) or an error.
template <class T>
void answer_waiters(self_ptr self, const T& x) {
  auto& st = self->state;
  while (!st.waiters.empty())
    take_waiter(self, st.waiters.begin()).promise.deliver(x);
}

/// The actor ends for `reason`: every request it holds is answered. A
/// deleted queue answers ec::unknown_queue; at shutdown, long polls get
/// what they have (none); anything else is "unavailable, retry".
void end(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  auto err = is_error(reason, ec::unknown_queue)
               ? reason
               : caf::make_error(caf::sec::request_receiver_down);
  if (reason == caf::exit_reason::user_shutdown)
    answer_waiters(self, std::vector<lease>{});
  else
    answer_waiters(self, err);
  for (auto& [rp, leases] : st.served)
    rp.deliver(err);
  st.served.clear();
  st.writes.fail_all(err);
}

/// How long dead letters that could not be moved wait to be sent again.
constexpr auto dead_letter_retry = std::chrono::seconds{1};

/// Sends the dead letters that wait for a write to their queue (through
/// the sink). Until the sink writes them, the store holds them here: a
/// crash before that brings them back to this queue. If the sink fails
/// (their queue's node is unreachable, the store fails), they are sent
/// again a second later.
void send_dead_letters(self_ptr self) {
  auto& st = self->state;
  auto sink = caf::actor_cast<dead_letter_sink>(st.dead_letters);
  if (st.outgoing.empty() || !sink)
    return;
  auto xs = std::exchange(st.outgoing, {});
  self->request(sink, caf::infinite, atom::adopt::value, st.queue_name, xs)
    .then([](uint64_t) {},
          [self, xs](caf::error& err) mutable {
            auto& st = self->state;
            log::warning("queue " + st.queue_name
                         + ": dead letters not moved, trying again: "
                         + self->system().render(err));
            std::move(st.outgoing.begin(), st.outgoing.end(),
                      std::back_inserter(xs));
            st.outgoing = std::move(xs);
            self->delayed_send(self, dead_letter_retry, atom::commit::value);
          });
}

void settle(self_ptr self, time_point now);
void commit(self_ptr self);

/// Sets the queue's one wake-up to `at`: the first time, a response
/// handler that its request timeout runs; later, the same timeout moved.
void wake_at(self_ptr self, time_point at) {
  auto& st = self->state;
  if (!st.wake_pending) {
    st.wake_pending = true;
    st.wake_id = self->new_request_id(caf::message_priority::normal)
                   .response_id();
    self->add_multiplexed_response_handler(
      st.wake_id, caf::behavior{[=](caf::error&) {
        self->state.wake_pending = false;
        settle(self, now_of(self));
        commit(self);
      }});
  } else {
    self->clock().cancel_request_timeout(self, st.wake_id);
  }
  st.wake_at = at;
  self->clock().set_request_timeout(at, self, st.wake_id);
}

/// After every change: dead letters leave, waiting receivers get messages
/// (answered by commit()) or their empty answer when their wait is over,
/// and the wake-up is moved to the next deadline if that is earlier.
void settle(self_ptr self, time_point now) {
  auto& st = self->state;
  st.queue.advance(now);
  auto dead = st.queue.take_dead_letters();
  if (!dead.empty()) {
    std::vector<moved_message> moved;
    moved.reserve(dead.size());
    for (auto& d : dead)
      moved.push_back(moved_message{std::move(d.msg), origin_of(self, d)});
    if (!caf::actor_cast<dead_letter_sink>(st.dead_letters)) {
      for (auto& m : moved)
        if (!m.origin.empty())
          st.stale_keys.push_back(std::move(m.origin));
    } else {
      std::move(moved.begin(), moved.end(), std::back_inserter(st.outgoing));
      if (!st.storage)
        send_dead_letters(self);
    }
  }
  while (!st.waiters.empty() && st.queue.ready_count() > 0) {
    auto w = take_waiter(self, st.waiters.begin());
    st.served.emplace_back(std::move(w.promise),
                           st.queue.receive(w.max, w.visibility, now));
  }
  while (!st.deadlines.empty() && st.deadlines.begin()->first <= now) {
    auto w = take_waiter(self, st.waiters.find(st.deadlines.begin()->second));
    w.promise.deliver(std::vector<lease>{});
  }
  auto next = st.queue.next_deadline();
  if (!st.deadlines.empty()
      && (!next || st.deadlines.begin()->first < *next))
    next = st.deadlines.begin()->first;
  if (next && (!st.wake_pending || *next < st.wake_at))
    wake_at(self, *next);
}

/// Sends what changed since the last write to the store, for those
/// waiting in the pipeline. Called at the end of a burst of messages (see
/// commit), so a burst costs one write request, not one per message.
void write(self_ptr self) {
  auto& st = self->state;
  auto batch = to_batch(st.queue.take_journal(), st.incarnation, st.clock);
  for (auto& key : st.stale_keys)
    batch.push_back(store_op{store_op::kind::erase, std::move(key), {}});
  st.stale_keys.clear();
  st.writes.flush(!batch.empty());
  if (!batch.empty())
    self->request(st.storage, caf::infinite, atom::write::value,
                  std::move(batch))
      .then([self](atom::ok) { self->state.writes.written(caf::none); },
            [self](caf::error& err) { self->state.writes.written(err); });
  // After the write: the store gets what holds them here first.
  send_dead_letters(self);
}

/// Calls `done` with the outcome (none: written, or nothing to write) once
/// every change so far is written; waiters served meanwhile get their
/// messages then. The write goes out once the messages already in the
/// mailbox are handled: a commit to self queues behind them.
void commit(self_ptr self, write_pipeline::callback done) {
  auto& st = self->state;
  for (auto& [rp, leases] : st.served)
    st.writes.wait(answer(std::move(rp), std::move(leases)));
  st.served.clear();
  if (done)
    st.writes.wait(std::move(done));
  if (!st.storage) {
    st.writes.flush(false);
  } else if (!st.commit_sent) {
    st.commit_sent = true;
    self->send(self, atom::commit::value);
  }
}

/// Writes what changed without answering anyone but served waiters.
void commit(self_ptr self) {
  commit(self, nullptr);
}

/// Answers with `value` once what changed is written (at once in memory
/// mode), or with the storage's error.
template <class T>
caf::result<T> reply(self_ptr self, T value) {
  if (!self->state.storage) {
    commit(self);
    return value;
  }
  auto rp = self->make_response_promise<T>();
  commit(self, answer(rp, std::move(value)));
  return rp;
}

/// Applies `f(queue, receipt, now)` to each receipt; replies with the
/// results once what they changed is written.
template <class F>
caf::result<std::vector<caf::error>>
for_each_receipt(self_ptr self, const std::vector<std::string>& receipts,
                 F f) {
  std::vector<caf::error> result;
  result.reserve(receipts.size());
  auto now = now_of(self);
  for (auto& r : receipts)
    result.push_back(f(self->state.queue, r, now));
  settle(self, now);
  return reply(self, std::move(result));
}

} // namespace

queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, queue_config cfg) {
  self->set_default_handler(drop_unexpected);
  // Every request held is answered, however the actor ends (but a kill).
  answer_on_exit(self,
                 "queue " + cfg.name
                   + " failed: a handler threw; the registry restarts it",
                 [=](const caf::error& reason) { end(self, reason); });
  auto& st = self->state;
  st.queue_name = std::move(cfg.name);
  st.queue = message_queue{std::move(cfg.attributes), std::move(cfg.ids),
                           std::move(cfg.budget)};
  st.dead_letters = cfg.dead_letters.address();
  st.storage = std::move(cfg.storage);
  st.incarnation = cfg.incarnation;
  auto now = now_of(self);
  st.clock = cfg.clock ? *cfg.clock : clock_map::at(now);
  if (cfg.restored) {
    restore(st.queue, *cfg.restored, st.clock, now);
    cfg.restored.reset();
  }
  st.queue.set_journaling(static_cast<bool>(st.storage));
  settle(self, now);
  commit(self);
  // CAF tries handlers in this order: the busiest come first.
  return {
    [=](atom::enqueue, new_message& x) -> caf::result<uint64_t> {
      auto now = now_of(self);
      auto id = self->state.queue.push(std::move(x), now);
      if (!id)
        return std::move(id.error());
      settle(self, now);
      return reply(self, *id);
    },
    [=](atom::enqueue, std::vector<new_message>& xs)
      -> caf::result<std::vector<uint64_t>> {
      auto now = now_of(self);
      auto ids = self->state.queue.push_all(std::move(xs), now);
      if (!ids)
        return std::move(ids.error());
      settle(self, now);
      return reply(self, std::move(*ids));
    },
    [=](atom::enqueue, std::vector<new_message>& xs, atom::each) {
      auto now = now_of(self);
      enqueue_results result;
      for (auto& x : xs) {
        auto id = self->state.queue.push(std::move(x), now);
        result.ids.push_back(id ? *id : 0);
        result.errors.push_back(id ? caf::error{} : std::move(id.error()));
      }
      settle(self, now);
      return reply(self, std::move(result));
    },
    [=](atom::receive, uint32_t max, caf::timespan visibility,
        caf::timespan wait) -> caf::result<std::vector<lease>> {
      auto& st = self->state;
      auto now = now_of(self);
      auto vis = visibility_or_default(self, visibility);
      if (wait < caf::timespan{0})
        wait = st.queue.attributes().receive_wait;
      auto leases = st.queue.receive(max, vis, now);
      if (!leases.empty() || wait <= caf::timespan{0}) {
        settle(self, now);
        return reply(self, std::move(leases));
      }
      if (st.draining) {
        settle(self, now);
        return reply(self, std::move(leases));
      }
      auto rp = self->make_response_promise<std::vector<lease>>();
      auto n = st.next_waiter++;
      auto at = st.deadlines.emplace(now + wait, n);
      st.waiters.emplace(n, queue_state::waiter{rp, max, vis, at});
      st.queue.account(waiter_bytes);
      settle(self, now);
      commit(self);
      return rp;
    },
    [=](atom::ack, const std::vector<std::string>& receipts) {
      std::vector<caf::error> result;
      result.reserve(receipts.size());
      auto now = now_of(self);
      for (auto& r : receipts)
        result.push_back(self->state.queue.ack(r, now));
      settle(self, now);
      return reply(self, std::move(result));
    },
    [=](atom::release, const std::vector<std::string>& receipts,
        caf::timespan delay) {
      return for_each_receipt(self, receipts,
                              [delay](message_queue& q, const std::string& r,
                                      time_point now) {
                                return q.release(r, delay, now);
                              });
    },
    [=](atom::give_back, const std::vector<std::string>& receipts) {
      return for_each_receipt(self, receipts,
                              [](message_queue& q, const std::string& r,
                                 time_point now) {
                                return q.give_back(r, now);
                              });
    },
    [=](atom::extend, const std::vector<std::string>& receipts,
        caf::timespan visibility) {
      return for_each_receipt(self, receipts,
                              [visibility](message_queue& q,
                                           const std::string& r,
                                           time_point now) {
                                return q.extend(r, visibility, now);
                              });
    },
    [=](atom::peek, uint32_t max) {
      auto now = now_of(self);
      auto result = self->state.queue.peek(max, now);
      settle(self, now);
      return reply(self, std::move(result));
    },
    [=](atom::purge) {
      auto n = self->state.queue.purge();
      settle(self, now_of(self));
      return reply(self, n);
    },
    [=](atom::stats) {
      return self->state.queue.stats(now_of(self));
    },
    [=](atom::adopt, const std::string& source,
        std::vector<moved_message>& xs) {
      auto& st = self->state;
      auto now = now_of(self);
      for (auto& x : xs)
        st.queue.adopt(std::move(x.msg), source, now, std::move(x.origin));
      settle(self, now);
      return reply(self, static_cast<uint64_t>(xs.size()));
    },
    [=](atom::redrive) {
      std::vector<std::pair<std::string, moved_message>> result;
      for (auto& d : self->state.queue.take_adopted()) {
        auto origin = origin_of(self, d);
        result.emplace_back(std::move(d.source),
                            moved_message{std::move(d.msg),
                                          std::move(origin)});
      }
      settle(self, now_of(self));
      return reply(self, std::move(result));
    },
    [=](atom::configure, queue_attributes& attrs, dead_letter_sink& dlq) {
      self->state.queue.set_attributes(std::move(attrs));
      self->state.dead_letters = dlq.address();
      settle(self, now_of(self));
      commit(self);
    },
    [=](atom::commit) {
      self->state.commit_sent = false;
      // Without a store, only a retry of dead letters sends this.
      if (self->state.storage)
        write(self);
      else
        send_dead_letters(self);
    },
    [=](atom::drain) {
      self->state.draining = true;
      answer_waiters(self, std::vector<lease>{});
    },
  };
}

} // namespace actormq
