#pragma once

// The real frontend on port 0 (real sockets) in front of a real registry,
// for the HTTP tests.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "actormq/registry_actor.hpp"
#include "server.hpp"

namespace test {

class running_server {
public:
  /// Starts a server whose queues accept messages up to `max_message_bytes`
  /// and hold at most `max_memory_bytes` together (0: no bound).
  explicit running_server(size_t max_message_bytes,
                          uint64_t max_memory_bytes = 0)
    : reg(sys.spawn(actormq::registry,
                    make_registry_config(max_message_bytes, max_memory_bytes))),
      srv(sys, reg, make_server_config(max_message_bytes)) {
    srv.start();
  }

  ~running_server() {
    srv.stop();
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  }

  uint16_t port() {
    return srv.port();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  actormq::registry_actor reg;
  actormq::http::server srv;

private:
  static actormq::registry_config
  make_registry_config(size_t max_message_bytes, uint64_t max_memory_bytes) {
    actormq::registry_config c;
    c.defaults.max_message_bytes = max_message_bytes;
    c.max_memory_bytes = max_memory_bytes;
    return c;
  }

  static actormq::http::server_config
  make_server_config(size_t max_message_bytes) {
    actormq::http::server_config c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.max_message_bytes = max_message_bytes;
    c.max_header_bytes = 2048;
    c.defaults.max_message_bytes = max_message_bytes;
    return c;
  }
};

} // namespace test
