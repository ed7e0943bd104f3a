#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <caf/typed_response_promise.hpp>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/recovery.hpp"

namespace actormq {

/// Settings of a queue actor.
struct queue_config {
  /// The queue's name, as dead letters name their source.
  std::string name = "default";
  /// How the queue behaves.
  queue_attributes attributes;
  /// Shared with the queues it exchanges dead letters with; own if null.
  message_queue::id_source ids;
  /// Shared memory bound; none if null.
  std::shared_ptr<memory_budget> budget;
  /// Where dead letters go; if invalid (or gone), they are dropped (and
  /// counted). The queue does not keep it alive.
  dead_letter_sink dead_letters;
  /// Where changes are written; if invalid, the queue lives in memory only.
  storage_actor storage;
  /// Names this queue's records in the store (see records.hpp).
  uint64_t incarnation = 0;
  /// What the store held of this queue at start; may be null.
  std::shared_ptr<recovered_queue> restored;
};

/// The state of a queue actor: the `message_queue` it guards and the
/// receivers that wait for messages (long polling).
struct queue_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.queue";

  /// A receive that waits for a message.
  struct waiter {
    caf::typed_response_promise<std::vector<lease>> promise;
    uint32_t max;
    caf::timespan visibility;
    time_point deadline;
  };

  /// The queue's name.
  std::string queue_name;
  /// The messages and their rules.
  message_queue queue;
  /// Where dead letters go; weak, so a registry and its queues do not keep
  /// each other alive.
  caf::actor_addr dead_letters;
  /// Receivers waiting for messages, first come first served.
  std::deque<waiter> waiters;
  /// When the next tick is scheduled, if one is.
  std::optional<time_point> wake_at;
  /// Where changes are written; invalid: memory only.
  storage_actor storage;
  /// Names this queue's records in the store.
  uint64_t incarnation = 0;
  /// Converts times for the store.
  clock_map clock;
  /// Waiters given messages whose leases are not yet written.
  std::vector<std::pair<caf::typed_response_promise<std::vector<lease>>,
                        std::vector<lease>>>
    served;
  /// Store keys to remove in the next write: dead letters that had
  /// nowhere to go.
  std::vector<std::string> stale_keys;
  /// Called with the outcome of a write (none: written).
  using on_written = std::function<void(const caf::error&)>;
  /// Who waits for the changes not yet sent to the store.
  std::vector<on_written> on_write;
  /// Who waits for each write in flight, oldest first.
  std::deque<std::vector<on_written>> in_flight;
  /// A commit to self is on its way (see commit in queue_actor.cpp).
  bool commit_sent = false;
};

/// The behaviour of a queue actor. Spawn it with
/// `sys.spawn(actormq::queue, actormq::queue_config{})`.
queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, queue_config cfg);

} // namespace actormq
