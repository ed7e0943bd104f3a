#include "bridge.hpp"

#include <algorithm>
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

/// The state of a bridge: where queues are, and the handles it has seen.
struct bridge_state {
  static constexpr const char* name = "actormq.http.bridge";
  bridge_config cfg;
  std::unordered_map<std::string, queue_actor> queues;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// Answers with the problem `err` stands for; an error no table knows is a
/// bug, logged here and a 500. Requests wait without a CAF timeout (one
/// per request costs a wake-up of CAF's clock thread, ~8% of the enqueue
/// rate): the connection's own timer is the backstop (see dispatch).
void answer_error(bridge_ptr self, const responder& r, const caf::error& err) {
  auto p = to_problem(err);
  if (p == problem::internal_error)
    log::error("a request failed: " + self->system().render(err));
  r.respond(problem_reply(p));
}

/// Runs `f` with the named queue (from the cache, or asked of the registry,
/// which creates it when `create` is set).
template <class F>
void with_queue(bridge_ptr self, const std::string& name, bool create,
                const responder& r, F f) {
  auto& cache = self->state.queues;
  if (auto i = cache.find(name); i != cache.end()) {
    f(i->second);
    return;
  }
  self->request(self->state.cfg.registry, caf::infinite, atom::get::value,
                name, create)
    .then(
      [=](queue_actor& q) mutable {
        self->monitor(q);
        self->state.queues.emplace(name, q);
        f(q);
      },
      [=](caf::error& err) { answer_error(self, r, err); });
}

/// Performs a call on its queue and answers it.
void on_queue(bridge_ptr self, api_call& call, const responder& r,
              const queue_actor& q) {
  auto fail = [=](caf::error& err) { answer_error(self, r, err); };
  switch (call.kind) {
    case op::enqueue_compat:
    case op::enqueue:
    {
      auto kind = call.kind;
      if (call.batch) {
        self->request(q, caf::infinite, atom::enqueue::value,
                      std::move(call.messages))
          .then([=](std::vector<uint64_t>& ids) {
            r.respond(enqueue_reply(kind, true, ids));
          }, fail);
      } else {
        self->request(q, caf::infinite, atom::enqueue::value,
                      std::move(call.messages.front()))
          .then([=](uint64_t id) {
            r.respond(enqueue_reply(kind, false, {id}));
          }, fail);
      }
      return;
    }
    case op::receive:
      self->request(q, caf::infinite, atom::receive::value, call.max, call.visibility,
                    call.wait)
        .then([=](std::vector<lease>& xs) {
          if (r.respond(leases_reply(xs, self->clock().now())))
            return;
          // The client left while waiting: its messages go back at once.
          std::vector<std::string> receipts;
          for (auto& x : xs)
            receipts.push_back(std::move(x.receipt));
          if (!receipts.empty())
            self
              ->request(q, caf::infinite, atom::give_back::value,
                        std::move(receipts))
              .then([](std::vector<caf::error>&) {},
                    [](caf::error&) {
                      // The lease runs out instead.
                    });
        }, fail);
      return;
    case op::ack:
      self->request(q, caf::infinite, atom::ack::value, call.receipts)
        .then([=](std::vector<caf::error>& results) {
          r.respond(receipts_reply(call.receipts, results));
        }, fail);
      return;
    case op::release:
    case op::extend: {
      auto arg = call.kind == op::release ? call.delay : call.visibility;
      auto handle = [=](std::vector<caf::error>& results) {
        r.respond(receipts_reply(call.receipts, results));
      };
      if (call.kind == op::release)
        self->request(q, caf::infinite, atom::release::value, call.receipts,
                      arg).then(handle, fail);
      else
        self->request(q, caf::infinite, atom::extend::value, call.receipts,
                      arg).then(handle, fail);
      return;
    }
    case op::peek:
      self->request(q, caf::infinite, atom::peek::value, call.max)
        .then([=](std::vector<message>& xs) {
          r.respond(messages_reply(xs, self->clock().now()));
        }, fail);
      return;
    case op::purge:
      self->request(q, caf::infinite, atom::purge::value)
        .then([=](uint64_t n) { r.respond(count_reply("purged", n)); },
              fail);
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
  return {
    [=](api_call& call, responder& r) {
      auto fail = [=](caf::error& err) { answer_error(self, r, err); };
      auto& reg = self->state.cfg.registry;
      switch (call.kind) {
        case op::list_queues:
        case op::metrics: {
          auto metrics = call.kind == op::metrics;
          auto visible = std::move(call.visible);
          self->request(reg, caf::infinite, atom::list::value)
            .then([=](std::vector<queue_info>& xs) {
              if (visible)
                xs.erase(std::remove_if(xs.begin(), xs.end(),
                                        [&](const queue_info& x) {
                                          return !visible->may_see(x.name);
                                        }),
                         xs.end());
              r.respond(metrics ? metrics_reply(xs) : queues_reply(xs));
            }, fail);
          return;
        }
        case op::get_queue:
          self->request(reg, caf::infinite, atom::stats::value, call.queue)
            .then([=](queue_info& x) { r.respond(queue_reply(x)); },
                  fail);
          return;
        case op::put_queue:
          // The registry changes the attributes the PUT names, in one step.
          self
            ->request(reg, caf::infinite, atom::put::value, call.queue,
                      call.attributes, call.attribute_fields)
            .then(
              [=](queue_actor&) {
                self->request(self->state.cfg.registry, caf::infinite,
                              atom::stats::value, call.queue)
                  .then([=](queue_info& x) { r.respond(queue_reply(x)); },
                        fail);
              },
              fail);
          return;
        case op::delete_queue:
          self->state.queues.erase(call.queue);
          self->request(reg, caf::infinite, atom::remove::value, call.queue)
            .then([=](bool) { r.respond(deleted_reply(call.queue)); },
                  fail);
          return;
        case op::redrive:
          self->request(reg, caf::infinite, atom::redrive::value, call.queue)
            .then([=](uint64_t n) {
              r.respond(count_reply("redriven", n));
            }, fail);
          return;
        default: {
          auto create = call.kind == op::enqueue
                        || call.kind == op::enqueue_compat;
          auto name = call.queue;
          with_queue(self, name, create, r,
                     [=](const queue_actor& q) mutable {
                       on_queue(self, call, r, q);
                     });
        }
      }
    },
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
