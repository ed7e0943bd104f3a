#pragma once

// The real frontend on port 0 (real sockets) in front of a real registry,
// for the HTTP tests.

#include <fstream>
#include <functional>
#include <string>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers' runtime has it; GCC ships no header that declares it.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include <catch2/catch.hpp>

#include "actormq/durable.hpp"
#include "actormq/registry_actor.hpp"
#include "server.hpp"

namespace test {

/// This process's resident memory in bytes (a running_server runs in it).
inline size_t resident_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoul(line.substr(6)) * 1024;
  return 0;
}

/// Bytes this process's heap hands out now: what malloc gave and was not
/// freed (memory a sanitizer holds back after a free does not count).
inline size_t heap_bytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  auto m = ::mallinfo2();
  return m.uordblks + m.hblkhd;
#endif
}

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
    : node(start(sys, std::move(db),
                 make_registry_config(max_message_bytes, max_memory_bytes),
                 make_registry)),
      reg(node.registry),
      srv(sys, reg, make_server_config(max_message_bytes, node, tune)) {
    srv.start();
  }

  ~running_server() {
    srv.stop();
    if (node.storage)
      actormq::stop_durable(sys, node);
    else
      caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  }

  uint16_t port() {
    return srv.port();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  /// The registry, and with a store the storage actor, as the binary
  /// starts them (start_durable).
  actormq::durable_node node;
  actormq::registry_actor reg;
  actormq::http::server srv;

private:
  static actormq::durable_node start(caf::actor_system& sys,
                                     std::shared_ptr<actormq::store> db,
                                     actormq::registry_config c,
                                     const registry_factory& make_registry) {
    actormq::durable_node result;
    if (db) {
      actormq::durable_options opts;
      opts.db = std::move(db);
      opts.registry = std::move(c);
      opts.probe_interval = std::chrono::milliseconds{20};
      auto started = actormq::start_durable(sys, std::move(opts));
      REQUIRE(started);
      return std::move(*started);
    }
    result.registry = make_registry ? make_registry(sys, std::move(c))
                                    : sys.spawn(actormq::registry,
                                                std::move(c));
    return result;
  }

  static actormq::registry_config
  make_registry_config(size_t max_message_bytes, uint64_t max_memory_bytes) {
    actormq::registry_config c;
    c.defaults.max_message_bytes = max_message_bytes;
    c.max_memory_bytes = max_memory_bytes;
    return c;
  }

  static actormq::http::server_config
  make_server_config(size_t max_message_bytes,
                     const actormq::durable_node& node, const tuning& tune) {
    actormq::http::server_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.max_message_bytes = max_message_bytes;
    c.max_header_bytes = 2048;
    c.defaults.max_message_bytes = max_message_bytes;
    c.storage_healthy = node.healthy;
    if (tune)
      tune(c);
    return c;
  }
};

} // namespace test
