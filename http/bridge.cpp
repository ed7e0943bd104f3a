#include "bridge.hpp"

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
  registry_actor registry;
  std::unordered_map<std::string, queue_actor> queues;
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// Answers with the problem `err` stands for; one no table knows is a bug,
/// logged here and a 500 to the client.
void answer_error(bridge_ptr self, const responder& r, const caf::error& err) {
  auto p = to_problem(err);
  if (p == problem::internal_error)
    log::error("a request failed: " + self->system().render(err));
  r.conn->respond(problem_reply(p));
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
  self->request(self->state.registry, caf::infinite, atom::get::value, name,
                create)
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
            r.conn->respond(enqueue_reply(kind, true, ids));
          }, fail);
      } else {
        self->request(q, caf::infinite, atom::enqueue::value,
                      std::move(call.messages.front()))
          .then([=](uint64_t id) {
            r.conn->respond(enqueue_reply(kind, false, {id}));
          }, fail);
      }
      return;
    }
    case op::receive:
      self->request(q, caf::infinite, atom::receive::value, call.max,
                    call.visibility, call.wait)
        .then([=](std::vector<lease>& xs) {
          if (r.conn->respond(leases_reply(xs, self->clock().now())))
            return;
          // The client left while waiting: its messages go back at once.
          std::vector<std::string> receipts;
          for (auto& x : xs)
            receipts.push_back(std::move(x.receipt));
          if (!receipts.empty())
            self
              ->request(q, caf::infinite, atom::release::value,
                        std::move(receipts), caf::timespan{0})
              .then([](std::vector<caf::error>&) {},
                    [](caf::error&) {
                      // The lease runs out instead.
                    });
        }, fail);
      return;
    case op::ack:
      self->request(q, caf::infinite, atom::ack::value, call.receipts)
        .then([=](std::vector<caf::error>& results) {
          r.conn->respond(receipts_reply(call.receipts, results));
        }, fail);
      return;
    case op::release:
    case op::extend: {
      auto arg = call.kind == op::release ? call.delay : call.visibility;
      auto handle = [=](std::vector<caf::error>& results) {
        r.conn->respond(receipts_reply(call.receipts, results));
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
          r.conn->respond(messages_reply(xs, self->clock().now()));
        }, fail);
      return;
    case op::purge:
      self->request(q, caf::infinite, atom::purge::value)
        .then([=](uint64_t n) { r.conn->respond(count_reply("purged", n)); },
              fail);
      return;
    default:
      log::error("a queue call of no known kind reached the bridge");
      r.conn->respond(problem_reply(problem::internal_error));
  }
}

/// The bridge's behaviour (see spawn_bridge()).
caf::behavior bridge(caf::stateful_actor<bridge_state>* self,
                     registry_actor registry) {
  self->state.registry = std::move(registry);
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
      auto& reg = self->state.registry;
      switch (call.kind) {
        case op::list_queues:
        case op::metrics: {
          auto metrics = call.kind == op::metrics;
          self->request(reg, caf::infinite, atom::list::value)
            .then([=](std::vector<queue_info>& xs) {
              r.conn->respond(metrics ? metrics_reply(xs) : queues_reply(xs));
            }, fail);
          return;
        }
        case op::get_queue:
          self->request(reg, caf::infinite, atom::stats::value, call.queue)
            .then([=](queue_info& x) { r.conn->respond(queue_reply(x)); },
                  fail);
          return;
        case op::put_queue: {
          // A PUT changes the attributes it names: start from the queue's
          // (or, for a new queue, the defaults).
          auto put = [=](queue_attributes base) {
            apply_attributes(call, base);
            auto& reg = self->state.registry;
            self->request(reg, caf::infinite, atom::put::value, call.queue,
                          std::move(base))
              .then([=](queue_actor&) {
                self->request(self->state.registry, caf::infinite,
                              atom::stats::value, call.queue)
                  .then([=](queue_info& x) { r.conn->respond(queue_reply(x)); },
                        fail);
              }, fail);
          };
          self->request(reg, caf::infinite, atom::stats::value, call.queue)
            .then([=](queue_info& x) { put(std::move(x.attributes)); },
                  [=](caf::error&) { put(call.attributes); });
          return;
        }
        case op::delete_queue:
          self->state.queues.erase(call.queue);
          self->request(reg, caf::infinite, atom::remove::value, call.queue)
            .then([=](bool) { r.conn->respond(deleted_reply(call.queue)); },
                  fail);
          return;
        case op::redrive:
          self->request(reg, caf::infinite, atom::redrive::value, call.queue)
            .then([=](uint64_t n) {
              r.conn->respond(count_reply("redriven", n));
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

} // namespace

caf::actor spawn_bridge(caf::actor_system& sys, registry_actor registry) {
  return sys.spawn(bridge, std::move(registry));
}

} // namespace actormq::http::detail
