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

bool valid_queue_name(std::string_view name) {
  if (name.empty() || name.size() > 80)
    return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

namespace {

using self_ptr = registry_actor::stateful_pointer<registry_state>;

/// Writes `ops`, then calls `done` with the outcome; without a store, at
/// once.
template <class F>
void write(self_ptr self, store_batch ops, F done) {
  if (!self->state.storage) {
    done(caf::error{});
    return;
  }
  self->request(self->state.storage, caf::infinite, atom::write::value,
                std::move(ops))
    .then([done](atom::ok) mutable { done(caf::error{}); },
          [done](caf::error& err) mutable { done(err); });
}

store_op queue_record_op(const std::string& name,
                         const registry_state::entry& e) {
  return store_op{store_op::kind::put, records::queue_key(name),
                  records::encode(records::queue_record{name, e.incarnation,
                                                        e.attributes})};
}

/// Calls `f` once the queue's record is written (at once if it is), with
/// the outcome.
template <class F>
void when_saved(registry_state::entry& e, F f) {
  if (e.saved)
    f(caf::error{});
  else
    e.waiting.emplace_back(std::move(f));
}

queue_actor spawn_queue(self_ptr self, const std::string& name,
                        queue_config cfg) {
  cfg.name = name;
  cfg.ids = self->state.ids;
  cfg.budget = self->state.budget;
  cfg.dead_letters = caf::actor_cast<dead_letter_sink>(self);
  cfg.storage = self->state.storage;
  auto handle = self->spawn(queue, std::move(cfg));
  self->monitor(handle);
  return handle;
}

/// Returns the named queue, creating it with `attrs` if it does not exist.
/// A new queue is usable once its record is written (see when_saved()).
registry_state::entry& obtain(self_ptr self, const std::string& name,
                              const queue_attributes& attrs) {
  auto& queues = self->state.queues;
  auto i = queues.find(name);
  if (i != queues.end())
    return i->second;
  queue_config cfg;
  cfg.attributes = attrs;
  // Only stored queues need an incarnation (from the ids: never reused).
  if (self->state.storage)
    cfg.incarnation = self->state.ids->fetch_add(1);
  auto incarnation = cfg.incarnation;
  auto handle = spawn_queue(self, name, std::move(cfg));
  auto& e = queues[name];
  e.handle = handle;
  e.attributes = attrs;
  e.incarnation = incarnation;
  if (!self->state.storage)
    return e;
  e.saved = false;
  write(self, {queue_record_op(name, e)}, [=](const caf::error& err) {
    auto& queues = self->state.queues;
    auto i = queues.find(name);
    if (i == queues.end() || i->second.incarnation != incarnation)
      return;
    auto waiting = std::exchange(i->second.waiting, {});
    if (err) {
      // Not on disk, so not there: a later request tries again.
      self->demonitor(handle.address());
      self->send_exit(handle, caf::exit_reason::user_shutdown);
      queues.erase(i);
    } else {
      i->second.saved = true;
    }
    for (auto& f : waiting)
      f(err);
  });
  return e;
}

/// Removes the store keys of moved messages that have nowhere to go.
void drop_moved(self_ptr self, std::vector<moved_message>& xs) {
  store_batch ops;
  for (auto& x : xs)
    if (!x.origin.empty())
      ops.push_back(store_op{store_op::kind::erase, std::move(x.origin), {}});
  if (!ops.empty())
    write(self, std::move(ops), [](const caf::error&) {});
}

/// Answers `rp` with a count, or with its error.
void deliver(caf::typed_response_promise<uint64_t>& rp,
             caf::expected<uint64_t> n) {
  if (n)
    rp.deliver(*n);
  else
    rp.deliver(std::move(n.error()));
}

/// Hands `xs` to the queue `dest` (created if need be) as messages from
/// `source` (empty: coming home), then calls `done` with how many it took
/// once they are written, or with the error.
template <class F>
void move_to(self_ptr self, const std::string& dest, std::string source,
             std::vector<moved_message> xs, F done) {
  auto& e = obtain(self, dest, self->state.defaults);
  when_saved(e, [=, h = e.handle, source = std::move(source),
                 xs = std::move(xs)](const caf::error& err) mutable {
    if (err) {
      done(caf::expected<uint64_t>{err});
      return;
    }
    self->request(h, caf::infinite, atom::adopt::value, std::move(source),
                  std::move(xs))
      .then([=](uint64_t n) mutable { done(n); },
            [=](caf::error& err) mutable {
              done(caf::expected<uint64_t>{std::move(err)});
            });
  });
}

/// Sends redriven messages to their home queues; answers `rp` with how
/// many moved once every move is written, or with the first error.
void redrive_home(self_ptr self,
                  std::vector<std::pair<std::string, moved_message>> xs,
                  caf::typed_response_promise<uint64_t> rp) {
  std::map<std::string, std::vector<moved_message>> by_home;
  for (auto& [home, x] : xs) {
    // Back home, a message starts over toward max_deliveries.
    x.msg.receive_count = 0;
    by_home[home].push_back(std::move(x));
  }
  if (by_home.empty()) {
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
    move_to(self, home, {}, std::move(msgs),
            [t, rp](caf::expected<uint64_t> n) mutable {
              if (n)
                t->moved += *n;
              else if (!t->err)
                t->err = std::move(n.error());
              if (--t->pending > 0)
                return;
              if (t->err)
                rp.deliver(std::move(t->err));
              else
                rp.deliver(t->moved);
            });
}

caf::error check_attributes(const std::string& name,
                            const queue_attributes& attrs) {
  if (!valid_queue_name(name))
    return make_error(ec::invalid_queue_name);
  if (!attrs.dead_letter_queue.empty()
      && (attrs.dead_letter_queue == name
          || !valid_queue_name(attrs.dead_letter_queue)))
    return make_error(ec::invalid_attributes);
  return caf::none;
}

} // namespace

registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self,
         registry_config cfg) {
  self->set_default_handler(drop_unexpected);
  auto& st = self->state;
  st.defaults = std::move(cfg.defaults);
  st.ids = cfg.ids ? std::move(cfg.ids) : message_queue::make_id_source();
  st.budget = std::make_shared<memory_budget>();
  st.budget->limit = cfg.max_memory_bytes;
  st.storage = std::move(cfg.storage);
  if (auto recovered = std::move(cfg.recovered)) {
    for (auto& x : recovered->queues) {
      auto name = x->queue.name;
      registry_state::entry e;
      e.attributes = x->queue.attributes;
      e.incarnation = x->queue.incarnation;
      queue_config qcfg;
      qcfg.attributes = e.attributes;
      qcfg.incarnation = e.incarnation;
      qcfg.restored = std::move(x);
      e.handle = spawn_queue(self, name, std::move(qcfg));
      st.queues.emplace(std::move(name), std::move(e));
    }
    if (!recovered->cleanup.empty())
      write(self, std::move(recovered->cleanup), [](const caf::error&) {});
  }
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& queues = self->state.queues;
    for (auto i = queues.begin(); i != queues.end(); ++i) {
      if (i->second.handle.address() == dm.source) {
        log::warning("queue " + i->first + " ended: "
                     + self->system().render(dm.reason));
        queues.erase(i);
        return;
      }
    }
  });
  // Queues end with their registry.
  self->set_exit_handler([=](caf::exit_msg& msg) {
    for (auto& [name, e] : self->state.queues)
      self->send_exit(e.handle, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [=](atom::adopt, const std::string& source,
        std::vector<moved_message>& xs) -> caf::result<uint64_t> {
      auto& queues = self->state.queues;
      auto i = queues.find(source);
      if (i == queues.end()
          || i->second.attributes.dead_letter_queue.empty()) {
        drop_moved(self, xs);
        return uint64_t{0};
      }
      auto rp = self->make_response_promise<uint64_t>();
      move_to(self, i->second.attributes.dead_letter_queue, source,
              std::move(xs), [rp](caf::expected<uint64_t> n) mutable {
                // An error leaves them stored at their source: back there
                // after a restart.
                deliver(rp, std::move(n));
              });
      return rp;
    },
    [=](atom::get, const std::string& name,
        bool create) -> caf::result<queue_actor> {
      if (!valid_queue_name(name))
        return make_error(ec::invalid_queue_name);
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i != queues.end() && i->second.saved)
        return i->second.handle;
      if (i == queues.end() && !create)
        return make_error(ec::unknown_queue);
      auto& e = obtain(self, name, self->state.defaults);
      auto rp = self->make_response_promise<queue_actor>();
      when_saved(e, answer(rp, e.handle));
      return rp;
    },
    [=](atom::put, const std::string& name,
        queue_attributes& attrs) -> caf::result<queue_actor> {
      if (auto err = check_attributes(name, attrs))
        return err;
      auto created = self->state.queues.count(name) == 0;
      auto& e = obtain(self, name, attrs);
      auto rp = self->make_response_promise<queue_actor>();
      auto done = answer(rp, e.handle);
      if (created) {
        when_saved(e, done);
        return rp;
      }
      e.attributes = attrs;
      self->send(e.handle, atom::configure::value, std::move(attrs),
                 caf::actor_cast<dead_letter_sink>(self));
      write(self, {queue_record_op(name, e)}, done);
      return rp;
    },
    [=](atom::list) -> caf::result<std::vector<queue_info>> {
      auto rp = self->make_response_promise<std::vector<queue_info>>();
      auto& queues = self->state.queues;
      auto result = std::make_shared<std::vector<queue_info>>();
      result->reserve(queues.size());
      auto pending = std::make_shared<size_t>(queues.size());
      if (queues.empty()) {
        rp.deliver(std::vector<queue_info>{});
        return rp;
      }
      for (auto& [name, e] : queues) {
        auto info = queue_info{name, e.attributes, {}};
        auto finish = [=]() mutable {
          if (--*pending > 0)
            return;
          std::sort(result->begin(), result->end(),
                    [](const queue_info& x, const queue_info& y) {
                      return x.name < y.name;
                    });
          rp.deliver(std::move(*result));
        };
        self->request(e.handle, caf::infinite, atom::stats::value)
          .then(
            [=](queue_stats& stats) mutable {
              result->push_back(queue_info{info.name, info.attributes,
                                           std::move(stats)});
              finish();
            },
            [=](caf::error&) mutable { finish(); });
      }
      return rp;
    },
    [=](atom::stats, const std::string& name) -> caf::result<queue_info> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      auto rp = self->make_response_promise<queue_info>();
      auto info = queue_info{name, i->second.attributes, {}};
      self->request(i->second.handle, caf::infinite, atom::stats::value)
        .then(
          [=](queue_stats& stats) mutable {
            info.stats = std::move(stats);
            rp.deliver(std::move(info));
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [=](atom::remove, const std::string& name) -> caf::result<bool> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      self->demonitor(i->second.handle.address());
      self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
      auto incarnation = i->second.incarnation;
      queues.erase(i);
      auto rp = self->make_response_promise<bool>();
      write(self,
            {store_op{store_op::kind::erase, records::queue_key(name), {}},
             store_op{store_op::kind::erase_range,
                      records::message_key(incarnation, 0),
                      records::message_range_end(incarnation)},
             store_op{store_op::kind::erase_range,
                      records::dedup_range_begin(incarnation),
                      records::dedup_range_end(incarnation)}},
            answer(rp, true));
      return rp;
    },
    [=](atom::redrive, const std::string& name) -> caf::result<uint64_t> {
      auto& queues = self->state.queues;
      auto i = queues.find(name);
      if (i == queues.end())
        return make_error(ec::unknown_queue);
      auto rp = self->make_response_promise<uint64_t>();
      self->request(i->second.handle, caf::infinite, atom::redrive::value)
        .then(
          [=](std::vector<std::pair<std::string, moved_message>>& xs) mutable {
            redrive_home(self, std::move(xs), rp);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

} // namespace actormq
