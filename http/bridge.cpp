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
#include "bridge_ops.hpp"
#include "connection.hpp"
#include "sqs_actions.hpp"

namespace actormq::http::detail {

namespace {

/// Fails each request waited on past its time (see ask()), as CAF's clock
/// fails a request with a timeout: an error message with the answer's id.
void sweep(bridge_ptr self) {
  auto now = self->clock().now();
  for (auto& [id, w] : self->state.waiting)
    if (w.until <= now)
      self->eq_impl(id, nullptr, self->context(),
                    caf::make_error(caf::sec::request_timeout));
}

/// Leaves in `xs` the queues that `visible` lets the caller see (all if
/// null).
void keep_visible(const std::shared_ptr<const auth::grants>& visible,
                  std::vector<queue_info>& xs) {
  if (visible)
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [&](const queue_info& x) {
                              return !visible->may_see(x.name);
                            }),
             xs.end());
}

/// The link to node `peer` is lost: each request forwarded to it fails now
/// with ec::node_unreachable (CAF would drop it unanswered).
void peer_lost(bridge_ptr self, const caf::node_id& peer) {
  auto& st = self->state;
  for (auto& [id, w] : st.waiting)
    if (w.peer == peer)
      self->eq_impl(id, nullptr, self->context(),
                    make_error(ec::node_unreachable));
  for (auto i = st.gathering.begin(); i != st.gathering.end();) {
    if (i->second.queue.node() != peer) {
      ++i;
      continue;
    }
    for (auto& w : i->second.waiting)
      answer_error(self, w.first, make_error(ec::node_unreachable));
    i = st.gathering.erase(i);
  }
}

/// Holds a single enqueue `x` for the queue `q` on another node: the
/// enqueues that reach the bridge before its next atom::flush go to `q`
/// in one message (one BASP round trip for many; BASP's cost is per
/// message), each still enqueued, and answered, on its own.
void gather(bridge_ptr self, const queue_actor& q, op kind, new_message x,
            const responder& r, caf::actor_clock::time_point until) {
  auto& st = self->state;
  if (st.gathering.empty())
    self->send(self, atom::flush::value);
  auto& g = st.gathering[q.address()];
  if (g.messages.empty()) {
    g.queue = q;
    g.until = until;
  }
  g.messages.push_back(std::move(x));
  g.waiting.emplace_back(r, kind);
}

/// Sends what gather() holds.
void flush(bridge_ptr self) {
  for (auto& [addr, g] : std::exchange(self->state.gathering, {})) {
    // A client answered meanwhile (its backstop) was told to retry: its
    // message goes no further.
    std::vector<std::pair<responder, op>> waiting;
    std::vector<new_message> messages;
    for (size_t i = 0; i < g.waiting.size(); ++i)
      if (g.waiting[i].first.awaited()) {
        waiting.push_back(std::move(g.waiting[i]));
        messages.push_back(std::move(g.messages[i]));
      }
    if (waiting.empty())
      continue;
    ask<enqueue_results>(
      self, g.until, g.queue,
      [=](enqueue_results& got) {
        for (size_t i = 0; i < waiting.size(); ++i) {
          auto& [r, kind] = waiting[i];
          if (i >= got.errors.size() || got.errors[i])
            answer_error(self, r,
                         i < got.errors.size()
                           ? got.errors[i]
                           : caf::make_error(caf::sec::invalid_argument));
          else
            r.respond(enqueue_reply(kind, false, {got.ids[i]}));
        }
      },
      [=](caf::error& err) {
        for (auto& w : waiting)
          answer_error(self, w.first, err);
      },
      atom::enqueue::value, std::move(messages), atom::each::value);
  }
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
      if (!call.batch && q.node() != self->node())
        gather(self, q, kind, std::move(call.messages.front()), r, until);
      else if (call.batch)
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
          if (!r.respond(leases_reply(xs, self->clock().now())))
            give_back(self, q, xs);
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
    if (dm.reason == caf::exit_reason::remote_link_unreachable)
      peer_lost(self, dm.source.node());
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
          // The whole cluster's.
          ask<std::vector<queue_info>>(
            self, until, reg,
            [=, visible = std::move(call.visible)](
              std::vector<queue_info>& xs) {
              keep_visible(visible, xs);
              r.respond(queues_reply(xs));
            },
            fail, atom::list::value);
          return;
        case op::metrics:
          // This node's own queues, and its links.
          ask<std::vector<queue_info>>(
            self, until, cfg.local,
            [=, visible = std::move(call.visible)](
              std::vector<queue_info>& xs) {
              keep_visible(visible, xs);
              if (!self->state.cfg.cluster) {
                r.respond(metrics_reply(xs, {}));
                return;
              }
              ask<std::vector<link_info>>(
                self, until, self->state.cfg.cluster,
                [=](std::vector<link_info>& links) {
                  r.respond(metrics_reply(xs, links));
                },
                fail, atom::links::value);
            },
            fail, atom::list::value);
          return;
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
          with_queue(
            self, name, create, r, until,
            [=](const queue_actor& q) mutable {
              on_queue(self, call, r, until, q);
            },
            fail);
        }
      }
    },
    [=](sqs::call& call, responder& r) {
      if (!r.awaited())
        return;
      auto& cfg = self->state.cfg;
      auto until = deadline(self->clock().now(),
                            backstop(call, cfg.actor_timeout,
                                     cfg.receive_margin));
      serve_sqs(self, call, r, until);
    },
    [=](atom::flush) { flush(self); },
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

namespace {

/// The backstop of a receive that waits `wait` (negative: as long as its
/// queue says, at most max_receive_wait).
caf::timespan receive_backstop(caf::timespan wait,
                               caf::timespan receive_margin) {
  if (wait < caf::timespan{0})
    wait = max_receive_wait;
  return wait + receive_margin;
}

} // namespace

caf::timespan backstop(const api_call& call, caf::timespan actor_timeout,
                       caf::timespan receive_margin) {
  if (call.kind != op::receive)
    return actor_timeout;
  return receive_backstop(call.wait, receive_margin);
}

caf::timespan backstop(const sqs::call& call, caf::timespan actor_timeout,
                       caf::timespan receive_margin) {
  if (call.act != sqs::action::receive_message)
    return actor_timeout;
  return receive_backstop(call.wait, receive_margin);
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
