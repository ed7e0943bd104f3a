#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/recovery.hpp"

namespace actormq {

/// Settings of a registry actor.
struct registry_config {
  /// Attributes of queues created without any (e.g. by an enqueue).
  queue_attributes defaults;
  /// Bound on what all queues hold together, in bytes; 0: none.
  uint64_t max_memory_bytes = 0;
  /// Where queues write their changes; if invalid, all lives in memory.
  storage_actor storage;
  /// The id source for all queues (its own if null); with a store, the one
  /// the storage actor records.
  message_queue::id_source ids;
  /// What the store held at start: the registry spawns these queues and
  /// drops its reference. May be null.
  std::shared_ptr<recovered_state> recovered;
};

/// Returns whether `name` is 1-80 of [A-Za-z0-9_.-].
bool valid_queue_name(std::string_view name);

/// The state of a registry actor.
struct registry_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.registry";

  /// One queue it owns.
  struct entry {
    queue_actor handle;
    queue_attributes attributes;
    /// Names its records in the store.
    uint64_t incarnation = 0;
    /// Its queue record is written; until then, requests for it wait.
    bool saved = true;
    /// What waits for the queue record: called with the write's outcome.
    std::vector<std::function<void(const caf::error&)>> waiting;
  };

  /// The queues, by name.
  std::map<std::string, entry> queues;
  /// Attributes of queues created implicitly.
  queue_attributes defaults;
  /// Shared by all queues: ids unique across them.
  message_queue::id_source ids;
  /// Shared by all queues: one memory bound.
  std::shared_ptr<memory_budget> budget;
  /// Where changes are written; invalid: memory only.
  storage_actor storage;
};

/// The behaviour of a registry actor. Spawn it with
/// `sys.spawn(actormq::registry, actormq::registry_config{})`; it ends its
/// queues when it exits.
registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self,
         registry_config cfg);

} // namespace actormq
