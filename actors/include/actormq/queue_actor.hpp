#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/recovery.hpp"
#include "actormq/write_pipeline.hpp"

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
  /// Converts times for the store; the queues of a registry share one, so
  /// a message moved between them keeps its exact enqueue time. Read at
  /// spawn if not set.
  std::optional<clock_map> clock;
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
    /// Its entry in `deadlines`.
    std::multimap<time_point, uint64_t>::iterator deadline;
  };

  /// The queue's name.
  std::string queue_name;
  /// The messages and their rules.
  message_queue queue;
  /// Where dead letters go; weak, so a registry and its queues do not keep
  /// each other alive.
  caf::actor_addr dead_letters;
  /// Receivers waiting for messages, by arrival: first come first served.
  std::map<uint64_t, waiter> waiters;
  /// When each waiter's wait ends, soonest first.
  std::multimap<time_point, uint64_t> deadlines;
  /// Numbers waiters in arrival order.
  uint64_t next_waiter = 0;
  /// The one pending wake-up, if wake_pending: a request timeout, which
  /// CAF's clock can cancel (a delayed message cannot be taken back), so
  /// an earlier deadline moves it instead of adding a timer.
  caf::message_id wake_id;
  time_point wake_at;
  bool wake_pending = false;
  /// Set by a drain: receives no longer wait (the service is stopping).
  bool draining = false;
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
  /// Dead letters to send on once the write that holds them here is sent
  /// (so the store has them before their new queue writes them).
  std::vector<moved_message> outgoing;
  /// Store keys to remove in the next write: dead letters that had
  /// nowhere to go.
  std::vector<std::string> stale_keys;
  /// Who waits for which write.
  write_pipeline writes;
  /// A commit to self is on its way (see commit in queue_actor.cpp).
  bool commit_sent = false;
};

/// The behaviour of a queue actor. Spawn it with
/// `sys.spawn(actormq::queue, actormq::queue_config{})`.
queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, queue_config cfg);

} // namespace actormq
