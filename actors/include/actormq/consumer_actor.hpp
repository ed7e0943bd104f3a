#pragma once

#include <functional>
#include <optional>
#include <string>

#include <caf/timespan.hpp>

#include "actormq/actors.hpp"

namespace actormq {

/// Called by a consumer once per interval with the message it took, or with
/// nothing when the queue was empty. Runs inside the consumer actor: it may
/// block that actor, never the others. An exception it throws is logged.
using message_handler = std::function<void(const std::optional<message>&)>;

/// Returns the line the original service logged for `x`:
/// `Processing message: <m>` (text as is, JSON compact) or
/// `No messages to process`.
std::string describe(const std::optional<message>& x);

/// Returns the handler of the original service: it logs describe(x).
message_handler log_handler();

/// Settings of a consumer actor.
struct consumer_config {
  /// Time between two requests for a message.
  caf::timespan interval = std::chrono::seconds{5};
  /// What to do with each message; log_handler() if empty.
  message_handler handler;
};

/// The state of a consumer actor.
struct consumer_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.consumer";
  /// Where messages come from.
  queue_actor source;
  /// The settings the consumer was spawned with.
  consumer_config cfg;
};

/// The behaviour of a consumer actor: it asks `source` for one message per
/// `cfg.interval` (first after one interval) until it is told to exit. Spawn
/// it with `sys.spawn(actormq::consumer, queue, actormq::consumer_config{})`.
consumer_actor::behavior_type
consumer(consumer_actor::stateful_pointer<consumer_state> self,
         queue_actor source, consumer_config cfg);

} // namespace actormq
