#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "actormq/actors.hpp"
#include "actormq/cluster.hpp"
#include "sqs.hpp"
#include "tls.hpp"

namespace actormq::http {

namespace auth {
class token_set;
} // namespace auth

/// Settings of the HTTP frontend.
struct server_config {
  /// Address to listen on.
  std::string host = "0.0.0.0";
  /// Port to listen on; 0 picks a free one (see server::port()).
  uint16_t port = 8006;
  /// Threads serving connections.
  size_t threads = 2;
  /// Largest message body accepted; sizes the request buffer.
  size_t max_message_bytes = 1024 * 1024;
  /// Largest request line plus headers accepted (else 431).
  size_t max_header_bytes = 16 * 1024;
  /// Time for a request line and headers to arrive (else 408).
  std::chrono::milliseconds header_timeout{10000};
  /// Time for a whole request, body included, to arrive (else 408).
  std::chrono::milliseconds request_timeout{30000};
  /// Time a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{60000};
  /// Time a connection whose replies wait unsent may go without the client
  /// taking a byte of them; then it is reset.
  std::chrono::milliseconds send_timeout{30000};
  /// Connections served at once; more get 503 and are closed.
  size_t max_connections = 10000;
  /// Backstop for an actor's answer to a request: past it, 503.
  std::chrono::milliseconds actor_timeout{30000};
  /// A receive's backstop: its long-poll wait plus this.
  std::chrono::milliseconds receive_margin{5000};
  /// Attributes of queues a PUT leaves out.
  queue_attributes defaults;
  /// False while the store fails: /healthz answers 503. Null: no store.
  std::shared_ptr<const std::atomic<bool>> storage_healthy;
  /// The auth file (--auth-file) that reload() reads again; empty: access
  /// control off.
  std::string auth_file;
  /// The tokens in force from the start, read from `auth_file` by the
  /// caller (who refuses a bad file before anything starts); null: access
  /// control off.
  std::shared_ptr<const auth::token_set> tokens;
  /// Null: the port speaks plain HTTP. Else HTTPS only, with this context
  /// (reload() loads its files again).
  std::shared_ptr<const tls_context> tls;
  /// Where SQS's queue URLs and ARNs point.
  sqs::settings sqs;
  /// In a cluster: this node's own registry (the server's registry is then
  /// the cluster actor); invalid: the same as the server's.
  registry_actor local;
  /// In a cluster: the cluster actor (for /metrics); else invalid.
  node_actor cluster;
  /// Requests forwarded to one other node at most at a time; past it,
  /// 503 with Retry-After.
  uint64_t max_forwarded = 1024;
  /// Called (on an actor's thread) if the actor that replaces the bridges
  /// ends with a failure: from then on a bridge that ends stays gone, and
  /// the requests it would take hang until their backstop. A service
  /// should exit and be restarted. Empty: logged only.
  std::function<void(const caf::error&)> on_failure;
};

/// The REST frontend: Pistache's TCP layer reads requests; each becomes one
/// actor message to the queues' registry or a queue, and each answer or
/// error a JSON response. No Pistache thread ever waits for an actor.
class server {
public:
  /// Prepares a server for the queues of `registry`; nothing listens until
  /// start().
  server(caf::actor_system& sys, registry_actor registry, server_config cfg);

  /// Calls stop().
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds and starts serving in background threads; throws
  /// std::runtime_error with a readable text if the address cannot be bound.
  void start();

  /// Returns the bound port (useful with port 0).
  uint16_t port() const;

  /// Stops listening, closes connections and ends the frontend's actors.
  /// Safe to call more than once.
  void stop();

  /// Reads the server's files again (the auth file, the TLS certificate,
  /// key and client CA): each that is good takes effect for the next
  /// request (TLS: the next connection; open ones keep theirs); a bad one
  /// is refused with a log line, and what was in force stays. Returns
  /// whether all took effect.
  bool reload();

  /// The bridge actors serving requests now, one per HTTP thread (a bridge
  /// that ends is replaced in its slot). Not concurrently with stop().
  std::vector<caf::actor> bridges() const;

  /// The actor that replaces bridges that end (invalid before start() and
  /// after stop()). Like start() and stop(), not for concurrent calls.
  caf::actor bridge_supervisor() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace actormq::http
