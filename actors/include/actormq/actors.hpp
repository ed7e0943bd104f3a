#pragma once

#include <cstdint>

#include <caf/optional.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_actor.hpp>

#include "actormq/atoms.hpp"
#include "actormq/message.hpp"

/// Every typed actor interface of ActorMQ.
namespace actormq {

/// A FIFO queue of messages; its rules live in `message_queue`.
using queue_actor = caf::typed_actor<
  // Appends a message and replies with its id, or with
  // ec::message_required / ec::message_too_large.
  caf::replies_to<atom::enqueue, payload>::with<uint64_t>,
  // Removes and replies with the oldest message; none if the queue is empty.
  caf::replies_to<atom::dequeue>::with<caf::optional<message>>,
  // Replies with the queue's counters.
  caf::replies_to<atom::stats>::with<queue_stats>>;

/// Takes one message from a queue every interval and hands it to a handler.
using consumer_actor = caf::typed_actor<
  // Wakes the consumer: it asks its queue for a message and re-arms itself.
  caf::reacts_to<atom::tick>>;

} // namespace actormq
