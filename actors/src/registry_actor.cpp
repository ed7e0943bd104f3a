#include "actormq/registry_actor.hpp"

#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/typed_response_promise.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "actormq/queue_actor.hpp"
#include "actormq/records.hpp"
#include "answer.hpp"

namespace actormq {

namespace {

/// How often a queue may end unexpectedly within restart_period before it
/// stays unavailable for the rest of it (an Erlang supervisor's intensity
/// and period).
constexpr int max_restarts = 5;
constexpr auto restart_period = std::chrono::minutes{1};

store_op queue_record_op(const std::string& name,
                         const registry_state::entry& e) {
  return store_op{store_op::kind::put, records::queue_key(name),
                  records::encode(records::queue_record{name, e.incarnation,
                                                        e.attributes})};
}

caf::error check_attributes(const std::string& name,
                            const queue_attributes& attrs) {
  if (!valid_queue_name(name))
    return make_error(ec::invalid_queue_name);
  if (attrs.dead_letter_queue.empty())
    return caf::none;
  if (!valid_queue_name(attrs.dead_letter_queue))
    return make_error(ec::invalid_queue_name);
  if (attrs.dead_letter_queue == name)
    return make_error(ec::invalid_attributes);
  return caf::none;
}

/// Answers `rp` with a count, or with its error.
void deliver(caf::typed_response_promise<uint64_t>& rp,
             caf::expected<uint64_t> n) {
  if (n)
    rp.deliver(*n);
  else
    rp.deliver(std::move(n.error()));
}

/// The error of a request for a queue that is not there.
caf::error unavailable() {
  return caf::make_error(caf::sec::request_receiver_down);
}

} // namespace

void registry_state::start(recovered_state& recovered) {
  for (auto& x : recovered.queues) {
    auto name = x->queue.name;
    entry e;
    e.share = budget_share{budget};
    e.share.take(memory_budget::per_queue);
    e.attributes = x->queue.attributes;
    e.incarnation = x->queue.incarnation;
    queue_config qcfg;
    qcfg.attributes = e.attributes;
    qcfg.incarnation = e.incarnation;
    qcfg.restored = std::move(x);
    e.handle = spawn_queue(name, std::move(qcfg));
    queues.emplace(std::move(name), std::move(e));
  }
  for (auto& name : recovered.orphaned)
    log::warning("the store held messages of a queue it does not name: "
                 "they are in queue "
                 + name);
  if (!recovered.cleanup.empty())
    write(std::move(recovered.cleanup), [](const caf::error&) {});
}

queue_actor registry_state::spawn_queue(const std::string& name,
                                        queue_config cfg) {
  cfg.name = name;
  cfg.ids = ids;
  cfg.budget = budget;
  cfg.dead_letters = caf::actor_cast<dead_letter_sink>(self);
  cfg.storage = storage;
  cfg.clock = clock;
  auto handle = self->spawn(queue, std::move(cfg));
  self->monitor(handle);
  if (draining)
    self->send(handle, atom::drain::value);
  return handle;
}

void registry_state::write(store_batch ops, callback done) {
  if (!storage) {
    done(caf::none);
    return;
  }
  writes.wait(std::move(done));
  writes.flush(true);
  auto st = this;
  self->request(storage, caf::infinite, atom::write::value, std::move(ops))
    .then([st](atom::ok) { st->writes.written(caf::none); },
          [st](caf::error& err) { st->writes.written(err); });
}

void registry_state::when_ready(entry& e, callback f) {
  if (e.ready)
    f(caf::none);
  else if (e.failed)
    f(unavailable());
  else
    e.waiting.push_back(std::move(f));
}

registry_state::entry&
registry_state::obtain(const std::string& name,
                       const queue_attributes& attrs) {
  auto i = queues.find(name);
  if (i != queues.end())
    return i->second;
  queue_config cfg;
  cfg.attributes = attrs;
  // Only stored queues need an incarnation (from the ids: never reused).
  if (storage)
    cfg.incarnation = ids->fetch_add(1);
  auto incarnation = cfg.incarnation;
  auto& e = queues[name];
  e.share = budget_share{budget};
  e.share.take(memory_budget::per_queue);
  e.handle = spawn_queue(name, std::move(cfg));
  e.attributes = attrs;
  e.incarnation = incarnation;
  if (!storage)
    return e;
  e.ready = false;
  write({queue_record_op(name, e)}, [this, name, incarnation](auto& err) {
    record_saved(name, incarnation, err);
  });
  return e;
}

void registry_state::record_saved(const std::string& name,
                                  uint64_t incarnation,
                                  const caf::error& err) {
  auto i = queues.find(name);
  if (i == queues.end() || i->second.incarnation != incarnation)
    return;
  auto waiting = std::exchange(i->second.waiting, {});
  if (err) {
    // Not on disk, so not there: a later request tries again.
    self->demonitor(i->second.handle.address());
    self->send_exit(i->second.handle, err);
    queues.erase(i);
  } else {
    i->second.ready = true;
  }
  for (auto& f : waiting)
    f(err);
}

caf::result<queue_actor> registry_state::get(const std::string& name,
                                             bool create) {
  if (!valid_queue_name(name))
    return make_error(ec::invalid_queue_name);
  auto i = queues.find(name);
  if (i != queues.end() && i->second.ready)
    return i->second.handle;
  if (i == queues.end() && !create)
    return make_error(ec::unknown_queue);
  if (i != queues.end() && i->second.failed
      && self->clock().now() >= i->second.next_try) {
    // Brought back on demand: the store may work again.
    i->second.failed = false;
    restart(name);
  }
  if (i == queues.end() && !budget->fits(memory_budget::per_queue))
    return make_error(ec::out_of_memory);
  auto& e = obtain(name, defaults);
  auto rp = self->make_response_promise<queue_actor>();
  when_ready(e, [this, name, rp](const caf::error& err) mutable {
    auto i = queues.find(name);
    if (err || i == queues.end())
      rp.deliver(err ? err : make_error(ec::unknown_queue));
    else
      rp.deliver(i->second.handle);
  });
  return rp;
}

caf::result<queue_actor> registry_state::put(const std::string& name,
                                             const queue_attributes& values,
                                             uint32_t fields) {
  auto created = queues.count(name) == 0;
  auto attrs = created ? defaults : queues[name].attributes;
  if (!created && (fields & attribute_field::fifo) != 0
      && values.fifo != attrs.fifo)
    return make_error(ec::fifo_fixed);
  patch_attributes(attrs, values, fields);
  if (auto err = check_attributes(name, attrs))
    return err;
  if (created && !budget->fits(memory_budget::per_queue))
    return make_error(ec::out_of_memory);
  auto& e = obtain(name, attrs);
  auto rp = self->make_response_promise<queue_actor>();
  auto done = answer(rp, e.handle);
  if (created) {
    when_ready(e, std::move(done));
    return rp;
  }
  e.attributes = attrs;
  self->send(e.handle, atom::configure::value, std::move(attrs),
             caf::actor_cast<dead_letter_sink>(self));
  write({queue_record_op(name, e)}, std::move(done));
  return rp;
}

caf::result<std::vector<queue_info>> registry_state::list() {
  if (queues.empty())
    return std::vector<queue_info>{};
  auto rp = self->make_response_promise<std::vector<queue_info>>();
  auto held = promises.hold(rp);
  struct tally {
    std::vector<queue_info> result;
    size_t pending = 0;
  };
  auto t = std::make_shared<tally>();
  t->pending = queues.size();
  for (auto& [name, e] : queues) {
    auto finish = [this, held, t, rp](queue_info* x) mutable {
      if (x)
        t->result.push_back(std::move(*x));
      if (--t->pending > 0)
        return;
      std::sort(t->result.begin(), t->result.end(),
                [](auto& x, auto& y) { return x.name < y.name; });
      promises.done(held);
      rp.deliver(std::move(t->result));
    };
    auto info = queue_info{name, e.attributes, {}, node};
    self->request(e.handle, caf::infinite, atom::stats::value)
      .then(
        [=](queue_stats& stats) mutable {
          info.stats = std::move(stats);
          finish(&info);
        },
        [=](caf::error&) mutable { finish(nullptr); });
  }
  return rp;
}

caf::result<queue_info> registry_state::stats(const std::string& name) {
  auto i = queues.find(name);
  if (i == queues.end())
    return make_error(ec::unknown_queue);
  auto rp = self->make_response_promise<queue_info>();
  auto held = promises.hold(rp);
  auto info = queue_info{name, i->second.attributes, {}, node};
  self->request(i->second.handle, caf::infinite, atom::stats::value)
    .then(
      [=](queue_stats& stats) mutable {
        promises.done(held);
        info.stats = std::move(stats);
        rp.deliver(std::move(info));
      },
      [=](caf::error& err) mutable {
        promises.done(held);
        rp.deliver(std::move(err));
      });
  return rp;
}

caf::result<bool> registry_state::remove(const std::string& name) {
  auto i = queues.find(name);
  if (i == queues.end())
    return make_error(ec::unknown_queue);
  // Its waiting requests learn that it is gone.
  auto gone = make_error(ec::unknown_queue);
  auto& e = i->second;
  auto incarnation = e.incarnation;
  for (auto& f : std::exchange(e.waiting, {}))
    f(gone);
  auto rp = self->make_response_promise<bool>();
  auto handle = std::move(e.handle);
  auto running = e.ready;
  queues.erase(i);
  self->send_exit(handle, gone);
  if (running) {
    // Its records go once it has ended: a write of its own still on its
    // way to the store must not follow the delete.
    deleting.emplace(handle.address(),
                     deletion{name, incarnation, answer(rp, true)});
  } else {
    // Not running (its record is not written yet, or it restarts).
    self->demonitor(handle.address());
    erase_records(name, incarnation, answer(rp, true));
  }
  return rp;
}

void registry_state::erase_records(const std::string& name,
                                   uint64_t incarnation, callback done) {
  store_batch ops{store_op{store_op::kind::erase_range,
                           records::message_key(incarnation, 0),
                           records::message_range_end(incarnation)},
                  store_op{store_op::kind::erase_range,
                           records::dedup_range_begin(incarnation),
                           records::dedup_range_end(incarnation)}};
  // A queue of the same name created since has written its own record.
  if (queues.count(name) == 0)
    ops.push_back(store_op{store_op::kind::erase, records::queue_key(name), {}});
  write(std::move(ops), std::move(done));
}

void registry_state::move_to(
  const std::string& dest, std::string source, std::vector<moved_message> xs,
  std::function<void(caf::expected<uint64_t>)> done) {
  if (router) {
    self
      ->request(router, remote_move_timeout, atom::get::value, dest, true)
      .then(
        [this, source = std::move(source), xs = std::move(xs),
         done](queue_actor& q) mutable {
          hand_over(q, std::move(source), std::move(xs), std::move(done));
        },
        [done](caf::error& err) { done(std::move(err)); });
    return;
  }
  auto& e = obtain(dest, defaults);
  when_ready(e, [this, dest, source = std::move(source), xs = std::move(xs),
                 done](const caf::error& err) mutable {
    auto i = queues.find(dest);
    if (err || i == queues.end()) {
      done(err ? err : make_error(ec::unknown_queue));
      return;
    }
    hand_over(i->second.handle, std::move(source), std::move(xs),
              std::move(done));
  });
}

void registry_state::hand_over(
  const queue_actor& q, std::string source, std::vector<moved_message> xs,
  std::function<void(caf::expected<uint64_t>)> done) {
  if (q.node() == self->node()) {
    // One store: the queue removes the origins in the write that adds them.
    self->request(q, caf::infinite, atom::adopt::value, std::move(source),
                  std::move(xs))
      .then([done](uint64_t n) { done(n); },
            [done](caf::error& err) { done(std::move(err)); });
    return;
  }
  // Another node's store: the origins go here once it has written them.
  store_batch erase;
  for (auto& x : xs)
    if (!x.origin.empty())
      erase.push_back(
        store_op{store_op::kind::erase, std::exchange(x.origin, {}), {}});
  self
    ->request(q, remote_move_timeout, atom::adopt::value, std::move(source),
              std::move(xs))
    .then(
      [this, erase = std::move(erase), done](uint64_t n) mutable {
        if (erase.empty()) {
          done(n);
          return;
        }
        write(std::move(erase), [done, n](const caf::error& err) {
          if (err)
            done(err);
          else
            done(n);
        });
      },
      [done](caf::error& err) { done(std::move(err)); });
}

void registry_state::give_back(const std::string& dlq, const std::string& home,
                               std::vector<moved_message> xs) {
  auto i = queues.find(dlq);
  if (i == queues.end())
    return;
  self->request(i->second.handle, caf::infinite, atom::adopt::value, home,
                std::move(xs))
    .then([](uint64_t) {},
          [this, dlq](caf::error& err) {
            log::warning("queue " + dlq
                         + ": messages of a failed redrive not taken back "
                           "(back after a restart): "
                         + self->system().render(err));
          });
}

caf::result<uint64_t>
registry_state::adopt(const std::string& source,
                      std::vector<moved_message>& xs) {
  auto i = queues.find(source);
  if (i == queues.end() || i->second.attributes.dead_letter_queue.empty()) {
    // Nowhere to go: their records go.
    store_batch ops;
    for (auto& x : xs)
      if (!x.origin.empty())
        ops.push_back(
          store_op{store_op::kind::erase, std::move(x.origin), {}});
    if (!ops.empty())
      write(std::move(ops), [](const caf::error&) {});
    return uint64_t{0};
  }
  auto rp = self->make_response_promise<uint64_t>();
  auto held = promises.hold(rp);
  moving[source] += 1;
  // An error leaves them stored at their source: back there after a
  // restart.
  move_to(i->second.attributes.dead_letter_queue, source, std::move(xs),
          [this, held, rp, source](caf::expected<uint64_t> n) mutable {
            promises.done(held);
            moved_out(source);
            deliver(rp, n);
          });
  return rp;
}

caf::result<uint64_t> registry_state::redrive(const std::string& name) {
  auto i = queues.find(name);
  if (i == queues.end())
    return make_error(ec::unknown_queue);
  auto rp = self->make_response_promise<uint64_t>();
  auto held = promises.hold(rp);
  moving[name] += 1;
  self->request(i->second.handle, caf::infinite, atom::redrive::value)
    .then(
      [this, held, rp,
       name](std::vector<std::pair<std::string, moved_message>>& xs) mutable {
        std::map<std::string, std::vector<moved_message>> by_home;
        for (auto& [home, x] : xs) {
          // Back home, a message starts over toward max_deliveries.
          x.msg.receive_count = 0;
          by_home[home].push_back(std::move(x));
        }
        if (by_home.empty()) {
          promises.done(held);
          moved_out(name);
          rp.deliver(uint64_t{0});
          return;
        }
        struct tally {
          size_t pending = 0;
          uint64_t moved = 0;
          caf::error err;
        };
        auto t = std::make_shared<tally>();
        t->pending = by_home.size();
        for (auto& [home, msgs] : by_home)
          move_to(home, {}, msgs,
                  [this, held, t, rp, name, home = home,
                   msgs](caf::expected<uint64_t> n) mutable {
                    if (n)
                      t->moved += *n;
                    else if (!t->err)
                      t->err = std::move(n.error());
                    if (!n)
                      give_back(name, home, std::move(msgs));
                    if (--t->pending > 0)
                      return;
                    promises.done(held);
                    moved_out(name);
                    deliver(rp, t->err ? caf::expected<uint64_t>{t->err}
                                       : t->moved);
                  });
      },
      [this, held, rp, name](caf::error& err) mutable {
        promises.done(held);
        moved_out(name);
        rp.deliver(std::move(err));
      });
  return rp;
}

void registry_state::when_settled(const std::string& name,
                                  std::function<void()> f) {
  if (moving.count(name) == 0)
    f();
  else
    settled[name].push_back(std::move(f));
}

void registry_state::moved_out(const std::string& name) {
  auto i = moving.find(name);
  if (i == moving.end() || --i->second > 0)
    return;
  moving.erase(i);
  auto j = settled.find(name);
  if (j == settled.end())
    return;
  auto fs = std::move(j->second);
  settled.erase(j);
  for (auto& f : fs)
    f();
}

void registry_state::drain() {
  draining = true;
  for (auto& [name, e] : queues)
    self->send(e.handle, atom::drain::value);
}

void registry_state::queue_down(const caf::down_msg& msg) {
  if (auto d = deleting.find(msg.source); d != deleting.end()) {
    // Its moves on their way still need their records where they left.
    // Until they are written it stays in `deleting` (end() answers it).
    when_settled(d->second.name, [this, addr = msg.source] {
      auto d = deleting.find(addr);
      if (d == deleting.end())
        return;
      auto x = std::move(d->second);
      deleting.erase(d);
      erase_records(x.name, x.incarnation, std::move(x.done));
    });
    return;
  }
  auto i = std::find_if(queues.begin(), queues.end(), [&](auto& x) {
    return x.second.handle.address() == msg.source;
  });
  if (i == queues.end())
    return;
  auto name = i->first;
  auto& e = i->second;
  e.ready = false;
  auto now = self->clock().now();
  if (e.restarts == 0 || now - e.restarts_since >= restart_period) {
    e.restarts = 0;
    e.restarts_since = now;
  }
  e.restarts += 1;
  if (e.restarts > max_restarts) {
    log::error("queue " + name + " ended unexpectedly "
               + std::to_string(e.restarts)
               + " times within a minute: it answers 503 for the rest of "
                 "that minute");
    e.failed = true;
    e.next_try = e.restarts_since + restart_period;
    for (auto& f : std::exchange(e.waiting, {}))
      f(unavailable());
    return;
  }
  log::warning("queue " + name + " ended unexpectedly ("
               + self->system().render(msg.reason)
               + "): restarting it from the store");
  // Messages on their way out are still in its records: read them once
  // their moves are written, or the restart would hold them twice.
  auto incarnation = e.incarnation;
  when_settled(name, [this, name, incarnation] {
    auto i = queues.find(name);
    if (i != queues.end() && i->second.incarnation == incarnation
        && !i->second.ready)
      restart(name);
  });
}

void registry_state::restart(const std::string& name) {
  auto& e = queues.at(name);
  auto incarnation = e.incarnation;
  auto restore = [this, name, incarnation](std::shared_ptr<recovered_queue> x,
                                           const caf::error& err) {
    auto i = queues.find(name);
    if (i == queues.end() || i->second.incarnation != incarnation)
      return;
    auto& e = i->second;
    auto waiting = std::exchange(e.waiting, {});
    if (err) {
      // Tried again by the next request for it.
      log::error("queue " + name + " cannot be read back from the store: "
                 + self->system().render(err));
      e.failed = true;
      e.next_try = self->clock().now() + std::chrono::seconds{1};
    } else {
      queue_config cfg;
      cfg.attributes = e.attributes;
      cfg.incarnation = incarnation;
      cfg.restored = std::move(x);
      e.handle = spawn_queue(name, std::move(cfg));
      e.ready = true;
    }
    for (auto& f : waiting)
      f(err ? unavailable() : caf::error{});
  };
  auto x = std::make_shared<recovered_queue>();
  x->queue = records::queue_record{name, incarnation, e.attributes};
  if (!storage) {
    restore(std::move(x), caf::none);
    return;
  }
  self->request(storage, caf::infinite, atom::get::value, incarnation)
    .then(
      [restore, x](store_batch& records) {
        auto why = read_queue(records, *x);
        if (!why.empty())
          log::error(why);
        restore(x, why.empty() ? caf::error{}
                               : make_error(ec::storage_failed));
      },
      [restore, x](caf::error& err) { restore(x, err); });
}

void registry_state::end(const caf::error& reason) {
  for (auto& [name, e] : queues) {
    self->demonitor(e.handle.address());
    self->send_exit(e.handle, reason);
    for (auto& f : std::exchange(e.waiting, {}))
      f(unavailable());
  }
  for (auto& [addr, d] : std::exchange(deleting, {}))
    d.done(unavailable());
  promises.fail_all(unavailable());
  writes.fail_all(unavailable());
}

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self,
         registry_config cfg) {
  self->set_default_handler(drop_unexpected);
  auto& st = self->state;
  st.self = self;
  st.defaults = std::move(cfg.defaults);
  st.ids = cfg.ids ? std::move(cfg.ids) : message_queue::make_id_source();
  st.budget = std::make_shared<memory_budget>();
  st.budget->limit = cfg.max_memory_bytes;
  st.storage = std::move(cfg.storage);
  st.node = std::move(cfg.node);
  st.clock = clock_map::at(self->clock().now());
  if (auto recovered = std::move(cfg.recovered))
    st.start(*recovered);
  self->set_down_handler(
    [=](caf::down_msg& msg) { self->state.queue_down(msg); });
  // Queues end with their registry; what it holds is answered.
  answer_on_exit(self, "the registry failed: a handler threw",
                 [=](const caf::error& reason) { self->state.end(reason); });
  return {
    [=](atom::adopt, const std::string& source,
        std::vector<moved_message>& xs) {
      return self->state.adopt(source, xs);
    },
    [=](atom::get, const std::string& name, bool create) {
      return self->state.get(name, create);
    },
    [=](atom::put, const std::string& name, const queue_attributes& values,
        uint32_t fields) { return self->state.put(name, values, fields); },
    [=](atom::list) { return self->state.list(); },
    [=](atom::stats, const std::string& name) {
      return self->state.stats(name);
    },
    [=](atom::remove, const std::string& name) {
      return self->state.remove(name);
    },
    [=](atom::redrive, const std::string& name) {
      return self->state.redrive(name);
    },
    [=](atom::drain) { self->state.drain(); },
    [=](atom::route, queue_locator& router) {
      self->state.router = std::move(router);
    },
  };
}

} // namespace actormq
