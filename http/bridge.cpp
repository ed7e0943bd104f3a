#include "bridge.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actormq/log.hpp"
#include "actormq/registry_actor.hpp"
#include "connection.hpp"

namespace actormq::http::detail {

namespace {

/// How often a bridge looks for requests it has waited on too long.
constexpr auto sweep_interval = std::chrono::seconds{1};

/// The state of a bridge: where queues are, the handles it has seen, and
/// the requests it waits on.
struct bridge_state {
  static constexpr const char* name = "actormq.http.bridge";
  bridge_config cfg;
  std::unordered_map<std::string, queue_actor> queues;
  /// When the bridge stops waiting for each answer it waits on, by the
  /// answer's message id.
  std::unordered_map<caf::message_id, caf::actor_clock::time_point> waiting;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// Answers with the problem `err` stands for; an error no table knows is a
/// bug, logged here and a 500.
void answer_error(bridge_ptr self, const responder& r, const caf::error& err) {
  auto p = to_problem(err);
  if (p == problem::internal_error)
    log::error("a request failed: " + self->system().render(err));
  r.respond(problem_reply(p));
}

/// When a bridge stops waiting for the answers to a call that it began
/// at `now` and the connection gives up on after `wait` (its backstop).
caf::actor_clock::time_point deadline(caf::actor_clock::time_point now,
                                      caf::timespan wait) {
  return now + wait + sweep_interval;
}

/// Sends `xs` to `dest` and runs `on_answer` with its answer of type
/// `Answer`, or `on_error` with an error. Requests wait without a CAF
/// timeout (one per request costs a wake-up of CAF's clock thread, ~8% of
/// the enqueue rate): the connection's own timer answers the client (see
/// connection::dispatch), and the bridge's sweep fails a request still
/// waited on at `until` with `sec::request_timeout` (within a second after
/// it), so an actor that never answers cannot make the bridge hold its
/// handlers for ever. The steps of one call share one `until`.
template <class Answer, class Dest, class OnAnswer, class OnError,
          class... Ts>
void ask(bridge_ptr self, caf::actor_clock::time_point until,
         const Dest& dest, OnAnswer on_answer, OnError on_error,
         Ts&&... xs) {
  auto h = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
  auto id = h.id();
  self->state.waiting.emplace(id, until);
  h.then(
    [=](Answer& x) mutable {
      self->state.waiting.erase(id);
      on_answer(x);
    },
    [=](caf::error& err) mutable {
      self->state.waiting.erase(id);
      on_error(err);
    });
}

/// Fails each request waited on past its time (see ask()), as CAF's clock
/// fails a request with a timeout: an error message with the answer's id.
void sweep(bridge_ptr self) {
  auto now = self->clock().now();
  for (auto& [id, until] : self->state.waiting)
    if (until <= now)
      self->eq_impl(id, nullptr, self->context(),
                    caf::make_error(caf::sec::request_timeout));
}

/// Runs `f` with the named queue (from the cache, or asked of the registry,
/// which creates it when `create` is set), by `until`. A call whose client
/// was answered meanwhile (its backstop fired) goes no further: a client
/// told to retry must not find its first try done after that answer.
template <class F>
void with_queue(bridge_ptr self, const std::string& name, bool create,
                const responder& r, caf::actor_clock::time_point until, F f) {
  auto& cache = self->state.queues;
  if (auto i = cache.find(name); i != cache.end()) {
    f(i->second);
    return;
  }
  ask<queue_actor>(
    self, until, self->state.cfg.registry,
    [=](queue_actor& q) mutable {
      if (self->state.queues.emplace(name, q).second)
        self->monitor(q);
      if (r.awaited())
        f(q);
    },
    [=](caf::error& err) { answer_error(self, r, err); }, atom::get::value,
    name, create);
}

/// Performs a call on its queue and answers it, by `until`.
void on_queue(bridge_ptr self, api_call& call, const responder& r,
              caf::actor_clock::time_point until, const queue_actor& q) {
  auto fail = [=](caf::error& err) { answer_error(self, r, err); };
  auto answer_receipts = [=](std::vector<caf::error>& results) {
    r.respond(receipts_reply(call.receipts, results));
  };
  switch (call.kind) {
    case op::enqueue_compat:
    case op::enqueue: {
      auto kind = call.kind;
      if (call.batch)
        ask<std::vector<uint64_t>>(
          self, until, q,
          [=](std::vector<uint64_t>& ids) {
            r.respond(enqueue_reply(kind, true, ids));
          },
          fail, atom::enqueue::value, std::move(call.messages));
      else
        ask<uint64_t>(
          self, until, q,
          [=](uint64_t id) { r.respond(enqueue_reply(kind, false, {id})); },
          fail, atom::enqueue::value, std::move(call.messages.front()));
      return;
    }
    case op::receive:
      ask<std::vector<lease>>(
        self, until, q,
        [=](std::vector<lease>& xs) {
          if (r.respond(leases_reply(xs, self->clock().now())))
            return;
          // The client left while waiting: its messages go back at once.
          std::vector<std::string> receipts;
          for (auto& x : xs)
            receipts.push_back(std::move(x.receipt));
          if (receipts.empty())
            return;
          ask<std::vector<caf::error>>(
            self, deadline(self->clock().now(), self->state.cfg.actor_timeout),
            q,
            [](std::vector<caf::error>&) {},
            [](caf::error&) {
              // The lease runs out instead.
            },
            atom::give_back::value, std::move(receipts));
        },
        fail, atom::receive::value, call.max, call.visibility, call.wait);
      return;
    case op::ack:
      ask<std::vector<caf::error>>(self, until, q, answer_receipts, fail,
                                   atom::ack::value, call.receipts);
      return;
    case op::release:
      ask<std::vector<caf::error>>(self, until, q, answer_receipts, fail,
                                   atom::release::value, call.receipts,
                                   call.delay);
      return;
    case op::extend:
      ask<std::vector<caf::error>>(self, until, q, answer_receipts, fail,
                                   atom::extend::value, call.receipts,
                                   call.visibility);
      return;
    case op::peek:
      ask<std::vector<message>>(
        self, until, q,
        [=](std::vector<message>& xs) {
          r.respond(messages_reply(xs, self->clock().now()));
        },
        fail, atom::peek::value, call.max);
      return;
    case op::purge:
      ask<uint64_t>(
        self, until, q,
        [=](uint64_t n) { r.respond(count_reply("purged", n)); }, fail,
        atom::purge::value);
      return;
    default:
      log::error("a queue call of no known kind reached the bridge");
      r.respond(problem_reply(problem::internal_error));
  }
}

/// The bridge's behaviour (see spawn_bridges()).
caf::behavior bridge(caf::stateful_actor<bridge_state>* self,
                     bridge_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& cache = self->state.queues;
    for (auto i = cache.begin(); i != cache.end();) {
      if (i->second.address() == dm.source)
        i = cache.erase(i);
      else
        ++i;
    }
  });
  self->delayed_send(self, sweep_interval, atom::tick::value);
  return {
    [=](api_call& call, responder& r) {
      // Answered meanwhile (the bridge was behind by a backstop): no step.
      if (!r.awaited())
        return;
      auto fail = [=](caf::error& err) { answer_error(self, r, err); };
      auto& cfg = self->state.cfg;
      auto until = deadline(self->clock().now(),
                            backstop(call, cfg.actor_timeout,
                                     cfg.receive_margin));
      auto& reg = cfg.registry;
      switch (call.kind) {
        case op::list_queues:
        case op::metrics: {
          auto metrics = call.kind == op::metrics;
          auto visible = std::move(call.visible);
          ask<std::vector<queue_info>>(
            self, until, reg,
            [=](std::vector<queue_info>& xs) {
              if (visible)
                xs.erase(std::remove_if(xs.begin(), xs.end(),
                                        [&](const queue_info& x) {
                                          return !visible->may_see(x.name);
                                        }),
                         xs.end());
              r.respond(metrics ? metrics_reply(xs) : queues_reply(xs));
            },
            fail, atom::list::value);
          return;
        }
        case op::get_queue:
          ask<queue_info>(
            self, until, reg, [=](queue_info& x) { r.respond(queue_reply(x)); },
            fail, atom::stats::value, call.queue);
          return;
        case op::put_queue:
          // The registry changes the attributes the PUT names, in one step.
          ask<queue_actor>(
            self, until, reg,
            [=](queue_actor&) {
              if (!r.awaited())
                return;
              ask<queue_info>(
                self, until, self->state.cfg.registry,
                [=](queue_info& x) { r.respond(queue_reply(x)); }, fail,
                atom::stats::value, call.queue);
            },
            fail, atom::put::value, call.queue, call.attributes,
            call.attribute_fields);
          return;
        case op::delete_queue:
          self->state.queues.erase(call.queue);
          ask<bool>(
            self, until, reg,
            [=](bool) { r.respond(deleted_reply(call.queue)); }, fail,
            atom::remove::value, call.queue);
          return;
        case op::redrive:
          ask<uint64_t>(
            self, until, reg,
            [=](uint64_t n) { r.respond(count_reply("redriven", n)); },
            fail, atom::redrive::value, call.queue);
          return;
        default: {
          auto create = call.kind == op::enqueue
                        || call.kind == op::enqueue_compat;
          auto name = call.queue;
          with_queue(self, name, create, r, until,
                     [=](const queue_actor& q) mutable {
                       on_queue(self, call, r, until, q);
                     });
        }
      }
    },
    [=](atom::tick) {
      sweep(self);
      self->delayed_send(self, sweep_interval, atom::tick::value);
    },
    [=](atom::stats) { return self->state.waiting.size(); },
  };
}

/// The supervisor's state: the bridges it watches, by slot.
struct supervisor_state {
  static constexpr const char* name = "actormq.http.bridges";
  std::vector<caf::actor> bridges;
};

/// Watches the bridges and replaces any that ends.
caf::behavior supervisor(caf::stateful_actor<supervisor_state>* self,
                         std::shared_ptr<shared_state> st, bridge_config cfg,
                         std::vector<caf::actor> bridges) {
  for (auto& b : bridges)
    self->monitor(b);
  self->state.bridges = std::move(bridges);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& xs = self->state.bridges;
    for (size_t slot = 0; slot < xs.size(); ++slot) {
      if (xs[slot].address() != dm.source)
        continue;
      log::error("bridge " + std::to_string(slot) + " ended ("
                 + self->system().render(dm.reason)
                 + "); a new one takes its place");
      xs[slot] = self->spawn(bridge, cfg);
      self->monitor(xs[slot]);
      st->set_bridge(slot, xs[slot]);
    }
  });
  return {
    [=](atom::list) { return self->state.bridges; },
  };
}

} // namespace

caf::timespan backstop(const api_call& call, caf::timespan actor_timeout,
                       caf::timespan receive_margin) {
  if (call.kind != op::receive)
    return actor_timeout;
  // A receive that names no wait waits as long as its queue says.
  auto wait = call.wait < caf::timespan{0} ? caf::timespan{max_receive_wait}
                                           : call.wait;
  return wait + receive_margin;
}

caf::actor spawn_bridges(caf::actor_system& sys,
                         std::shared_ptr<shared_state> st,
                         bridge_config cfg, size_t count) {
  // The bridges serve from the start, before their supervisor runs.
  std::vector<caf::actor> bridges;
  for (size_t i = 0; i < count; ++i) {
    bridges.push_back(sys.spawn(bridge, cfg));
    st->set_bridge(i, bridges.back());
  }
  return sys.spawn(supervisor, std::move(st), std::move(cfg),
                   std::move(bridges));
}

} // namespace actormq::http::detail
