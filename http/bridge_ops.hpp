#pragma once

#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

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
  bridge_config cfg;
  std::unordered_map<std::string, queue_actor> queues;
  /// When the bridge stops waiting for each answer it waits on, by the
  /// answer's message id.
  std::unordered_map<caf::message_id, caf::actor_clock::time_point> waiting;
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
