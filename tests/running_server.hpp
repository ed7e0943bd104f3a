#pragma once

// The real frontend on port 0 (real sockets) in front of a real registry,
// for the HTTP tests.

#include <functional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actormq/registry_actor.hpp"
#include "actormq/storage_actor.hpp"
#include "server.hpp"

namespace test {

class running_server {
public:
  /// Changes a test's server settings before the start.
  using tuning = std::function<void(actormq::http::server_config&)>;

  /// Spawns what the server takes for its registry (a stand-in, for tests
  /// of actors that fail).
  using registry_factory = std::function<actormq::registry_actor(
    caf::actor_system&, actormq::registry_config)>;

  /// Starts a server whose queues accept messages up to `max_message_bytes`
  /// and hold at most `max_memory_bytes` together (0: no bound), and write
  /// to `db` if given; `tune` changes its settings; `make_registry`, if
  /// given, replaces the real registry.
  explicit running_server(size_t max_message_bytes,
                          uint64_t max_memory_bytes = 0,
                          std::shared_ptr<actormq::store> db = nullptr,
                          const tuning& tune = nullptr,
                          const registry_factory& make_registry = nullptr)
    : storage(spawn_storage(sys, std::move(db), healthy)),
      reg(spawn_registry(sys,
                         make_registry_config(max_message_bytes,
                                              max_memory_bytes, storage),
                         make_registry)),
      srv(sys, reg,
          make_server_config(max_message_bytes, storage, healthy, tune)) {
    srv.start();
  }

  ~running_server() {
    srv.stop();
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
    if (storage)
      caf::anon_send_exit(storage, caf::exit_reason::user_shutdown);
  }

  uint16_t port() {
    return srv.port();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<std::atomic<bool>> healthy
    = std::make_shared<std::atomic<bool>>(true);
  actormq::storage_actor storage;
  actormq::registry_actor reg;
  actormq::http::server srv;

private:
  static actormq::registry_actor
  spawn_registry(caf::actor_system& sys, actormq::registry_config c,
                 const registry_factory& make_registry) {
    if (make_registry)
      return make_registry(sys, std::move(c));
    return sys.spawn(actormq::registry, std::move(c));
  }

  static actormq::storage_actor
  spawn_storage(caf::actor_system& sys, std::shared_ptr<actormq::store> db,
                std::shared_ptr<std::atomic<bool>> healthy) {
    if (!db)
      return {};
    actormq::storage_config c;
    c.db = std::move(db);
    c.healthy = std::move(healthy);
    c.probe_interval = std::chrono::milliseconds{20};
    return sys.spawn<caf::detached>(actormq::storage, c);
  }

  static actormq::registry_config
  make_registry_config(size_t max_message_bytes, uint64_t max_memory_bytes,
                       actormq::storage_actor storage) {
    actormq::registry_config c;
    c.defaults.max_message_bytes = max_message_bytes;
    c.max_memory_bytes = max_memory_bytes;
    c.storage = std::move(storage);
    return c;
  }

  static actormq::http::server_config
  make_server_config(size_t max_message_bytes,
                     const actormq::storage_actor& storage,
                     std::shared_ptr<std::atomic<bool>> healthy,
                     const tuning& tune) {
    actormq::http::server_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.max_message_bytes = max_message_bytes;
    c.max_header_bytes = 2048;
    c.defaults.max_message_bytes = max_message_bytes;
    if (storage)
      c.storage_healthy = std::move(healthy);
    if (tune)
      tune(c);
    return c;
  }
};

} // namespace test
