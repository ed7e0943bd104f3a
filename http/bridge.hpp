#pragma once

#include <cstdint>
#include <memory>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/timespan.hpp>

#include "actormq/actors.hpp"
#include "actormq/cluster.hpp"
#include "api.hpp"
#include "sqs.hpp"

namespace actormq::http::detail {

class connection;
struct sqs_state;
struct shared_state;

/// A request handed to a bridge, shared by the copies of its responder:
/// when the last copy goes (after the answer, or unanswered with an actor
/// that ended), the request stops counting in flight.
class dispatched_request {
public:
  /// Request number `number` of `conn`, counted in flight.
  dispatched_request(std::shared_ptr<connection> conn, uint64_t number);

  ~dispatched_request();

  dispatched_request(const dispatched_request&) = delete;
  dispatched_request& operator=(const dispatched_request&) = delete;

  /// The connection that waits for the answer.
  const std::shared_ptr<connection> conn;
  /// Which of its requests it is.
  const uint64_t number;
};

/// Where an actor's answer to a request goes; travels in actor messages.
struct responder {
  /// The request the answer is for.
  std::shared_ptr<const dispatched_request> request;

  /// Answers the request; false if the answer went nowhere (the client is
  /// gone, or the connection answered it already, e.g. with its own
  /// backstop).
  bool respond(const reply& r) const;

  /// Whether the request still waits for its answer: false once it was
  /// answered (e.g. by the connection's backstop).
  bool awaited() const;
};

/// What every bridge needs.
struct bridge_config {
  /// Where queues are: this node's registry, or its cluster actor.
  registry_actor registry;
  /// This node's own queues (for /metrics); the same as `registry` on a
  /// node alone.
  registry_actor local;
  /// The cluster actor (for the links' state in /metrics); invalid on a
  /// node alone.
  node_actor cluster;
  /// Requests one bridge forwards to one other node at most at a time.
  uint64_t max_forwarded = 1024;
  /// A request's backstop (see backstop()).
  caf::timespan actor_timeout;
  /// A receive's backstop beyond its wait.
  caf::timespan receive_margin;
  /// What the SQS API keeps beside the queues (see sqs_actions.hpp).
  std::shared_ptr<sqs_state> sqs;
};

/// How long an actor's answer to `call` is waited for: `actor_timeout`, or
/// for a receive its long-poll wait plus `receive_margin`. Past it, the
/// connection answers 503; within two seconds after, its bridge stops
/// waiting.
caf::timespan backstop(const api_call& call, caf::timespan actor_timeout,
                       caf::timespan receive_margin);
caf::timespan backstop(const sqs::call& call, caf::timespan actor_timeout,
                       caf::timespan receive_margin);

/// Spawns the frontend's bridges, `count` of them, in `st->bridges`, and
/// the actor that supervises them: a bridge that ends is logged and
/// replaced in its slot. A bridge takes an `api_call` and the `responder`
/// waiting for it, asks the registry or a queue, and answers; one per HTTP
/// thread, so a Pistache thread only ever does a non-blocking send. A
/// bridge answers `atom::stats` with the number of answers it waits for.
/// The supervisor answers `atom::list` with the bridges serving now. End the
/// supervisor before the bridges: else it replaces them.
caf::actor spawn_bridges(caf::actor_system& sys,
                         std::shared_ptr<shared_state> st,
                         bridge_config cfg, size_t count);

} // namespace actormq::http::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::detail::responder)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::api_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actormq::http::sqs::call)
