#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "actormq/errors.hpp"
#include "actormq/log.hpp"
#include "bridge.hpp"

/// The steps a bridge takes, shared by the native API's calls (bridge.cpp)
/// and SQS's (sqs_actions.cpp).
namespace actormq::http::detail {

/// How often a bridge looks for requests it has waited on too long.
constexpr auto sweep_interval = std::chrono::seconds{1};

/// The state of a bridge: where queues are, the handles it has seen, and
/// the requests it waits on.
struct bridge_state {
  static constexpr const char* name = "actormq.http.bridge";

  /// An answer the bridge waits on.
  struct wait {
    /// When it stops waiting.
    caf::actor_clock::time_point until;
    /// The node it waits on, if another (a forwarded request); else none.
    caf::node_id peer;
  };

  /// Single enqueues for one queue on another node, gathered while the
  /// bridge's mailbox holds more: sent as one message (see gather()).
  struct gathered {
    queue_actor queue;
    std::vector<new_message> messages;
    /// Who waits for each, and with which reply.
    std::vector<std::pair<responder, op>> waiting;
    caf::actor_clock::time_point until;
  };

  bridge_config cfg;
  std::unordered_map<std::string, queue_actor> queues;
  /// What gather() holds, by queue; sent on the next atom::flush.
  std::map<caf::actor_addr, gathered> gathering;
  /// The answers it waits on, by message id.
  std::unordered_map<caf::message_id, wait> waiting;
  /// Forwarded requests on their way to each other node.
  std::map<caf::node_id, uint64_t> forwarded;

  /// The answer `id` arrived (or failed): no longer waited on.
  void settle(caf::message_id id) {
    auto i = waiting.find(id);
    if (i == waiting.end())
      return;
    if (i->second.peer) {
      auto j = forwarded.find(i->second.peer);
      if (j != forwarded.end() && --j->second == 0)
        forwarded.erase(j);
    }
    waiting.erase(i);
  }
};

using bridge_ptr = caf::stateful_actor<bridge_state>*;

/// Answers with the problem `err` stands for; an error no table knows is a
/// bug, logged here and a 500.
inline void answer_error(bridge_ptr self, const responder& r, const caf::error& err) {
  auto p = to_problem(err);
  if (p == problem::internal_error)
    log::error("a request failed: " + self->system().render(err));
  r.respond(problem_reply(p));
}

/// When a bridge stops waiting for the answers to a call that it began
/// at `now` and the connection gives up on after `wait` (its backstop).
inline caf::actor_clock::time_point deadline(caf::actor_clock::time_point now,
                                      caf::timespan wait) {
  return now + wait + sweep_interval;
}

/// Sends `xs` to `dest` and runs `on_answer` with its answer of type
/// `Answer`, or `on_error` with an error. Local requests wait without a
/// CAF timeout (one per request costs a wake-up of CAF's clock thread, ~8%
/// of the enqueue rate): the connection's own timer answers the client
/// (see connection::dispatch), and the bridge's sweep fails a request
/// still waited on at `until` with `sec::request_timeout` (within a second
/// after it), so an actor that never answers cannot make the bridge hold
/// its handlers for ever. The steps of one call share one `until`. A
/// request to another node (forwarded) carries `until` as a CAF timeout
/// too, fails at once when that node's link is lost (see peer_lost()),
/// and waits with at most cfg.max_forwarded others to the same node:
/// past that, it fails with ec::node_busy without being sent.
template <class Answer, class Dest, class OnAnswer, class OnError,
          class... Ts>
void ask(bridge_ptr self, caf::actor_clock::time_point until,
         const Dest& dest, OnAnswer on_answer, OnError on_error,
         Ts&&... xs) {
  auto& st = self->state;
  caf::node_id peer;
  caf::duration timeout{caf::infinite};
  if (dest && dest.node() != self->node()) {
    auto& n = st.forwarded[dest.node()];
    if (n >= st.cfg.max_forwarded) {
      caf::error err = make_error(ec::node_busy);
      on_error(err);
      return;
    }
    ++n;
    peer = dest.node();
    timeout = caf::duration{std::max(
      std::chrono::duration_cast<caf::timespan>(until - self->clock().now()),
      caf::timespan{std::chrono::milliseconds{1}})};
  }
  auto h = self->request(dest, timeout, std::forward<Ts>(xs)...);
  auto id = h.id();
  st.waiting.emplace(id, bridge_state::wait{until, peer});
  h.then(
    [=](Answer& x) mutable {
      self->state.settle(id);
      on_answer(x);
    },
    [=](caf::error& err) mutable {
      self->state.settle(id);
      on_error(err);
    });
}

/// Runs `f` with the named queue (from the cache, or asked of the registry,
/// which creates it when `create` is set), by `until`; `on_error` with the
/// registry's error. A call whose client was answered meanwhile (its
/// backstop fired) goes no further: a client told to retry must not find
/// its first try done after that answer.
template <class F, class OnError>
void with_queue(bridge_ptr self, const std::string& name, bool create,
                const responder& r, caf::actor_clock::time_point until, F f,
                OnError on_error) {
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
    on_error, atom::get::value, name, create);
}

/// Gives the leases `xs` of `q` back at once: their receive's client left
/// before the answer.
inline void give_back(bridge_ptr self, const queue_actor& q,
                      std::vector<lease>& xs) {
  std::vector<std::string> receipts;
  for (auto& x : xs)
    receipts.push_back(std::move(x.receipt));
  if (receipts.empty())
    return;
  ask<std::vector<caf::error>>(
    self, deadline(self->clock().now(), self->state.cfg.actor_timeout), q,
    [](std::vector<caf::error>&) {},
    [](caf::error&) {
      // The lease runs out instead.
    },
    atom::give_back::value, std::move(receipts));
}

} // namespace actormq::http::detail
