#pragma once

#include <functional>
#include <vector>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <caf/actor_clock.hpp>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/promise_book.hpp"
#include "actormq/queue_actor.hpp"
#include "actormq/recovery.hpp"
#include "actormq/write_pipeline.hpp"

namespace actormq {

/// Time a queue on another node has to take moved messages.
constexpr auto remote_move_timeout = std::chrono::seconds{10};

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
  /// The node it runs on, shown as the owner of its queues
  /// (queue_info::node); empty: none.
  std::string node;
};

/// The state of a registry actor. Each handler is one call of a method
/// here; the multi-step protocols (create then write, list fan-out,
/// redrive, restart from the store) are these methods.
struct registry_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.registry";

  /// Called once with the outcome of a write (none: written).
  using callback = write_pipeline::callback;

  /// One queue it owns.
  struct entry {
    queue_actor handle;
    queue_attributes attributes;
    /// What the queue itself costs (memory_budget::per_queue), given back
    /// with the entry.
    budget_share share;
    /// Names its records in the store.
    uint64_t incarnation = 0;
    /// Its queue record is written and its actor runs; until then,
    /// requests for it wait.
    bool ready = true;
    /// What waits until it is ready: called with the outcome.
    std::vector<callback> waiting;
    /// Unexpected ends since `restarts_since`; past a few within a
    /// minute, it stays unavailable for the rest of that minute.
    int restarts = 0;
    caf::actor_clock::time_point restarts_since;
    /// It ended and could not be brought back (yet): requests get 503 at
    /// once; a request from `next_try` on tries again (a read-back scans
    /// the store on its thread: once a second at most).
    bool failed = false;
    caf::actor_clock::time_point next_try;
  };

  /// A queue being deleted: its records go once its actor has ended (so
  /// no write of its own can follow the delete).
  struct deletion {
    std::string name;
    uint64_t incarnation = 0;
    callback done;
  };

  /// The actor.
  registry_actor::pointer self = nullptr;
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
  /// Who waits for which of its own writes.
  write_pipeline writes;
  /// Queues being deleted, by actor.
  std::map<caf::actor_addr, deletion> deleting;
  /// Promises whose answer waits on other actors (list, stats, moves):
  /// end() answers them, so none is dropped.
  promise_book promises;
  /// Where dead letters and redrives find queues (a cluster's); invalid:
  /// in this registry.
  queue_locator router;
  /// Shown as the owner of its queues (queue_info::node).
  std::string node;
  /// Moves (dead letters, redrives) on their way out of each queue, by
  /// name: until they are written at their destination, the store holds
  /// them in the queue they left.
  std::map<std::string, size_t> moving;
  /// What waits for a queue's moves to end (see when_settled).
  std::map<std::string, std::vector<std::function<void()>>> settled;
  /// Converts times for the store, for all its queues.
  clock_map clock;
  /// Set by drain(): queues spawned from then on (created, restarted) are
  /// drained too.
  bool draining = false;

  /// Spawns the queues the store held.
  void start(recovered_state& recovered);

  /// The named queue, once ready; created with the defaults if `create`.
  caf::result<queue_actor> get(const std::string& name, bool create);

  /// Creates a queue or changes the attributes `fields` names (see
  /// patch_attributes), as one step: concurrent PUTs both apply.
  caf::result<queue_actor> put(const std::string& name,
                               const queue_attributes& values,
                               uint32_t fields);

  /// Every queue with its counters (asks each queue).
  caf::result<std::vector<queue_info>> list();

  /// One queue with its counters.
  caf::result<queue_info> stats(const std::string& name);

  /// Deletes a queue and its records; its waiting requests get
  /// ec::unknown_queue.
  caf::result<bool> remove(const std::string& name);

  /// Moves the dead letters of `name` home, once the moves are written.
  caf::result<uint64_t> redrive(const std::string& name);

  /// Takes dead letters of `source` to its dead-letter queue.
  caf::result<uint64_t> adopt(const std::string& source,
                              std::vector<moved_message>& xs);

  /// Stops long polls in every queue, now and spawned later (the service
  /// is stopping).
  void drain();

  /// A queue ended unexpectedly: it is re-created from the store with its
  /// messages (at most a few times).
  void queue_down(const caf::down_msg& msg);

  /// The registry ends for `reason`: its queues end with it and every
  /// request it holds is answered.
  void end(const caf::error& reason);

  /// Returns the named queue, creating it with `attrs` if it does not
  /// exist; a new one is ready once its record is written.
  entry& obtain(const std::string& name, const queue_attributes& attrs);

  /// Calls `f` with the outcome once `e` is ready (at once if it is).
  void when_ready(entry& e, callback f);

  /// Writes `ops`, then calls `done` with the outcome (at once without a
  /// store).
  void write(store_batch ops, callback done);

  /// The record of a new queue was written (or not: then it is gone).
  void record_saved(const std::string& name, uint64_t incarnation,
                    const caf::error& err);

  /// Runs `f` once no move out of `name` is on its way: its records are
  /// then what it holds (a delete may remove them, a restart read them).
  void when_settled(const std::string& name, std::function<void()> f);

  /// A move out of `name` ended (written or not).
  void moved_out(const std::string& name);

  /// Reads the records of the queue `name` and spawns it on them.
  void restart(const std::string& name);

  /// Writes the removal of a deleted queue's records, then calls `done`.
  void erase_records(const std::string& name, uint64_t incarnation,
                     callback done);

  /// Spawns and watches the actor of `name`.
  queue_actor spawn_queue(const std::string& name, queue_config cfg);

  /// Hands `xs` to the queue `dest` (created if need be; found through
  /// `router` if set) as messages from `source` (empty: coming home);
  /// calls `done` with how many it took once they are written, or with the
  /// error.
  void move_to(const std::string& dest, std::string source,
               std::vector<moved_message> xs,
               std::function<void(caf::expected<uint64_t>)> done);

  /// Gives the messages of a redrive that could not reach their queue
  /// `home` back to the dead-letter queue `dlq`, as its dead letters of
  /// `home` again.
  void give_back(const std::string& dlq, const std::string& home,
                 std::vector<moved_message> xs);

  /// Hands `xs` to the queue `q`. On another node (another store), their
  /// records here go once `q` has written them: a failure between the two
  /// writes leaves a message in both places (at-least-once).
  void hand_over(const queue_actor& q, std::string source,
                 std::vector<moved_message> xs,
                 std::function<void(caf::expected<uint64_t>)> done);
};

/// The behaviour of a registry actor. Spawn it with
/// `sys.spawn(actormq::registry, actormq::registry_config{})`; it ends its
/// queues when it exits.
registry_actor::behavior_type
registry(registry_actor::stateful_pointer<registry_state> self,
         registry_config cfg);

} // namespace actormq
