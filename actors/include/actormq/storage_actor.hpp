#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actormq/actors.hpp"
#include "actormq/message_queue.hpp"
#include "actormq/store.hpp"

namespace actormq {

/// When a write counts as done.
enum class fsync_mode : uint8_t {
  /// Once it is synced to disk (the default): a crash of the machine loses
  /// nothing that was answered.
  always,
  /// Once the store has it; a sync follows within the interval. A crash of
  /// the process loses nothing; a crash of the machine may lose the last
  /// interval.
  interval,
};

/// Settings of a storage actor.
struct storage_config {
  /// The store; the storage actor owns it from now on.
  std::shared_ptr<store> db;
  fsync_mode mode = fsync_mode::always;
  /// Time between syncs with fsync_mode::interval.
  caf::timespan sync_interval = std::chrono::milliseconds{100};
  /// Time between probes of a failing store.
  caf::timespan probe_interval = std::chrono::seconds{1};
  /// The id source of the queues: each write records how far it got, so
  /// ids stay unique after a restart.
  message_queue::id_source ids;
  /// False while the store fails (read by /healthz); may be null.
  std::shared_ptr<std::atomic<bool>> healthy;
};

/// The state of a storage actor.
struct storage_state {
  /// Shown as the actor's name.
  static constexpr const char* name = "actormq.storage";

  /// Changes waiting for the next write, and who waits for them.
  store_batch pending;
  std::vector<caf::typed_response_promise<atom::ok>> waiting;
  /// Callers of flush, answered after the next sync.
  std::vector<caf::typed_response_promise<atom::ok>> flushing;
  /// A commit to self is on its way (see commit_later in
  /// storage_actor.cpp).
  bool commit_sent = false;
  /// Writes since the last sync (fsync_mode::interval).
  bool unsynced = false;
  /// A sync is due (fsync_mode::interval).
  bool sync_due = false;
  /// The next write goes ahead even if empty: it probes a failing store.
  bool probe = false;
  /// A tick is scheduled.
  bool timer_armed = false;
  /// The id mark last written.
  uint64_t id_mark = 0;
  storage_config cfg;
};

/// The behaviour of a storage actor. It calls the store, which blocks on
/// the disk: spawn it on a thread of its own with
/// `sys.spawn<caf::detached>(actormq::storage, cfg)`, so that no scheduler
/// thread ever waits for the disk. (Tests on CAF's deterministic scheduler
/// spawn it without `detached`, on a store that never blocks.)
storage_actor::behavior_type
storage(storage_actor::stateful_pointer<storage_state> self,
        storage_config cfg);

} // namespace actormq
