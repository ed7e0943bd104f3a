#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/timespan.hpp>

#include "actormq/actors.hpp"

namespace actormq {

/// Called by a consumer with each message it leased, or once with nothing
/// when the queue had none. Runs inside the consumer actor. Returning
/// `caf::none` acks the message; returning an error or throwing releases it
/// with a backoff (and counts toward the queue's max_deliveries).
using message_handler
  = std::function<caf::error(const std::optional<message>&)>;

/// Returns the line the original service logged for `x`:
/// `Processing message: <m>` (text as is, JSON compact; past 1 KiB cut,
/// with its size) or `No messages to process`. The log escapes control
/// characters, so a body never forges a line.
std::string describe(const std::optional<message>& x);

/// Returns the handler of the original service: it logs describe(x).
message_handler log_handler();

/// Settings of a consumer actor.
struct consumer_config {
  /// Time between two receives.
  caf::timespan interval = std::chrono::seconds{5};
  /// What to do with each message; log_handler() if empty.
  message_handler handler;
  /// Messages leased per receive.
  uint32_t batch = 1;
  /// Lease time per receive; 0: the queue's visibility.
  caf::timespan visibility = caf::timespan{0};
  /// Delay before a failed message returns; doubles with each further
  /// failure of the same message, up to `max_backoff`.
  caf::timespan backoff = std::chrono::seconds{1};
  /// Upper bound of the backoff.
  caf::timespan max_backoff = std::chrono::minutes{5};
  /// How long an answer of the queue (or the registry) is waited for; past
  /// it the request fails with `sec::request_timeout`, logged, and the
  /// next interval tries again.
  caf::timespan timeout = std::chrono::seconds{30};
};

/// Returns the release delay after the `receive_count`-th failed delivery.
caf::timespan backoff_for(const consumer_config& cfg, uint32_t receive_count);

/// The state of a consumer actor.
struct consumer_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.consumer";
  /// Where messages come from.
  queue_actor source;
  /// The settings the consumer was spawned with.
  consumer_config cfg;
};

/// The behaviour of a consumer actor: every `cfg.interval` (first after one
/// interval) it leases up to `cfg.batch` messages from `source`, hands each
/// to the handler, acks what succeeded and releases what failed. Runs until
/// it is told to exit. Spawn it with
/// `sys.spawn(actormq::consumer, queue, actormq::consumer_config{})`.
consumer_actor::behavior_type
consumer(consumer_actor::stateful_pointer<consumer_state> self,
         queue_actor source, consumer_config cfg);

/// Keeps a number of consumers of one queue running.
using consumer_pool_actor = caf::typed_actor<
  // Replies with the consumers running now.
  caf::replies_to<atom::list>::with<std::vector<consumer_actor>>,
  // Internal: looks its queue up again (registry_consumer_pool).
  caf::reacts_to<atom::tick>>;

/// Returns whether an actor that ended for `reason` was told to (or ended
/// by itself without an error): anything else is a failure.
bool planned_exit(const caf::error& reason);

/// The state of a consumer pool.
struct consumer_pool_state {
  consumer_pool_state() = default;
  consumer_pool_state(const consumer_pool_state&) = delete;
  consumer_pool_state& operator=(const consumer_pool_state&) = delete;
  /// Ends the consumers still running: a pool that ends in any way (an
  /// exit message, an exception, `exit_reason::kill`, which no exit handler
  /// sees) leaves none behind.
  ~consumer_pool_state();
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.consumer_pool";
  /// What every consumer is spawned with.
  queue_actor source;
  consumer_config cfg;
  /// How many consumers it keeps.
  uint32_t count = 0;
  /// Where it looks its queue up (registry_consumer_pool); else invalid.
  registry_actor registry;
  /// The queue's name in `registry`.
  std::string queue_name;
  /// Whether a look-up creates the queue: at the start, not after a
  /// delete (the pool then waits for a producer to create it again).
  bool create = true;
  /// The consumers running now, each monitored.
  std::vector<consumer_actor> consumers;
};

/// The behaviour of a consumer pool, a small supervisor: it spawns `count`
/// consumers of `source` with `cfg` and monitors them. A consumer that ends
/// with a failure (see planned_exit) is logged and replaced by a new one;
/// one that was told to exit is not. Exiting the pool ends its consumers
/// with the same reason; a pool that ends otherwise ends them too. Spawn it with
/// `sys.spawn(actormq::consumer_pool, queue, actormq::consumer_config{}, n)`.
consumer_pool_actor::behavior_type
consumer_pool(consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
              queue_actor source, consumer_config cfg, uint32_t count);

/// A consumer pool of the queue named `queue` in `registry` (created if
/// need be). It watches the queue too: when the registry restarts it after
/// a failure, the pool looks it up again and its consumers serve the new
/// one; when it is deleted, its consumers end and the pool looks for it
/// every second, without creating it, until it exists again. Spawn it with `sys.spawn(actormq::registry_consumer_pool,
/// registry, "default", actormq::consumer_config{}, n)`.
consumer_pool_actor::behavior_type registry_consumer_pool(
  consumer_pool_actor::stateful_pointer<consumer_pool_state> self,
  registry_actor registry, std::string queue, consumer_config cfg,
  uint32_t count);

} // namespace actormq
