#pragma once

#include <cstddef>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"

namespace actormq {

/// Settings of a queue actor.
struct queue_config {
  /// The largest message body the queue accepts, in bytes.
  size_t max_message_bytes = message_queue::default_max_message_bytes;
};

/// The state of a queue actor: the `message_queue` it guards.
struct queue_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.queue";
  /// The messages and their rules.
  message_queue queue;
};

/// The behaviour of a queue actor. Spawn it with
/// `sys.spawn(actormq::queue, actormq::queue_config{})`.
queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, queue_config cfg);

} // namespace actormq
