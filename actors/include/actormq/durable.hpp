#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "actormq/registry_actor.hpp"
#include "actormq/storage_actor.hpp"
#include "actormq/store.hpp"

/// A durable node in one call: the store, what it held, the storage actor
/// and the registry on it, wired as the `actormq` binary wires them.
namespace actormq {

/// What start_durable() needs.
struct durable_options {
  /// The store's directory (created if missing).
  std::string data_dir = "./data";
  /// A store to use instead of opening `data_dir` (an application's own,
  /// or a test's); may be null.
  std::shared_ptr<store> db;
  /// When a write counts as done.
  fsync_mode fsync = fsync_mode::always;
  /// Time between syncs with fsync_mode::interval.
  caf::timespan fsync_interval = std::chrono::milliseconds{100};
  /// While writes fail (a full disk), how often the store is tried again.
  caf::timespan probe_interval = std::chrono::seconds{1};
  /// The registry's settings (defaults, memory bound); start_durable()
  /// fills in its storage, id source and recovered state.
  registry_config registry;
  /// Called once, on the thread that ends it, with the reason if the
  /// storage actor or the registry ends with a failure (see planned_exit).
  /// Neither can be restarted in place (the storage actor's in-flight
  /// writes and their waiters are gone; a new registry would meet the old
  /// one's queues): the process should exit and start again. May be empty.
  std::function<void(const caf::error&)> on_failure;
};

/// The actors of a durable node.
struct durable_node {
  /// Writes every change; runs on a thread of its own.
  storage_actor storage;
  /// Owns the queues; they write through `storage`.
  registry_actor registry;
  /// False while writes to the store fail (what /healthz reports).
  std::shared_ptr<std::atomic<bool>> healthy;
};

/// Opens the store in `opts.data_dir` (or takes `opts.db`), reads it back
/// (logging what came back), creates the id source, spawns the storage
/// actor detached and the registry on it, and watches both
/// (`opts.on_failure`). If the store cannot be opened or read, logs
/// why (naming the directory and the cause), spawns nothing and returns a
/// `caf::sec::runtime_error` that holds the same text.
caf::expected<durable_node> start_durable(caf::actor_system& sys,
                                          durable_options opts);

/// Ends a durable node: the registry and its queues exit, everything
/// written so far is synced (10 s at most; a failure is logged), then the
/// storage actor exits; returns once it has, and the store is closed.
void stop_durable(caf::actor_system& sys, const durable_node& node);

/// Logs and calls `on_failure` with the reason when the actor `x` (named
/// `what` in the log) ends with a failure (see planned_exit); runs on the
/// thread that ends it, at once if it has already ended.
void watch(const caf::strong_actor_ptr& x, std::string what,
           std::function<void(const caf::error&)> on_failure);

} // namespace actormq
